"""A spec survives ``spec -> canonical JSON -> spec`` unchanged, for every field.

The fixture sets every field of every model to a non-default value, and a test checks that it
still does, so a field added later cannot be forgotten here.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from pinflow.spec.assets import AssetCondition, AssetSpec
from pinflow.spec.canonical import (
    snapshot_digest,
    spec_from_dict,
    spec_from_json,
    spec_to_dict,
    spec_to_json,
)
from pinflow.spec.models import (
    ID_PATTERN,
    OMITTED_AT_DEFAULT,
    DagSpec,
    ErrorStrategy,
    HttpRequestSpec,
    ParamSpec,
    ParamType,
    RunCallbacks,
    SensorMode,
    SensorSpec,
    TaskDefaults,
    TaskFlow,
    TaskSpec,
    TriggerRule,
    TriggerSpec,
    XComRef,
)
from pinflow.spec.validation import check_spec, parse_spec

# Fields that cannot hold anything but their default.
UNCHANGEABLE = {(DagSpec, "schema_version")}  # Literal[1]: a new schema is a new model


def full_spec() -> DagSpec:
    """A realistic DAG (it passes strict validation) that sets every field somewhere."""
    return DagSpec(
        dag_id="sales.daily-report",
        name="Daily sales report",
        description="Aggregates yesterday's orders and posts the report.",
        owner="data-platform",
        tags=["sales", "reporting"],
        project="analytics",
        workflow_set="finance",
        error_strategy=ErrorStrategy.FAIL_FAST,
        trigger=TriggerSpec(
            schedule="30 6 * * 1-5",
            timezone="Europe/Amsterdam",
            start_date=datetime(2024, 1, 1, tzinfo=UTC),
            end_date=datetime(2030, 1, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))),
            catchup=True,
            max_catchup_runs=7,
        ),
        params={
            "region": ParamSpec(
                type=ParamType.INTEGER,
                default=3,
                required=True,
                description="Sales region number",
                enum=[1, 2, 3],
                minimum=1.0,
                maximum=3.0,
            ),
        },
        default_args=TaskDefaults(
            retries=3,
            retry_delay=60.0,
            retry_exponential_backoff=True,
            max_retry_delay=900.0,
            execution_timeout=3600.0,
            pool="reporting",
            queue="reports",
            trigger_rule=TriggerRule.NONE_FAILED,
            depends_on_past=True,
        ),
        max_active_runs=1,
        max_active_tasks=4,
        requirements=["pfdemo==1.0", 'six>=1.16; python_version >= "3"'],
        paused_at_creation=True,
        dagrun_timeout=7200.0,
        callbacks=RunCallbacks(
            on_success=["alerts:done"],
            on_failure=["alerts:page", "alerts:log"],
            runner="pinflow.compat.airflow._dag_callbacks:run",
        ),
        tasks=full_tasks(),
    )


def full_tasks() -> list[TaskSpec]:
    """One task of each kind; between them they set every TaskSpec field."""
    extract = TaskSpec(
        task_id="extract",
        callable="reports.sales:extract",
        args={"limit": 1000, "tables": ["orders", "refunds"], "ratio": 0.5},
        trigger_rule=TriggerRule.ALWAYS,
        retries=5,
        retry_delay=10.0,
        retry_exponential_backoff=False,
        max_retry_delay=120.0,
        execution_timeout=600.0,
        pool="warehouse",
        pool_slots=2,
        queue="warehouse-hosts",
        max_active_tis_per_dag=1,
        doc="Pull yesterday's orders from the warehouse.",
        flow=TaskFlow.SHORT_CIRCUIT,
        ignore_downstream_trigger_rules=False,
        setup=True,
        depends_on_past=False,
        expand_kwargs=[{"region": "eu"}, {"region": "us"}],
    )
    summarise = TaskSpec(
        task_id="summarise",
        callable="reports.sales:Summary.build",
        inputs={"orders": XComRef(task_id="extract", key="orders")},
        expand={"currency": XComRef(task_id="extract", key="currencies")},
        expand_literals={"region": [["eu", 1], ["us", 2]]},
        expand_order=["region", "currency"],
    )
    render = TaskSpec(
        task_id="render", kind="bash", bash_command="make report", depends_on=["summarise"]
    )
    request = HttpRequestSpec(
        method="POST",
        url="https://reports.example.com/api/upload",
        headers={"Authorization": "Bearer {{ var.token }}"},
        body={"report": "sales", "final": True},
        expected_status=[201],
        timeout=12.5,
    )
    publish = TaskSpec(
        task_id="publish",
        kind="http",
        depends_on=["render"],
        http=request,
        teardown=True,
        on_failure_fail_dagrun=True,
    )
    wait = TaskSpec(
        task_id="wait_for_export",
        callable="reports.sales:export_ready",
        sensor=SensorSpec(
            poke_interval=30.0,
            timeout=3600.0,
            mode=SensorMode.RESCHEDULE,
            soft_fail=True,
            exponential_backoff=True,
            max_wait=600.0,
        ),
    )
    return [extract, summarise, render, publish, wait]


def asset_spec() -> DagSpec:
    """A DAG on assets (a trigger cannot be on a cron schedule and on assets at once): the
    fields of ``full_spec`` cannot set, set here (ADR 0037)."""
    orders = AssetSpec(uri="s3://sales/orders", name="orders", group="sales", extra={"a": 1})
    refunds = AssetSpec(uri="s3://sales/refunds")
    fx = AssetSpec(uri="fx-rates")
    condition = AssetCondition(
        all=[
            AssetCondition(asset=orders),
            AssetCondition(any=[AssetCondition(asset=refunds), AssetCondition(asset=fx)]),
        ]
    )
    task = TaskSpec(task_id="merge", callable="m:f", outlets=[refunds], inlets=[orders, fx])
    return DagSpec(dag_id="on_assets", trigger=TriggerSpec(assets=condition), tasks=[task])


def fixtures() -> list[DagSpec]:
    return [full_spec(), asset_spec()]


def models_in(annotation: Any, seen: set[type] | None = None) -> Iterator[type[BaseModel]]:
    seen = set() if seen is None else seen
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:  # a recursive model (AssetCondition)
            return
        seen.add(annotation)
        yield annotation
        for info in annotation.model_fields.values():
            yield from models_in(info.annotation, seen)
    for arg in typing.get_args(annotation):
        yield from models_in(arg, seen)


def instances_in(value: Any) -> Iterator[BaseModel]:
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from instances_in(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from instances_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from instances_in(item)


def test_fixture_covers_every_model_reachable_from_the_dag_spec() -> None:
    reachable = set(models_in(DagSpec))
    assert reachable == {
        DagSpec,
        TaskSpec,
        TriggerSpec,
        ParamSpec,
        TaskDefaults,
        HttpRequestSpec,
        XComRef,
        AssetSpec,
        AssetCondition,
        SensorSpec,
        RunCallbacks,
    }
    found = {type(model) for spec in fixtures() for model in instances_in(spec)}
    assert found == reachable


@pytest.mark.parametrize(
    "model",
    [
        DagSpec,
        TaskSpec,
        TriggerSpec,
        ParamSpec,
        TaskDefaults,
        HttpRequestSpec,
        XComRef,
        AssetSpec,
        AssetCondition,
        SensorSpec,
        RunCallbacks,
    ],
    ids=lambda model: model.__name__,
)
def test_fixture_sets_every_field_to_a_non_default_value(model: type[BaseModel]) -> None:
    instances = [m for spec in fixtures() for m in instances_in(spec) if type(m) is model]
    forgotten = []
    for name, info in model.model_fields.items():
        if (model, name) in UNCHANGEABLE or info.is_required():
            continue
        default = info.get_default(call_default_factory=True, validated_data={})
        if all(getattr(instance, name) == default for instance in instances):
            forgotten.append(name)
    assert forgotten == [], f"set these {model.__name__} fields in full_spec()"


def test_fixture_is_a_valid_dag() -> None:
    assert check_spec(full_spec()) == []
    assert check_spec(asset_spec()) == []


def assert_round_trips(spec: DagSpec) -> None:
    text = spec_to_json(spec)
    again = spec_from_json(text)
    assert again == spec
    assert spec_to_json(again) == text
    assert spec_from_dict(json.loads(text)) == spec
    assert parse_spec(text) == spec
    assert parse_spec(text.encode()) == spec
    assert spec_to_dict(spec_from_dict(spec_to_dict(spec))) == spec_to_dict(spec)


def test_full_spec_round_trips() -> None:
    assert_round_trips(full_spec())
    assert_round_trips(asset_spec())


def test_minimal_spec_round_trips() -> None:
    assert_round_trips(DagSpec(dag_id="tiny"))


def test_canonical_json_does_not_depend_on_key_order() -> None:
    data = spec_to_dict(full_spec())
    reversed_keys = json.loads(json.dumps(_reverse_keys(data)))
    assert spec_to_json(spec_from_dict(reversed_keys)) == spec_to_json(full_spec())


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _reverse_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(item) for item in value]
    return value


# --- digests -----------------------------------------------------------------------------------


def test_digest_is_sha256_hex_and_stable() -> None:
    digest = snapshot_digest(full_spec(), b"bundle")
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert snapshot_digest(full_spec(), b"bundle") == digest
    assert snapshot_digest(spec_from_json(spec_to_json(full_spec())), b"bundle") == digest


def test_digest_is_pinned_for_a_known_spec() -> None:
    # If this fails, the canonical form changed (a new field, a new default, another
    # serialisation): every unchanged DAG pushed again gets a new snapshot. Update the constant
    # only on purpose, and say so in the change.
    spec = DagSpec(dag_id="pinned", tasks=[TaskSpec(task_id="t", callable="m:f")])
    assert snapshot_digest(spec, b"code") == PINNED_DIGEST


def test_fields_added_later_are_left_out_at_their_default() -> None:
    # flow, setup, teardown...: a DAG that does not use them keeps the canonical form (and the
    # digest) it had before they existed; one that does carries them, and reads them back.
    plain = spec_to_dict(DagSpec(dag_id="d", tasks=[TaskSpec(task_id="t", callable="m:f")]))
    assert set(OMITTED_AT_DEFAULT).isdisjoint(plain["tasks"][0])
    used = TaskSpec(task_id="t", callable="m:f", flow=TaskFlow.BRANCH, teardown=True)
    data = spec_to_dict(DagSpec(dag_id="d", tasks=[used]))["tasks"][0]
    assert (data["flow"], data["teardown"]) == ("branch", True)
    assert "setup" not in data
    assert spec_from_dict(spec_to_dict(DagSpec(dag_id="d", tasks=[used]))).tasks == [used]


PINNED_DIGEST = "6d0b2e9ecd4e312603b364e95349706cf29d4513449569efb9ddd82d81ad5b2d"


def test_digest_changes_with_the_spec() -> None:
    spec = full_spec()
    changed = spec.model_copy(update={"description": "something else"})
    assert snapshot_digest(changed, b"bundle") != snapshot_digest(spec, b"bundle")


def test_digest_changes_with_a_nested_field() -> None:
    spec = full_spec()
    task = spec.tasks[0].model_copy(update={"retries": 6})
    changed = spec.model_copy(update={"tasks": [task, *spec.tasks[1:]]})
    assert snapshot_digest(changed) != snapshot_digest(spec)


def test_digest_changes_with_the_bundle() -> None:
    spec = full_spec()
    assert snapshot_digest(spec, b"bundle v1") != snapshot_digest(spec, b"bundle v2")
    assert snapshot_digest(spec, b"") != snapshot_digest(spec, b"\x00")


def test_spec_and_bundle_cannot_be_traded_for_each_other() -> None:
    # Each part is hashed on its own, so moving bytes between them cannot collide.
    spec = DagSpec(dag_id="a")
    assert snapshot_digest(spec, b"x") != snapshot_digest(spec, b"x" * 2)


# --- property: any spec round trips ------------------------------------------------------------

identifiers = st.from_regex(ID_PATTERN.replace("*$", "{0,12}$"), fullmatch=True)
finite = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=0, max_value=1e7, allow_nan=False, exclude_min=True)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
earliest, latest = datetime(1970, 1, 1), datetime(2200, 1, 1)
moments = st.datetimes(earliest, latest) | st.datetimes(
    earliest, latest, timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])
)
queues = st.text(min_size=1, max_size=8).filter(str.strip)
xcom_refs = st.builds(XComRef, task_id=identifiers, key=st.text(max_size=8))
http_requests = st.builds(
    HttpRequestSpec,
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
    url=st.text(max_size=20),
    headers=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    body=json_values,
    expected_status=st.lists(st.integers(100, 599), max_size=3),
    timeout=positive,
)
tasks = st.builds(
    TaskSpec,
    task_id=identifiers,
    kind=st.sampled_from(["python", "bash", "http", "other"]),
    callable=st.none() | st.text(max_size=10),
    bash_command=st.none() | st.text(max_size=10),
    http=st.none() | http_requests,
    depends_on=st.lists(identifiers, max_size=3),
    trigger_rule=st.none() | st.sampled_from(TriggerRule),
    retries=st.none() | st.integers(0, 100),
    retry_delay=st.none() | finite,
    retry_exponential_backoff=st.none() | st.booleans(),
    max_retry_delay=st.none() | finite,
    execution_timeout=st.none() | positive,
    pool=st.none() | st.text(max_size=8),
    pool_slots=st.integers(1, 8),
    queue=st.none() | queues,
    max_active_tis_per_dag=st.none() | st.integers(1, 8),
    args=st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    inputs=st.dictionaries(st.text(max_size=5), xcom_refs, max_size=2),
    expand=st.dictionaries(st.text(max_size=5), xcom_refs, max_size=2),
    doc=st.none() | st.text(max_size=20),
    flow=st.none() | st.sampled_from(TaskFlow),
    ignore_downstream_trigger_rules=st.booleans(),
    setup=st.booleans(),
    teardown=st.booleans(),
    on_failure_fail_dagrun=st.booleans(),
    expand_literals=st.dictionaries(st.text(max_size=5), st.lists(json_values, max_size=2)),
    expand_kwargs=st.none()
    | xcom_refs
    | st.lists(st.dictionaries(st.text(max_size=3), json_values)),
    expand_order=st.lists(st.text(max_size=5), max_size=2),
    sensor=st.none()
    | st.builds(
        SensorSpec,
        poke_interval=positive,
        timeout=positive,
        mode=st.sampled_from(SensorMode),
        soft_fail=st.booleans(),
        exponential_backoff=st.booleans(),
        max_wait=st.none() | positive,
    ),
)
params = st.builds(
    ParamSpec,
    type=st.sampled_from(ParamType),
    default=json_values,
    required=st.booleans(),
    description=st.none() | st.text(max_size=10),
    enum=st.none() | st.lists(json_values, max_size=3),
    minimum=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    maximum=st.none() | st.floats(allow_nan=False, allow_infinity=False),
)
specs = st.builds(
    DagSpec,
    dag_id=identifiers,
    name=st.text(max_size=20),
    description=st.none() | st.text(max_size=20),
    owner=st.text(max_size=10),
    tags=st.lists(st.text(max_size=5), max_size=3),
    project=identifiers,
    workflow_set=st.none() | st.text(max_size=5),
    error_strategy=st.sampled_from(ErrorStrategy),
    trigger=st.builds(
        TriggerSpec,
        schedule=st.none() | st.text(max_size=12),
        timezone=st.text(max_size=12),
        start_date=st.none() | moments,
        end_date=st.none() | moments,
        catchup=st.booleans(),
        max_catchup_runs=st.integers(1, 1000),
    ),
    params=st.dictionaries(st.text(max_size=6), params, max_size=3),
    default_args=st.builds(
        TaskDefaults,
        retries=st.integers(0, 100),
        retry_delay=finite,
        retry_exponential_backoff=st.booleans(),
        max_retry_delay=st.none() | finite,
        execution_timeout=st.none() | positive,
        pool=st.text(max_size=8),
        queue=queues,
        trigger_rule=st.sampled_from(TriggerRule),
    ),
    max_active_runs=st.integers(1, 64),
    max_active_tasks=st.integers(1, 64),
    tasks=st.lists(tasks, max_size=4),
)


@settings(
    max_examples=75,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(specs)
def test_any_spec_round_trips(spec: DagSpec) -> None:
    assert_round_trips(spec)
    assert snapshot_digest(spec_from_json(spec_to_json(spec))) == snapshot_digest(spec)


def test_fields_left_out_at_their_default_keep_their_json_schema() -> None:
    # the API documents TaskSpec in responses: its properties must stay listed
    properties = TaskSpec.model_json_schema(mode="serialization")["properties"]
    assert set(OMITTED_AT_DEFAULT) <= set(properties)
    assert {name for name, info in TaskSpec.model_fields.items() if info.exclude_if} == set(
        OMITTED_AT_DEFAULT
    )
