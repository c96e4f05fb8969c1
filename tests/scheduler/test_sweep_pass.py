"""The safety sweep re-plans only what needs it, and still rescues every run nothing else
moves (ADR 0043): a run is left out only when its step would change nothing, and a busy run
that a lost wake-up left behind is reached by the full pass within its bound.

Runs on SQLite and, when configured, on PostgreSQL. No sleeps: the sweeps are called.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from pinflow.executors.local import LocalExecutor
from pinflow.lifecycle import sweep_rules
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.scheduler.safety import SafetyNet
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine._new_runs import start_queued_runs
from pinflow.services.engine._run_timeouts import fail_timed_out_runs
from pinflow.services.engine._scheduling import advance_runs
from pinflow.services.engine._sweep import stale_runs, sweep_pass
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance
from pinflow.testing import make_spec

# ``a`` and ``b`` are roots, ``c`` waits for ``b``: a run stays busy while ``a`` runs.
FORK = {"a": [], "b": [], "c": ["b"]}
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def runs_of(db: Database, graph: dict[str, list[str]], count: int, **kwargs: Any) -> list[int]:
    spec = make_spec("swept", graph, max_active_runs=16, **kwargs)
    register_snapshot(db, spec, b"", actor="alice")
    pks = [trigger_run(db, dag_id=spec.dag_id, actor="alice").id for _ in range(count)]
    start_queued_runs(db)  # running, every task instance still ``none``
    return pks


def set_states(db: Database, run_pk: int, **states: TaskState) -> None:
    with db.transaction() as s:
        for task_id, state in states.items():
            s.execute(
                update(TaskInstance)
                .where(TaskInstance.run_pk == run_pk, TaskInstance.task_id == task_id)
                .values(state=state.value)
            )


def state_of(db: Database, run_pk: int, task_id: str) -> TaskState:
    with db.read() as s:
        stmt = select(TaskInstance.state).where(
            TaskInstance.run_pk == run_pk, TaskInstance.task_id == task_id
        )
        return TaskState(s.scalars(stmt).one())


def run_state(db: Database, run_pk: int) -> RunState:
    with db.read() as s:
        return RunState(s.scalars(select(DagRun.state).where(DagRun.id == run_pk)).one())


def stale(db: Database, run_pks: list[int], due_by: datetime | None = None) -> set[int]:
    with db.read() as s:
        digests = {pk: d for pk, d in s.execute(select(DagRun.id, DagRun.snapshot_digest))}
        runs = [(pk, digests[pk]) for pk in run_pks]
        return set(stale_runs(s, runs, due_by or datetime.now(UTC)))


def safety_net(db: Database, tmp_path: Path) -> SafetyNet:
    settings = Settings(home=tmp_path)
    executor = LocalExecutor.from_settings(settings)  # not started: it runs nothing here
    return SafetyNet(db, executor, settings, hostname="h", pid=1, note_retry=lambda: None)


def test_a_run_left_out_is_one_its_step_would_not_have_moved(db: Database) -> None:
    """``needs_step`` against ``advance_run`` itself, run by run: every run it leaves out
    changes nothing when advanced, and every run that a step moves is named."""
    pks = runs_of(db, FORK, 7, default_args={"retries": 2, "retry_delay": 3600})
    fresh, busy, stranded, ended, failed, retry_due, retry_later = pks
    set_states(db, busy, a=TaskState.RUNNING, b=TaskState.RUNNING)
    # b ended but nothing planned c (a lost wake-up), while a still runs: not quiet
    set_states(db, stranded, a=TaskState.RUNNING, b=TaskState.SUCCESS)
    set_states(db, ended, a=TaskState.SUCCESS, b=TaskState.SUCCESS, c=TaskState.SUCCESS)
    set_states(db, failed, a=TaskState.RUNNING, b=TaskState.FAILED)  # c: upstream_failed
    for pk, at in ((retry_due, LONG_AGO), (retry_later, datetime.now(UTC) + timedelta(hours=1))):
        set_states(db, pk, a=TaskState.SUCCESS, b=TaskState.UP_FOR_RETRY)
        with db.transaction() as s:
            s.execute(
                update(TaskInstance)
                .where(TaskInstance.run_pk == pk, TaskInstance.task_id == "b")
                .values(next_try_at=at)
            )
    named = stale(db, pks)
    assert named == {fresh, stranded, ended, failed, retry_due}
    for pk in pks:
        changed = advance_runs(db, [pk], now=None, retries_due_by=None)
        assert (changed > 0) == (pk in named), pk
    assert state_of(db, stranded, "c") == TaskState.SCHEDULED
    assert state_of(db, failed, "c") == TaskState.UPSTREAM_FAILED
    assert state_of(db, retry_due, "b") == TaskState.SCHEDULED
    assert state_of(db, retry_later, "b") == TaskState.UP_FOR_RETRY
    assert run_state(db, ended) == RunState.SUCCESS
    still_running = [pk for pk in pks if pk != ended]
    assert stale(db, still_running) == set()  # each step done: nothing left to move


def test_a_quiet_run_is_rescued_by_the_next_sweep(db: Database, tmp_path: Path) -> None:
    """No task instance live (no report will come): the very next sweep moves it."""
    [done, stranded] = runs_of(db, FORK, 2)
    set_states(db, done, a=TaskState.SUCCESS, b=TaskState.SUCCESS, c=TaskState.SUCCESS)
    set_states(db, stranded, a=TaskState.SUCCESS, b=TaskState.SUCCESS)
    safety_net(db, tmp_path).replan()
    assert run_state(db, done) == RunState.SUCCESS
    assert state_of(db, stranded, "c") == TaskState.SCHEDULED


@pytest.mark.parametrize("count", [1, 7])
def test_a_busy_run_left_behind_is_reached_by_the_full_pass_within_its_bound(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    """``a`` runs in every run (no run is quiet); in one, ``b`` ended without ``c`` being
    planned. Slices of 2 runs (a pass over 7 runs takes 4 sweeps): the stranded run, the
    newest, is re-planned by the sweep whose slice reaches it, at the latest after
    ``full_pass_sweeps`` sweeps, and each of the other runs is left alone."""
    monkeypatch.setattr(sweep_rules, "FULL_PASS_EVERY", 2)
    monkeypatch.setattr(sweep_rules, "FULL_PASS_MOST", 2)
    pks = runs_of(db, FORK, count)
    for pk in pks:
        set_states(db, pk, a=TaskState.RUNNING, b=TaskState.RUNNING)
    stranded = pks[-1]
    set_states(db, stranded, b=TaskState.SUCCESS)
    safety = safety_net(db, tmp_path)
    bound = sweep_rules.full_pass_sweeps(count)
    assert bound == (count + 1) // 2
    for _ in range(bound - 1):
        safety.replan()
        assert state_of(db, stranded, "c") == TaskState.NONE
    safety.replan()
    assert state_of(db, stranded, "c") == TaskState.SCHEDULED
    # the next pass begins again with the oldest run
    set_states(db, pks[0], b=TaskState.SUCCESS)
    safety.replan()
    assert state_of(db, pks[0], "c") == TaskState.SCHEDULED


def test_a_pass_begins_at_most_once_per_full_pass_every_sweeps(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One busy run (a pass of one sweep) is not re-planned at every sweep: a 10,000-task run
    would be read whole each time (ADR 0046). The quiet runs still are, at every sweep."""
    monkeypatch.setattr(sweep_rules, "FULL_PASS_EVERY", 3)
    [busy, quiet] = runs_of(db, FORK, 2)
    set_states(db, busy, a=TaskState.RUNNING, b=TaskState.RUNNING)
    set_states(db, quiet, a=TaskState.SUCCESS, b=TaskState.SUCCESS, c=TaskState.SUCCESS)
    safety = safety_net(db, tmp_path)
    safety.replan()  # the first sweep begins a pass: both runs are re-planned
    assert run_state(db, quiet) == RunState.SUCCESS
    set_states(db, busy, b=TaskState.SUCCESS)  # c left unplanned: only a pass will see it
    [stranded_quiet] = runs_of(db, FORK, 1)
    set_states(db, stranded_quiet, a=TaskState.SUCCESS, b=TaskState.SUCCESS)
    safety.replan()
    assert state_of(db, stranded_quiet, "c") == TaskState.SCHEDULED  # quiet: every sweep
    assert state_of(db, busy, "c") == TaskState.NONE
    safety.replan()
    assert state_of(db, busy, "c") == TaskState.NONE
    safety.replan()  # three sweeps after the last pass began: the next one begins
    assert state_of(db, busy, "c") == TaskState.SCHEDULED


