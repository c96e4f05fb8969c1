"""OpenTelemetry traces of runs (the ``otel`` extra), built after the fact from the recorded
times: a span per run and per try, ids derived from dag_id/run_id. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from sqlalchemy import select

from pinflow.errors import ConflictError, NotFoundError
from pinflow.services import tracing
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.reads import traces
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstanceTry
from pinflow.testing import make_spec, run_until_idle, scripted

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at


@pytest.fixture
def finished(db: Database) -> Database:
    """Run ``r1`` of etl: ``a`` fails once then succeeds (a retry), ``b`` succeeds."""
    spec = make_spec("etl", {"a": [], "b": ["a"]}, default_args={"retries": 1})
    register_snapshot(db, spec, b"", actor="alice")
    trigger_run(db, dag_id="etl", actor="alice", run_id="r1")
    run_until_idle(db, scripted({"a": [False, True]}), clock=Clock(), ignore_retry_delay=True)
    return db


def test_a_run_is_a_trace_of_its_recorded_tries(finished: Database) -> None:
    exporter = InMemorySpanExporter()
    assert tracing.export([traces.run_trace(finished, "etl", "r1")], exporter) == 4
    run, *tries = exporter.get_finished_spans()
    trace_id = tracing.trace_id_of("etl", "r1")
    assert run.name == "run etl"
    assert run.context.trace_id == trace_id
    assert run.context.span_id == tracing.run_span_id("etl", "r1")
    assert run.parent is None
    assert run.status.status_code == StatusCode.OK
    assert run.attributes["pinflow.run_id"] == "r1"
    assert [(s.name, s.attributes["pinflow.try_number"]) for s in tries] == [
        ("try a", 1), ("try a", 2), ("try b", 1),
    ]  # fmt: skip
    for span in tries:
        assert span.context.trace_id == trace_id
        assert span.parent is not None
        assert span.parent.span_id == run.context.span_id
        assert run.start_time <= span.start_time <= span.end_time <= run.end_time
    assert tries[0].status.status_code == StatusCode.ERROR
    assert "scripted failure of a" in str(tries[0].attributes["pinflow.error"])
    assert tries[1].status.status_code == StatusCode.OK
    with finished.read() as s:
        recorded = s.scalars(select(TaskInstanceTry).order_by(TaskInstanceTry.start_date)).all()
        run_row = s.scalars(select(DagRun)).one()
    assert [s.start_time for s in tries] == [int(t.start_date.timestamp() * 1e9) for t in recorded]
    assert run_row.end_date is not None
    assert run.end_time == int(run_row.end_date.timestamp() * 1e9)


def test_exporting_twice_sends_the_same_ids(finished: Database) -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    trace = traces.run_trace(finished, "etl", "r1")
    tracing.export([trace], first)
    tracing.export([traces.run_trace(finished, "etl", "r1")], second)
    ids = [[(s.context.trace_id, s.context.span_id) for s in e.get_finished_spans()]
           for e in (first, second)]  # fmt: skip
    assert ids[0] == ids[1]
    assert len({span for _, span in ids[0]}) == 4
    assert tracing.trace_id_of("etl", "r1") != tracing.trace_id_of("etl", "r2")


def test_only_finished_runs_have_a_trace(finished: Database) -> None:
    trigger_run(finished, dag_id="etl", actor="alice", run_id="r2")
    with pytest.raises(ConflictError, match="once it ends"):
        traces.run_trace(finished, "etl", "r2")
    with pytest.raises(NotFoundError):
        traces.run_trace(finished, "etl", "nope")
    assert traces.finished_since(finished, T0) == [("etl", "r1")]
    assert traces.finished_since(finished, T0 + timedelta(days=1)) == []
