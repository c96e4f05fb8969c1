"""The neighbourhood a report plans, and when the join of a wide fan-out is left waiting."""

from __future__ import annotations

from pinflow.lifecycle.run_planning import (
    WIDE_FAN_IN,
    neighbourhood,
    upstreams_to_probe,
    waits_for_the_rest,
    wide_downstream,
)
from pinflow.lifecycle.states import TaskState
from pinflow.testing import make_spec

WIDTH = WIDE_FAN_IN + 8
MIDDLE = [f"m{i:03d}" for i in range(WIDTH)]


def fan(rule: str = "all_success"):  # type: ignore[no-untyped-def]
    tasks = {"start": [], **{m: ["start"] for m in MIDDLE}, "join": MIDDLE, "after": ["join"]}
    return make_spec("fan", tasks, task_fields={"join": {"trigger_rule": rule}})


def test_the_neighbourhood_is_the_downstream_tasks_and_their_upstreams() -> None:
    spec = fan()
    assert neighbourhood(spec, ["join"]) == {"join", "after"}
    assert neighbourhood(spec, ["m000"]) == {"join", *MIDDLE}
    assert neighbourhood(spec, ["m000"], waiting=["join"]) == {"m000"}


def test_a_wide_join_waits_unless_the_changed_state_decides_it() -> None:
    spec = fan()
    (join,) = wide_downstream(spec, ["m001"])
    assert waits_for_the_rest(spec, join, [TaskState.SUCCESS])
    assert not waits_for_the_rest(spec, join, [TaskState.FAILED])  # upstream_failed at once
    one_success = fan("one_success")
    (join,) = wide_downstream(one_success, ["m001"])
    assert not waits_for_the_rest(one_success, join, [TaskState.SUCCESS])  # runs at once
    assert waits_for_the_rest(one_success, join, [TaskState.FAILED])
    assert wide_downstream(spec, ["start"]) == []  # the middle tasks have one upstream


def test_the_probe_starts_after_the_changed_upstream_and_wraps_around() -> None:
    spec = fan()
    (join,) = wide_downstream(spec, ["m038"])
    probe = upstreams_to_probe(spec, join, ["m038"])
    assert probe[:2] == ["m039", "m000"]
    assert "m038" not in probe
    assert len(probe) == WIDTH - 1
