"""The task graph as a picture: layers computed server-side, drawn as a small SVG.

Layering is by longest path from the roots (a task sits one column right of its furthest
upstream), so every edge points right. Within a column, tasks are ordered by the mean row of
their upstreams (one barycentre pass: fewer crossings, stable for the same spec). A draft may
have a cycle or a dependency on a task that does not exist yet: tasks on a cycle are put in a
last column and marked, unknown upstreams are ignored, so the designer can always draw.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pinflow.spec.models import DagSpec

NODE_W = 168
NODE_H = 34
GAP_X = 56
GAP_Y = 14
PAD = 8
_LABEL_CHARS = 22


@dataclass(frozen=True)
class Node:
    task_id: str
    label: str
    x: int
    y: int
    state: str | None
    in_cycle: bool


@dataclass(frozen=True)
class EdgeLine:
    path: str  # an SVG path ("M … C …")


@dataclass(frozen=True)
class Layout:
    nodes: tuple[Node, ...]
    edges: tuple[EdgeLine, ...]
    width: int
    height: int
    node_w: int = NODE_W
    node_h: int = NODE_H


def _layers(upstream: Mapping[str, Sequence[str]]) -> tuple[dict[str, int], set[str]]:
    """Kahn's algorithm with longest-path depths; what is left over is on (or behind) a cycle."""
    ups = {
        t: [u for u in dict.fromkeys(us) if u in upstream and u != t] for t, us in upstream.items()
    }
    pending = {t: len(us) for t, us in ups.items()}
    children: dict[str, list[str]] = {t: [] for t in ups}
    for task, us in ups.items():
        for u in us:
            children[u].append(task)
    depth = {t: 0 for t, n in pending.items() if n == 0}
    queue = deque(depth)
    while queue:
        task = queue.popleft()
        for child in children[task]:
            depth[child] = max(depth.get(child, 0), depth[task] + 1)
            pending[child] -= 1
            if pending[child] == 0:
                queue.append(child)
    stuck = {t for t in ups if t not in depth or pending[t] > 0}
    last = max(depth.values(), default=-1) + 1
    for task in stuck:
        depth[task] = last
    return depth, stuck


def _rows(depth: Mapping[str, int], upstream: Mapping[str, Sequence[str]]) -> dict[str, int]:
    order = {t: i for i, t in enumerate(upstream)}
    rows: dict[str, int] = {}
    for layer in range(max(depth.values(), default=-1) + 1):
        members = [t for t in upstream if depth[t] == layer]

        def key(task: str) -> tuple[float, int]:
            placed = [rows[u] for u in upstream[task] if u in rows]
            centre = sum(placed) / len(placed) if placed else float(order[task])
            return centre, order[task]

        for row, task in enumerate(sorted(members, key=key)):
            rows[task] = row
    return rows


def _label(task_id: str) -> str:
    return task_id if len(task_id) <= _LABEL_CHARS else task_id[: _LABEL_CHARS - 1] + "…"


def _edge(x1: int, y1: int, x2: int, y2: int) -> EdgeLine:
    mid = (x1 + x2) // 2
    return EdgeLine(f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}")


def layout(
    upstream: Mapping[str, Sequence[str]], states: Mapping[str, str] | None = None
) -> Layout:
    """Positions for ``{task_id: upstream ids}`` (declaration order), coloured by ``states``."""
    depth, stuck = _layers(upstream)
    rows = _rows(depth, upstream)
    pos = {t: (PAD + depth[t] * (NODE_W + GAP_X), PAD + rows[t] * (NODE_H + GAP_Y)) for t in rows}
    nodes = tuple(Node(t, _label(t), *pos[t], (states or {}).get(t), t in stuck) for t in upstream)
    edges = tuple(
        _edge(pos[u][0] + NODE_W, pos[u][1] + NODE_H // 2, pos[t][0], pos[t][1] + NODE_H // 2)
        for t, ups in upstream.items()
        for u in dict.fromkeys(ups)
        if u in pos and u != t
    )
    columns = max(depth.values(), default=-1) + 1
    height_rows = max(rows.values(), default=-1) + 1
    return Layout(
        nodes=nodes,
        edges=edges,
        width=max(2 * PAD + columns * NODE_W + max(columns - 1, 0) * GAP_X, 2 * PAD),
        height=max(2 * PAD + height_rows * NODE_H + max(height_rows - 1, 0) * GAP_Y, 2 * PAD),
    )


def spec_layout(spec: DagSpec, states: Mapping[str, str] | None = None) -> Layout:
    upstream: dict[str, list[str]] = {}
    for task in spec.tasks:  # a duplicate id (a draft's problem) is drawn once
        upstream.setdefault(task.task_id, []).extend(task.upstream_task_ids)
    return layout(upstream, states)
