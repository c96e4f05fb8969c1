"""OpenTelemetry traces of runs (the ``otel`` extra: opentelemetry-sdk and its OTLP exporter).

A run becomes a trace after it ends, built from what the database recorded: one span for the
run, one child span per try, with the recorded start and end times. Nothing is traced live,
so a task process needs no SDK and a crash loses no span: the trace is exported again from
the same rows. Ids are derived from ``dag_id``/``run_id`` (and the try's task, map index and
number), so exporting a run twice sends the same spans (a backend keeps one copy) and any
tool can find a run's trace from its ids alone (``trace_id_of``).

``opentelemetry.sdk`` is imported only when a trace is built (``require(OTEL)``).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pinflow.extras import OTEL, require
from pinflow.services.reads._traces import RunTrace, TryTrace

SERVICE_NAME = "pinflow"
ERROR_ATTRIBUTE_LIMIT = 4000  # characters of a try's error kept on its span


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(("pinflow", *map(str, parts))).encode()).digest()


def _nonzero(value: int) -> int:
    return value or 1  # an all-zero id is invalid in OpenTelemetry


def trace_id_of(dag_id: str, run_id: str) -> int:
    """The run's 128-bit trace id."""
    return _nonzero(int.from_bytes(_digest(dag_id, run_id)[:16], "big"))


def run_span_id(dag_id: str, run_id: str) -> int:
    return _nonzero(int.from_bytes(_digest(dag_id, run_id, "run")[:8], "big"))


def try_span_id(dag_id: str, run_id: str, t: TryTrace) -> int:
    key = _digest(dag_id, run_id, t.task_id, t.map_index, t.try_number)
    return _nonzero(int.from_bytes(key[:8], "big"))


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000_000)


def spans_of(trace: RunTrace) -> list[Any]:
    """The run's spans (``opentelemetry.sdk.trace.ReadableSpan``): the run first, then its tries."""
    require(OTEL)
    sdk = importlib.import_module("opentelemetry.sdk.trace")
    resources = importlib.import_module("opentelemetry.sdk.resources")
    api = importlib.import_module("opentelemetry.trace")
    resource = resources.Resource.create({"service.name": SERVICE_NAME})
    trace_id = trace_id_of(trace.dag_id, trace.run_id)

    def context(span_id: int) -> Any:
        return api.SpanContext(trace_id, span_id, is_remote=False,
                               trace_flags=api.TraceFlags(api.TraceFlags.SAMPLED))  # fmt: skip

    def status(ok: bool, message: str | None = None) -> Any:
        return api.Status(api.StatusCode.OK if ok else api.StatusCode.ERROR, message)

    run_context = context(run_span_id(trace.dag_id, trace.run_id))
    spans = [
        sdk.ReadableSpan(
            f"run {trace.dag_id}",
            context=run_context,
            resource=resource,
            attributes=_run_attributes(trace),
            status=status(trace.state == "success"),
            start_time=_ns(trace.start),
            end_time=_ns(trace.end),
        )
    ]
    for t in trace.tries:
        name = t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]"
        error = (t.error or "")[:ERROR_ATTRIBUTE_LIMIT] or None
        spans.append(
            sdk.ReadableSpan(
                f"try {name}",
                context=context(try_span_id(trace.dag_id, trace.run_id, t)),
                parent=run_context,
                resource=resource,
                attributes=_try_attributes(trace, t),
                status=status(t.state in {"success", "skipped"}, None if error is None else error),
                start_time=_ns(t.start),
                end_time=_ns(t.end),
            )
        )
    return spans


def _run_attributes(trace: RunTrace) -> dict[str, str]:
    values = {
        "pinflow.dag_id": trace.dag_id,
        "pinflow.run_id": trace.run_id,
        "pinflow.run_type": trace.run_type,
        "pinflow.state": trace.state,
        "pinflow.snapshot_digest": trace.snapshot_digest,
        "pinflow.version_id": trace.version_id,
    }
    return {k: v for k, v in values.items() if v is not None}


def _try_attributes(trace: RunTrace, t: TryTrace) -> dict[str, str | int]:
    values: dict[str, str | int | None] = {
        "pinflow.dag_id": trace.dag_id,
        "pinflow.run_id": trace.run_id,
        "pinflow.task_id": t.task_id,
        "pinflow.map_index": t.map_index,
        "pinflow.try_number": t.try_number,
        "pinflow.state": t.state,
        "host.name": t.hostname,
        "pinflow.error": (t.error or "")[:ERROR_ATTRIBUTE_LIMIT] or None,
    }
    return {k: v for k, v in values.items() if v is not None}


def export(traces: Sequence[RunTrace], exporter: Any) -> int:
    """Send the traces' spans to ``exporter`` (a ``SpanExporter``); returns how many spans.
    Raises ``RuntimeError`` when the exporter reports a failure (the backend said no)."""
    spans = [span for trace in traces for span in spans_of(trace)]
    if not spans:
        return 0
    result = exporter.export(spans)
    if result.name != "SUCCESS":
        raise RuntimeError(f"the span exporter reported {result.name}")
    return len(spans)
