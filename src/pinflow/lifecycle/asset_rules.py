"""When an asset-scheduled DAG gets a run: its condition evaluated on the events queued for it.

Airflow's semantics (docs/adr/0037): each asset event of an asset a DAG is scheduled on is
queued for that DAG; the DAG's condition (``all`` of, ``any`` of, nested) holds when the
assets with a queued event satisfy it; then one run is created and *every* event queued for
the DAG is consumed by it (they are its ``triggering_asset_events``), so a producer that
ran three times before the other producer of an ``&`` gives one run, not three.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pinflow.spec.assets import AssetCondition


def condition_holds(condition: AssetCondition, updated: Collection[str]) -> bool:
    """Whether the assets whose uris are in ``updated`` satisfy ``condition``."""
    if condition.asset is not None:
        return condition.asset.uri in updated
    if condition.all is not None:
        return all(condition_holds(operand, updated) for operand in condition.all)
    return any(condition_holds(operand, updated) for operand in condition.any or ())


@dataclass(frozen=True)
class QueuedEvent:
    """One event queued for a consuming DAG: its queue row, and the asset it updated."""

    queue_id: int
    event_id: int
    uri: str


@dataclass(frozen=True)
class AssetRunDecision:
    """``consume``: the queue rows the new run takes (empty: no run yet)."""

    consume: tuple[QueuedEvent, ...]

    @property
    def creates_run(self) -> bool:
        return bool(self.consume)


def decide_asset_run(
    condition: AssetCondition | None, queued: Sequence[QueuedEvent]
) -> AssetRunDecision:
    """A run, consuming every queued event, when ``condition`` holds on them; else none.

    ``condition`` ``None`` (the DAG's current version is no longer scheduled on assets):
    no run; the events stay queued until a version on assets consumes them or the DAG is
    deregistered, as Airflow keeps its queue.
    """
    if condition is None or not queued:
        return AssetRunDecision(())
    if not condition_holds(condition, {event.uri for event in queued}):
        return AssetRunDecision(())
    return AssetRunDecision(tuple(queued))
