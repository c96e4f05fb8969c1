"""A run worth charting, run for real on the store (``run_until_idle``) on a clock that
moves one second per reading, so that its times are known: ``extract`` fails once and is
retried; ``square`` is mapped over extract's three values and its element 1 fails once;
``report`` reduces the squares. Every time the run records (the scheduler's, the starts',
the reports') is a reading of ``Ticker``; only the run id is the wall clock's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pinflow.services.commands import _push as push
from pinflow.services.commands import _runs as runs
from pinflow.services.commands._push import PushMode
from pinflow.services.reads import RunView
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.testing import ExecutionContext, Handler, TaskOutcome, make_spec, run_until_idle

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def charted_spec(dag_id: str = "charted", project: str = "alpha") -> DagSpec:
    return make_spec(
        dag_id,
        {"extract": [], "square": [], "report": []},
        task_fields={
            "extract": {"retries": 1},
            "square": {"expand": {"x": {"task_id": "extract"}}, "retries": 1},
            "report": {"inputs": {"values": {"task_id": "square"}}},
        },
        project=project,
    )


class Ticker:
    """A clock that reads ``start`` first, then one second later at every reading."""

    def __init__(self, start: datetime) -> None:
        self.now = start - timedelta(seconds=1)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def handler(clock: Ticker, slow: int = 0) -> Handler:
    """Try 1 of ``extract`` and of ``square[1]`` fail; everything else succeeds; ``report``
    takes ``slow`` seconds more than the others (the clock moves on while it runs)."""

    def run(ctx: ExecutionContext) -> TaskOutcome:
        first = ctx.try_number == 1
        if ctx.task_id == "extract":
            if first:
                return TaskOutcome(success=False, error="extract: source not ready")
            return TaskOutcome(success=True, value=[1, 2, 3])
        if ctx.task_id == "square" and ctx.map_index == 1 and first:
            return TaskOutcome(success=False, error="square[1]: flaky")
        if ctx.task_id == "report":
            clock.now += timedelta(seconds=slow)
        return TaskOutcome(success=True, value=ctx.map_index)

    return run


def publish_charted(db: Database, dag_id: str = "charted", project: str = "alpha") -> str:
    spec = charted_spec(dag_id, project)
    return push.register_snapshot(db, spec, actor="ci", mode=PushMode.PUBLISH).version.id


def run_charted(db: Database, version_id: str, *, start: datetime = T0, slow: int = 0) -> RunView:
    """One run of the charted DAG, drained to its end on a ``Ticker`` from ``start``: it
    takes 20 s (``report`` 1 s), plus ``slow`` seconds in ``report``."""
    run = runs.trigger_run(db, version_id=version_id, actor="admin")
    clock = Ticker(start)
    run_until_idle(db, handler(clock, slow), clock=clock, ignore_retry_delay=True)
    return run
