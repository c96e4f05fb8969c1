"""When an asset-scheduled DAG gets a run: its condition (all/any, nested) on the assets with
events queued for it, and which events the run consumes (ADR 0037)."""

from __future__ import annotations

import pytest

from pinflow.lifecycle.asset_rules import QueuedEvent, condition_holds, decide_asset_run
from pinflow.spec.assets import AssetCondition, AssetSpec


def on(uri: str) -> AssetCondition:
    return AssetCondition(asset=AssetSpec(uri=uri))


def every(*conditions: AssetCondition) -> AssetCondition:
    return AssetCondition(all=list(conditions))


def some(*conditions: AssetCondition) -> AssetCondition:
    return AssetCondition(any=list(conditions))


# a & (b | (c & d))
NESTED = every(on("a"), some(on("b"), every(on("c"), on("d"))))


@pytest.mark.parametrize(
    ("updated", "holds"),
    [
        (set(), False),
        ({"a"}, False),
        ({"a", "b"}, True),
        ({"a", "c"}, False),
        ({"a", "c", "d"}, True),
        ({"b", "c", "d"}, False),
        ({"a", "b", "c", "d", "unrelated"}, True),
    ],
)
def test_nested_conditions_hold_as_airflow_evaluates_them(updated: set[str], holds: bool) -> None:
    assert condition_holds(NESTED, updated) is holds


def test_one_asset_any_and_all_of_one() -> None:
    assert condition_holds(on("a"), {"a"})
    assert not condition_holds(on("a"), {"b"})
    assert condition_holds(some(on("a"), on("b")), {"b"})
    assert not condition_holds(every(on("a"), on("b")), {"b"})


def queued(*uris: str) -> list[QueuedEvent]:
    return [QueuedEvent(queue_id=i, event_id=100 + i, uri=uri) for i, uri in enumerate(uris)]


def test_a_run_consumes_every_queued_event_once_the_condition_holds() -> None:
    # the first producer ran twice before the second: one run, with all three events
    events = queued("a", "a", "b")
    decision = decide_asset_run(every(on("a"), on("b")), events)
    assert decision.creates_run
    assert decision.consume == tuple(events)


def test_no_run_while_the_condition_does_not_hold() -> None:
    decision = decide_asset_run(every(on("a"), on("b")), queued("a", "a"))
    assert not decision.creates_run
    assert decision.consume == ()


def test_no_run_without_events_or_without_a_condition() -> None:
    assert not decide_asset_run(on("a"), []).creates_run
    assert not decide_asset_run(None, queued("a")).creates_run


def test_an_event_of_an_asset_the_condition_does_not_name_makes_no_run() -> None:
    assert not decide_asset_run(on("a"), queued("b")).creates_run


def test_conditions_name_each_asset_once_and_read_as_airflow_writes_them() -> None:
    condition = every(on("a"), some(on("b"), on("a")))
    assert [asset.uri for asset in condition.assets()] == ["a", "b"]
    assert condition.describe() == "(a & (b | a))"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "must not be blank"),
        ("airflow://x", "reserved"),
        ("s3://bücket/x", "ASCII"),
        (" s3://x", "spaces"),
        ("://x", "empty scheme"),
        ("x" * 1501, "1500"),
    ],
)
def test_asset_uris_are_checked_as_airflow_does(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AssetSpec(uri=uri)


def test_an_assets_scheme_is_lower_cased_and_its_name_defaults_to_its_uri() -> None:
    asset = AssetSpec(uri="S3://Bucket/Key")
    assert (asset.uri, asset.name, asset.group) == ("s3://Bucket/Key", "s3://Bucket/Key", "asset")
    assert AssetSpec(uri="plain-name").uri == "plain-name"


def test_an_empty_all_or_a_condition_of_two_kinds_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        AssetCondition(all=[])
    with pytest.raises(ValueError, match="exactly one"):
        AssetCondition(asset=AssetSpec(uri="a"), any=[on("b")])
