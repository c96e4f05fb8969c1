"""Dynamic task mapping end to end on the store: expand, run each element, reduce.

Every test runs on SQLite and, when configured, on PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import select, update

from pinflow.errors import NotFoundError
from pinflow.lifecycle.mapping import MAX_MAP_LENGTH
from pinflow.lifecycle.rebind import PlanAction
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services.commands._clear import clear_mapped_element, clear_task_instances
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import get_run, trigger_run
from pinflow.services.engine._claims import claim_scheduled
from pinflow.services.engine._dispatch import resolve_arguments
from pinflow.services.engine._reports import finish_task
from pinflow.services.engine._starts import start_task
from pinflow.services.engine._sweep import schedule_pass
from pinflow.services.reads._views import RunView
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent, TaskInstance
from pinflow.testing import ExecutionContext, Handler, TaskOutcome, make_spec, run_until_idle

S = TaskState.SUCCESS
SC = TaskState.SCHEDULED
SK = TaskState.SKIPPED
F = TaskState.FAILED
UF = TaskState.UPSTREAM_FAILED


def fan_out(dag_id: str = "fan", *, reduce_rule: str = "all_success", **fields: Any) -> DagSpec:
    """``list`` -> ``square`` mapped over it -> ``total`` reducing the squares."""
    return make_spec(
        dag_id,
        {"list": [], "square": [], "total": []},
        task_fields={
            "square": {"expand": {"x": {"task_id": "list"}}, "retries": 2, "pool_slots": 2},
            "total": {"inputs": {"values": {"task_id": "square"}}, "trigger_rule": reduce_rule},
        },
        **fields,
    )


def start(db: Database, spec: DagSpec) -> RunView:
    register_snapshot(db, spec, b"", actor="alice")
    return trigger_run(db, dag_id=spec.dag_id, actor="alice")


def mapped_args(db: Database, ctx: ExecutionContext) -> dict[str, Any]:
    """What a worker receives for a mapped element (``dispatch.resolve_arguments``)."""
    return resolve_arguments(db, ctx.run_pk, ctx.task, ctx.map_index)[1]


def handler(db: Database, first: Any, seen: dict[str, Any]) -> Handler:
    """``list`` returns ``first``; each ``square`` element squares its ``x``; ``total`` sums."""

    def run(ctx: ExecutionContext) -> TaskOutcome:
        if ctx.task_id == "list":
            return TaskOutcome(success=True, value=first)
        if ctx.task_id == "square":
            x = mapped_args(db, ctx)["x"]
            return TaskOutcome(success=True, value=x * x)
        seen[ctx.task_id] = ctx.inputs["values"]
        return TaskOutcome(success=True, value=sum(ctx.inputs["values"] or []))

    return run


def instances(db: Database, run_pk: int, task_id: str) -> list[TaskInstance]:
    with db.read() as s:
        stmt = select(TaskInstance).where(
            TaskInstance.run_pk == run_pk, TaskInstance.task_id == task_id
        )
        return list(s.scalars(stmt.order_by(TaskInstance.map_index)))


def states_of(db: Database, run_pk: int, task_id: str) -> list[TaskState]:
    return [TaskState(ti.state) for ti in instances(db, run_pk, task_id)]


def expand_events(db: Database) -> list[dict[str, Any]]:
    with db.read() as s:
        stmt = select(AuditEvent).where(AuditEvent.action == "task.expand_failed")
        return [{"target": e.target_id, **e.meta} for e in s.scalars(stmt)]


def test_one_to_n_to_one_reduces_every_element_value_in_order(db: Database) -> None:
    run = start(db, fan_out())
    seen: dict[str, Any] = {}
    assert run_until_idle(db, handler(db, [3, 1, 4, 1, 5], seen)) == 1 + 5 + 1
    assert get_run(db, "fan", run.run_id).state == RunState.SUCCESS
    assert seen["total"] == [9, 1, 16, 1, 25]
    assert get_xcom(db, run.id, "total") == 52
    squares = instances(db, run.id, "square")
    assert [ti.map_index for ti in squares] == [0, 1, 2, 3, 4]  # the placeholder became 0
    assert {(ti.state, ti.max_tries, ti.pool_slots, ti.try_number) for ti in squares} == {
        ("success", 2, 2, 1)
    }
    assert [get_xcom(db, run.id, "square", map_index=i) for i in range(5)] == [9, 1, 16, 1, 25]


def test_expansion_happens_in_the_report_of_the_upstream(db: Database) -> None:
    run = start(db, fan_out())
    schedule_pass(db)
    [task] = claim_scheduled(db, limit=10)
    start_task(db, task.ti_id, try_number=1)
    assert states_of(db, run.id, "square") == [TaskState.NONE]
    finish_task(db, task.ti_id, try_number=1, success=True, xcom=["a", "b", "c"])
    assert states_of(db, run.id, "square") == [SC, SC, SC]
    assert states_of(db, run.id, "total") == [TaskState.NONE]
    claimed = claim_scheduled(db, limit=10)
    assert [(c.task_id, c.map_index) for c in claimed] == [("square", i) for i in range(3)]


def test_an_empty_list_skips_the_mapped_task_and_its_downstream(db: Database) -> None:
    run = start(db, fan_out())
    seen: dict[str, Any] = {}
    assert run_until_idle(db, handler(db, [], seen)) == 1
    assert states_of(db, run.id, "square") == [SK]
    assert states_of(db, run.id, "total") == [SK]
    assert get_run(db, "fan", run.run_id).state == RunState.SUCCESS
    assert expand_events(db) == []


def test_an_empty_list_lets_a_downstream_that_runs_after_skips_run(db: Database) -> None:
    run = start(db, fan_out(reduce_rule="none_failed"))
    seen: dict[str, Any] = {}
    assert run_until_idle(db, handler(db, [], seen)) == 2
    assert states_of(db, run.id, "total") == [S]
    assert seen == {"total": None}  # a skipped upstream left no value
    assert get_run(db, "fan", run.run_id).state == RunState.SUCCESS


@pytest.mark.parametrize("value", [{"a": 1}, "abc", 42])
def test_a_value_that_is_not_a_list_fails_the_mapped_task(db: Database, value: Any) -> None:
    run = start(db, fan_out())
    assert run_until_idle(db, handler(db, value, {})) == 1
    [square] = instances(db, run.id, "square")
    assert (square.state, square.map_index, square.end_date is not None) == ("failed", -1, True)
    assert states_of(db, run.id, "total") == [UF]
    assert get_run(db, "fan", run.run_id).state == RunState.FAILED
    [event] = expand_events(db)
    assert event["target"] == f"fan/{run.run_id}/square"
    assert event["state"] == "failed"
    assert event["error"] == (
        f"expand argument 'x' must be a list; task 'list' returned {type(value).__name__}"
    )


def test_an_upstream_that_returned_nothing_fails_the_mapped_task(db: Database) -> None:
    run = start(db, fan_out())
    run_until_idle(db, handler(db, None, {}))  # None: no XCom stored
    assert states_of(db, run.id, "square") == [F]
    assert "returned nothing" in expand_events(db)[0]["error"]


def test_a_skipped_upstream_under_a_rule_that_runs_anyway_is_an_upstream_failure(
    db: Database,
) -> None:
    spec = make_spec(
        "gap",
        {"list": [], "m": []},
        task_fields={"m": {"expand": {"x": {"task_id": "list"}}, "trigger_rule": "all_done"}},
    )
    run = start(db, spec)
    run_until_idle(db, lambda ctx: TaskOutcome(success=True, skipped=True))
    assert states_of(db, run.id, "m") == [UF]
    assert expand_events(db)[0]["state"] == "upstream_failed"


def test_two_expand_arguments_map_over_their_product(db: Database) -> None:
    spec = make_spec(
        "product",
        {"xs": [], "ys": [], "pair": [], "all": []},
        task_fields={
            "pair": {"expand": {"x": {"task_id": "xs"}, "y": {"task_id": "ys"}}},
            "all": {"inputs": {"pairs": {"task_id": "pair"}}},
        },
    )
    run = start(db, spec)
    outputs = {"xs": [1, 2], "ys": ["a", "b", "c"]}
    got: list[Any] = []

    def run_task(ctx: ExecutionContext) -> TaskOutcome:
        if ctx.task_id in outputs:
            return TaskOutcome(success=True, value=outputs[ctx.task_id])
        if ctx.task_id == "pair":
            args = mapped_args(db, ctx)
            return TaskOutcome(success=True, value=f"{args['x']}{args['y']}")
        got.extend(ctx.inputs["pairs"])
        return TaskOutcome(success=True)

    assert run_until_idle(db, run_task) == 2 + 6 + 1
    assert got == [f"{x}{y}" for x, y in itertools.product(*outputs.values())]
    assert got == ["1a", "1b", "1c", "2a", "2b", "2c"]
    assert get_run(db, "product", run.run_id).state == RunState.SUCCESS


def test_a_product_over_the_limit_fails_with_a_clear_error(db: Database) -> None:
    spec = make_spec(
        "huge",
        {"xs": [], "ys": [], "pair": []},
        task_fields={"pair": {"expand": {"x": {"task_id": "xs"}, "y": {"task_id": "ys"}}}},
    )
    run = start(db, spec)
    run_until_idle(db, lambda ctx: TaskOutcome(success=True, value=list(range(101))))
    assert states_of(db, run.id, "pair") == [F]
    assert expand_events(db)[0]["error"].startswith(
        f"expand would create 10201 task instances of 'pair'; at most {MAX_MAP_LENGTH} are allowed"
    )


def test_a_task_mapped_over_a_mapped_task_gets_one_element_per_upstream_element(
    db: Database,
) -> None:
    spec = make_spec(
        "chain",
        {"list": [], "double": [], "inc": [], "sum": []},
        task_fields={
            "double": {"expand": {"x": {"task_id": "list"}}},
            "inc": {"expand": {"y": {"task_id": "double"}}},
            "sum": {"inputs": {"values": {"task_id": "inc"}}},
        },
    )
    run = start(db, spec)
    reduced: list[Any] = []

    def run_task(ctx: ExecutionContext) -> TaskOutcome:
        args = mapped_args(db, ctx)
        if ctx.task_id == "list":
            return TaskOutcome(success=True, value=[1, 2, 3])
        if ctx.task_id == "double":
            return TaskOutcome(success=True, value=args["x"] * 2)
        if ctx.task_id == "inc":
            return TaskOutcome(success=True, value=args["y"] + 1)
        reduced.extend(ctx.inputs["values"])
        return TaskOutcome(success=True)

    assert run_until_idle(db, run_task) == 1 + 3 + 3 + 1
    assert reduced == [3, 5, 7]
    assert get_run(db, "chain", run.run_id).state == RunState.SUCCESS


def test_a_failed_element_retries_alone_and_the_reduce_follows_its_rule(db: Database) -> None:
    run = start(db, fan_out(reduce_rule="all_done"))
    seen: dict[str, Any] = {}
    base = handler(db, [1, 2, 3], seen)

    def flaky(ctx: ExecutionContext) -> TaskOutcome:
        if ctx.task_id == "square" and ctx.map_index == 1:
            return TaskOutcome(success=False, error="boom")  # every try: 3 tries in all
        return base(ctx)

    assert run_until_idle(db, flaky, ignore_retry_delay=True) == 1 + 3 + 2 + 1
    squares = instances(db, run.id, "square")
    assert [(ti.state, ti.try_number) for ti in squares] == [
        ("success", 1),
        ("failed", 3),
        ("success", 1),
    ]
    assert seen["total"] == [1, 9]  # the failed element is left out, as in Airflow (ADR 0033)
    assert get_run(db, "fan", run.run_id).state == RunState.FAILED


def test_clearing_re_expands_the_mapped_task_from_the_new_upstream_value(db: Database) -> None:
    run = start(db, fan_out())
    lists: Mapping[int, list[int]] = {1: [1, 2, 3], 2: [5, 6]}
    seen: dict[str, Any] = {}
    clears = {"n": 1}

    def run_task(ctx: ExecutionContext) -> TaskOutcome:
        return handler(db, lists[clears["n"]], seen)(ctx)

    run_until_idle(db, run_task)
    assert seen["total"] == [1, 4, 9]
    clears["n"] = 2
    result = clear_task_instances(
        db,
        "fan",
        actor="alice",
        task_ids=["list"],
        only_failed=False,
        include_downstream=True,
    )
    assert result.cleared_task_ids == [(run.run_id, t) for t in ("list", "square", "total")]
    assert states_of(db, run.id, "square") == [TaskState.NONE]
    run_until_idle(db, run_task)
    assert seen["total"] == [25, 36]
    assert [ti.map_index for ti in instances(db, run.id, "square")] == [0, 1]
    assert get_run(db, "fan", run.run_id).state == RunState.SUCCESS


def test_an_element_set_back_to_none_is_scheduled_again_not_re_expanded(db: Database) -> None:
    run = start(db, fan_out())
    schedule_pass(db)
    [task] = claim_scheduled(db, limit=10)
    start_task(db, task.ti_id, try_number=1)
    finish_task(db, task.ti_id, try_number=1, success=True, xcom=[1, 2])
    with db.transaction() as s:
        s.execute(
            update(TaskInstance)
            .where(TaskInstance.run_pk == run.id, TaskInstance.task_id == "square")
            .where(TaskInstance.map_index == 1)
            .values(state=TaskState.NONE.value)
        )
    schedule_pass(db)
    assert [ti.map_index for ti in instances(db, run.id, "square")] == [0, 1]
    assert states_of(db, run.id, "square") == [SC, SC]


def test_clearing_one_element_reruns_it_alone_and_then_its_downstream(db: Database) -> None:
    spec = fan_out()
    square = spec.task("square")
    assert square is not None
    no_retries = square.model_copy(update={"retries": 0})
    tasks = [no_retries if t.task_id == "square" else t for t in spec.tasks]
    run = start(db, spec.model_copy(update={"tasks": tasks}))
    seen: dict[str, Any] = {}
    good = handler(db, [3, 1, 4], seen)

    def four_fails(ctx: ExecutionContext) -> TaskOutcome:
        if ctx.task_id == "square" and mapped_args(db, ctx)["x"] == 4:
            return TaskOutcome(success=False, error="4 is unlucky")
        return good(ctx)

    run_until_idle(db, four_fails)
    assert states_of(db, run.id, "square") == [S, S, F]
    assert states_of(db, run.id, "total") == [UF]
    kwargs: dict[str, Any] = {"actor": "bob", "dag_run_id": run.run_id, "task_id": "square"}
    preview = clear_mapped_element(
        db, "fan", map_index=2, include_downstream=True, dry_run=True, **kwargs
    )
    (planned,) = preview.runs
    assert planned.plan.task_ids(PlanAction.RE_EXECUTED) == ["square", "total"]
    assert not planned.plan.rebinds
    assert states_of(db, run.id, "square") == [S, S, F]  # a dry run changes nothing

    clear_mapped_element(db, "fan", map_index=2, include_downstream=True, **kwargs)
    assert states_of(db, run.id, "square") == [S, S, TaskState.NONE]
    assert states_of(db, run.id, "total") == [TaskState.NONE]
    assert get_run(db, "fan", run.run_id).state == RunState.QUEUED
    assert run_until_idle(db, good) == 2  # the element and the reduce, not the other elements
    assert get_run(db, "fan", run.run_id).state == RunState.SUCCESS
    assert [ti.try_number for ti in instances(db, run.id, "square")] == [1, 1, 2]
    assert get_xcom(db, run.id, "total") == 9 + 1 + 16
    with db.read() as s:
        cleared = s.scalars(select(AuditEvent).where(AuditEvent.action == "run.tasks_cleared"))
        assert [e.meta["mapIndexes"] for e in cleared] == [{"square": 2}]


def test_clearing_an_element_that_does_not_exist_says_how_to_clear_a_task(db: Database) -> None:
    run = start(db, fan_out())
    with pytest.raises(NotFoundError, match="map_index -1 to clear a task"):
        clear_mapped_element(
            db, "fan", actor="bob", dag_run_id=run.run_id, task_id="square", map_index=0
        )
