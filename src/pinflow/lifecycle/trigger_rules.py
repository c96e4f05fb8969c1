"""Airflow's trigger rules, and how a run's task states advance and finish.

``evaluate`` is called for a task still in ``none`` with the states of its direct upstream
task instances; it answers wait, run, skip or upstream_failed, with Airflow's semantics
(``one_success`` fires on the first success, ``always`` does not wait at all). Upstreams in
``removed`` are ignored, as in Airflow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from pinflow.lifecycle.states import FINISHED_TASK_STATES, RunState, TaskState
from pinflow.spec.models import ErrorStrategy, TriggerRule


class Verdict(StrEnum):
    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


@dataclass(frozen=True)
class Tally:
    total: int
    success: int
    failed: int
    upstream_failed: int
    skipped: int

    @property
    def done(self) -> int:
        return self.success + self.failed + self.upstream_failed + self.skipped

    @property
    def all_done(self) -> bool:
        return self.done == self.total

    @property
    def failures(self) -> int:
        return self.failed + self.upstream_failed


def tally(states: Iterable[TaskState]) -> Tally:
    c = Counter(s for s in states if s != TaskState.REMOVED)
    return Tally(
        total=sum(c.values()),
        success=c[TaskState.SUCCESS],
        failed=c[TaskState.FAILED],
        upstream_failed=c[TaskState.UPSTREAM_FAILED],
        skipped=c[TaskState.SKIPPED],
    )


def _when_done(t: Tally, ok: bool, otherwise: Verdict = Verdict.SKIP) -> Verdict:
    if not t.all_done:
        return Verdict.WAIT
    return Verdict.RUN if ok else otherwise


def _all_success(t: Tally) -> Verdict:
    if t.failures:
        return Verdict.UPSTREAM_FAILED
    if t.skipped:
        return Verdict.SKIP
    return _when_done(t, True)


def _all_failed(t: Tally) -> Verdict:
    if t.success or t.skipped:
        return Verdict.SKIP
    return _when_done(t, True)


def _all_done_min_one_success(t: Tally) -> Verdict:
    # Airflow: a skipped upstream skips at once; all done without a success is a failure.
    if t.skipped:
        return Verdict.SKIP
    return _when_done(t, t.success > 0, Verdict.UPSTREAM_FAILED)


def _all_skipped(t: Tally) -> Verdict:
    if t.success or t.failures:
        return Verdict.SKIP
    return _when_done(t, True)


def _one_success(t: Tally) -> Verdict:
    if t.success:
        return Verdict.RUN
    if not t.all_done:
        return Verdict.WAIT
    return Verdict.UPSTREAM_FAILED if t.failures else Verdict.SKIP


def _one_failed(t: Tally) -> Verdict:
    if t.failures:
        return Verdict.RUN
    return _when_done(t, False)


def _one_done(t: Tally) -> Verdict:
    if t.success or t.failed:
        return Verdict.RUN
    return _when_done(t, False)


def _none_failed(t: Tally) -> Verdict:
    return Verdict.UPSTREAM_FAILED if t.failures else _when_done(t, True)


def _none_failed_min_one_success(t: Tally) -> Verdict:
    return Verdict.UPSTREAM_FAILED if t.failures else _when_done(t, t.success > 0)


def _none_skipped(t: Tally) -> Verdict:
    return Verdict.SKIP if t.skipped else _when_done(t, True)


_RULES: dict[TriggerRule, Callable[[Tally], Verdict]] = {
    TriggerRule.ALL_SUCCESS: _all_success,
    TriggerRule.ALL_FAILED: _all_failed,
    TriggerRule.ALL_DONE: lambda t: _when_done(t, True),
    TriggerRule.ALL_DONE_MIN_ONE_SUCCESS: _all_done_min_one_success,
    TriggerRule.ALL_SKIPPED: _all_skipped,
    TriggerRule.ONE_SUCCESS: _one_success,
    TriggerRule.ONE_FAILED: _one_failed,
    TriggerRule.ONE_DONE: _one_done,
    TriggerRule.NONE_FAILED: _none_failed,
    TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS: _none_failed_min_one_success,
    TriggerRule.NONE_SKIPPED: _none_skipped,
    TriggerRule.ALWAYS: lambda t: Verdict.RUN,
}


def evaluate(
    rule: TriggerRule,
    upstream_states: Iterable[TaskState],
    setup_states: Iterable[TaskState] = (),
) -> Verdict:
    """``setup_states``: the states of the setup tasks among the upstreams, which only
    ``all_done_setup_success`` (a teardown's rule) reads."""
    t = tally(upstream_states)
    if t.total == 0:
        return Verdict.RUN
    if rule == TriggerRule.ALL_DONE_SETUP_SUCCESS:
        return _all_done_setup_success(t, tally(setup_states))
    return _RULES[rule](t)


def _all_done_setup_success(t: Tally, setups: Tally) -> Verdict:
    """Airflow's teardown rule: once every upstream is done, run if a setup succeeded (or it
    has no setup), even when the work failed; every setup skipped skips it, no setup
    succeeded is an upstream failure."""
    if not t.all_done:
        return Verdict.WAIT
    if setups.total == 0:
        return Verdict.RUN
    if setups.skipped == setups.total:
        return Verdict.SKIP
    return Verdict.RUN if setups.success else Verdict.UPSTREAM_FAILED


def fail_fast_verdict(strategy: ErrorStrategy, run_has_failure: bool) -> Verdict | None:
    """``fail_fast``: once anything failed for good, nothing new starts."""
    if strategy == ErrorStrategy.FAIL_FAST and run_has_failure:
        return Verdict.UPSTREAM_FAILED
    return None


def run_outcome(
    states: Mapping[str, Iterable[TaskState]], *, not_failing: Collection[str] = ()
) -> RunState | None:
    """A run's final state once every task instance finished, else ``None``.

    Pinflow fails a run when any task failed (or could not run because of a failure), even if
    a leaf ``all_done`` task succeeded: unlike Airflow's leaf-only rule, a failed run never
    hides behind a cleanup task. ``not_failing``: tasks whose failure does not fail the run
    (teardowns without ``on_failure_fail_dagrun``, as in Airflow); they must still finish.
    """
    groups = {task_id: list(group) for task_id, group in states.items()}
    if any(s not in FINISHED_TASK_STATES for group in groups.values() for s in group):
        return None
    counted = (s for task_id, group in groups.items() if task_id not in not_failing for s in group)
    if any(s in (TaskState.FAILED, TaskState.UPSTREAM_FAILED) for s in counted):
        return RunState.FAILED
    return RunState.SUCCESS
