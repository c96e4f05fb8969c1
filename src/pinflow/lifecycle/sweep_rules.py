"""What the safety sweep decides without a transaction (ADR 0043): whether a running run
needs a scheduling step, and how many runs the full pass re-plans per sweep.

The sweep reads the task instances of many runs at once, without locks, and asks
``needs_step`` of each; only the runs it names get a transaction (``advance_run`` under the
run's lock, which plans again from what it reads then). ``needs_step`` is a superset of what
``advance_run`` would change: it plans with the same ``plan_run`` on the same picture, minus
the past-dependent tasks ``advance_run`` holds back (which can only remove moves). So a run it
passes over is one that ``advance_run`` would not have moved either, at the moment of the
read; whatever changes it later is a commit that either moves it itself or is seen by a later
sweep.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pinflow.lifecycle.run_planning import plan_run
from pinflow.lifecycle.states import TaskState
from pinflow.spec.models import DagSpec

# While few runs run, a full pass re-plans every running run once per this many sweeps (and
# a pass begins at most once per this many sweeps, however few runs it has).
FULL_PASS_EVERY = 30
# At most this many runs per sweep: past ``FULL_PASS_EVERY * FULL_PASS_MOST`` running runs a
# pass takes longer, so that a sweep's work stays bounded however many runs there are.
FULL_PASS_MOST = 50


def needs_step(
    spec: DagSpec,
    states: Mapping[str, Sequence[TaskState]],
    *,
    retry_due: bool,
) -> bool:
    """Whether a scheduling step of the run would change anything: a due retry or poke to
    release (``retry_due``), a move of the plan (a task ready, a skip or an upstream failure
    to cascade), a mapped task to expand, or an outcome (every task instance finished)."""
    if retry_due:
        return True
    plan = plan_run(spec, states, spec.error_strategy)
    return bool(plan.moves or plan.expand or plan.outcome is not None)


def full_pass_slice(running: int) -> int:
    """How many running runs each sweep of a full pass re-plans, for ``running`` runs when
    the pass begins: all of them over ``FULL_PASS_EVERY`` sweeps, at most ``FULL_PASS_MOST``
    per sweep (then a pass takes ``ceil(running / FULL_PASS_MOST)`` sweeps)."""
    return max(1, min(FULL_PASS_MOST, math.ceil(running / FULL_PASS_EVERY)))


def full_pass_sweeps(running: int) -> int:
    """The most sweeps a full pass over ``running`` runs takes (runs started during the pass
    are in it too, at its end): ``FULL_PASS_EVERY`` or fewer while runs are few, then
    ``running / FULL_PASS_MOST``. Since a pass begins at most once per ``FULL_PASS_EVERY``
    sweeps, a busy run that nothing else will move waits for the safety sweep at most
    ``max(FULL_PASS_EVERY, full_pass_sweeps(running))`` sweeps."""
    return math.ceil(running / full_pass_slice(running)) if running else 1
