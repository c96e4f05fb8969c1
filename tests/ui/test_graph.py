"""The task graph's layout: layers by longest path, edges pointing right, drafts drawable."""

from __future__ import annotations

from pinflow.ui.graph import GAP_X, NODE_W, PAD, layout


def columns(upstream: dict[str, list[str]]) -> dict[str, int]:
    return {n.task_id: (n.x - PAD) // (NODE_W + GAP_X) for n in layout(upstream).nodes}


def test_a_task_sits_one_column_right_of_its_furthest_upstream() -> None:
    graph = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["a", "d"]}
    assert columns(graph) == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 3}


def test_every_edge_points_right() -> None:
    graph = {"a": [], "b": ["a"], "c": ["b", "a"], "z": []}
    drawn = layout(graph)
    assert len(drawn.edges) == 3
    for edge in drawn.edges:
        start, end = edge.path.split(" C")[0], edge.path.split(" ")[-1]
        assert int(start[1:].split(",")[0]) < int(end.split(",")[0])


def test_siblings_are_ordered_by_their_upstreams_rows() -> None:
    graph = {"a": [], "b": [], "from_b": ["b"], "from_a": ["a"]}
    rows = {n.task_id: n.y for n in layout(graph).nodes}
    assert rows["from_a"] < rows["from_b"]


def test_a_cycle_and_an_unknown_upstream_still_draw() -> None:
    drawn = layout({"a": [], "b": ["a", "c"], "c": ["b"], "d": ["ghost"], "e": ["e"]})
    stuck = {n.task_id for n in drawn.nodes if n.in_cycle}
    assert stuck == {"b", "c"}
    assert columns({"a": [], "d": ["ghost"], "e": ["e"]}) == {"a": 0, "d": 0, "e": 0}
    assert len(drawn.nodes) == 5


def test_states_colour_the_nodes_and_long_ids_are_shortened() -> None:
    long_id = "x" * 40
    drawn = layout({"a": [], long_id: ["a"]}, {"a": "failed"})
    assert [n.state for n in drawn.nodes] == ["failed", None]
    assert drawn.nodes[1].label.endswith("…")
    assert len(drawn.nodes[1].label) < len(long_id)


def test_an_empty_graph_has_a_minimal_size() -> None:
    drawn = layout({})
    assert drawn.nodes == ()
    assert (drawn.width, drawn.height) == (2 * PAD, 2 * PAD)