def test_runs_started_during_a_full_pass_are_in_it(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep_rules, "FULL_PASS_EVERY", 1)
    monkeypatch.setattr(sweep_rules, "FULL_PASS_MOST", 1)
    pks = runs_of(db, FORK, 2)
    for pk in pks:
        set_states(db, pk, a=TaskState.RUNNING, b=TaskState.RUNNING)
    safety = safety_net(db, tmp_path)
    safety.replan()  # a pass of slices of 1 begins: the first run
    [later] = runs_of(db, FORK, 1)
    set_states(db, later, a=TaskState.RUNNING, b=TaskState.SUCCESS)
    safety.replan()  # the second
    assert state_of(db, later, "c") == TaskState.NONE
    safety.replan()  # the one that started meanwhile, in the same pass
    assert state_of(db, later, "c") == TaskState.SCHEDULED


def test_the_pacing_rule() -> None:
    every, most = sweep_rules.FULL_PASS_EVERY, sweep_rules.FULL_PASS_MOST
    assert sweep_rules.full_pass_slice(0) == 1
    assert sweep_rules.full_pass_slice(100) == 4  # 100 runs over 30 sweeps
    assert sweep_rules.full_pass_slice(100_000) == most  # bounded however many run
    for running in (1, 29, 30, 100, 1_000, every * most, 10_000):
        sweeps = sweep_rules.full_pass_sweeps(running)
        assert sweeps <= max(every, -(-running // most))
        assert sweeps * sweep_rules.full_pass_slice(running) >= running


def test_a_sweep_pass_reports_its_slice(db: Database) -> None:
    pks = runs_of(db, FORK, 3)
    first = sweep_pass(db, after=0, limit=2)
    assert (first.sliced, first.more) == (tuple(pks[:2]), True)
    last = sweep_pass(db, after=pks[1], limit=2)
    assert (last.sliced, last.more) == ((pks[2],), False)


def test_timeouts_are_read_per_snapshot_and_every_run_past_its_own_is_failed(
    db: Database,
) -> None:
    """The timeout pass reads a row per snapshot, then the runs of a snapshot whose earliest
    start is past the timeout: of those only the ones past their own are failed, and the
    next deadline is the earliest of the others (of every snapshot)."""
    now = datetime.now(UTC)
    timed = runs_of(db, {"a": []}, 3, dagrun_timeout=600)
    [untimed] = runs_of(db, FORK, 1)  # another snapshot, no timeout
    starts = [now - timedelta(hours=2), now - timedelta(seconds=60), now - timedelta(seconds=30)]
    with db.transaction() as s:
        for pk, start in zip([*timed, untimed], [*starts, now - timedelta(days=9)], strict=True):
            s.execute(update(DagRun).where(DagRun.id == pk).values(start_date=start))
    swept = fail_timed_out_runs(db, now=now)
    assert swept.failed_runs == (timed[0],)
    assert swept.next_deadline == starts[1] + timedelta(seconds=600)
    assert [run_state(db, pk) for pk in (*timed, untimed)] == [
        RunState.FAILED,
        RunState.RUNNING,
        RunState.RUNNING,
        RunState.RUNNING,
    ]
    assert fail_timed_out_runs(db, now=now).failed_runs == ()
