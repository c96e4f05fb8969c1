"""The run-level rules of ADR 0038: ``depends_on_past`` and ``dagrun_timeout``, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pinflow.lifecycle.past_rules import past_dependent, waiting_on_past
from pinflow.lifecycle.run_planning import plan_run
from pinflow.lifecycle.states import TaskState
from pinflow.lifecycle.timeout_rules import is_timed_out, run_deadline, timeout_moves
from pinflow.spec.models import DagSpec, ErrorStrategy, TaskDefaults, TaskSpec

S = TaskState
START = datetime(2024, 1, 1, tzinfo=UTC)


def spec(default: bool = False) -> DagSpec:
    return DagSpec(
        dag_id="d",
        default_args=TaskDefaults(depends_on_past=default),
        tasks=[
            TaskSpec(task_id="a", depends_on_past=True),
            TaskSpec(task_id="b", depends_on_past=False, depends_on=["a"]),
            TaskSpec(task_id="c"),
        ],
    )


def test_depends_on_past_is_the_tasks_own_or_default_args() -> None:
    assert past_dependent(spec()) == {"a"}
    assert past_dependent(spec(default=True)) == {"a", "c"}


def test_a_task_waits_until_its_past_is_success_or_skipped() -> None:
    ids = ["a", "b", "c", "d"]
    past = {"a": [S.FAILED], "b": [S.SUCCESS], "c": [S.SKIPPED, S.RUNNING], "d": [S.REMOVED]}
    assert waiting_on_past(ids, past) == {"a", "c"}
    assert waiting_on_past(ids, {}) == frozenset()  # the first run has no past
    assert waiting_on_past(["new"], past) == frozenset()  # nor has a task new in this version


def test_a_held_task_stays_none_but_a_skip_still_reaches_it() -> None:
    d = spec()
    plan = plan_run(d, {"a": S.NONE, "b": S.NONE, "c": S.NONE}, ErrorStrategy.CONTINUE, held={"a"})
    assert plan.scheduled == ["c"]
    assert plan.states["a"] == (S.NONE,)
    assert plan.outcome is None
    failed = plan_run(
        d, {"a": S.FAILED, "b": S.NONE, "c": S.SUCCESS}, ErrorStrategy.CONTINUE, held={"b"}
    )
    assert failed.upstream_failed == ["b"]


def test_a_run_times_out_its_timeout_after_its_start() -> None:
    assert run_deadline(START, 60.0) == START + timedelta(seconds=60)
    assert run_deadline(START, None) is None
    assert run_deadline(None, 60.0) is None  # not started: no clock yet
    assert not is_timed_out(START, 60.0, START + timedelta(seconds=59))
    assert is_timed_out(START, 60.0, START + timedelta(seconds=60))
    assert not is_timed_out(START, None, START + timedelta(days=400))


def test_a_timeout_skips_every_unfinished_task_instance() -> None:
    [(to_state, from_states)] = timeout_moves().items()
    assert to_state == S.SKIPPED
    # A waiting sensor too (ADR 0036): rescheduled or deferred, it is unfinished.
    assert set(from_states) == {
        S.NONE,
        S.SCHEDULED,
        S.QUEUED,
        S.RUNNING,
        S.UP_FOR_RETRY,
        S.UP_FOR_RESCHEDULE,
        S.DEFERRED,
    }
