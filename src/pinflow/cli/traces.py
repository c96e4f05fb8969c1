"""``pinflow traces export``: finished runs as OpenTelemetry traces (the ``otel`` extra).

It reads the database directly (like ``pinflow db``) and sends with the OTLP/HTTP exporter,
configured by OpenTelemetry's own variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_HEADERS``…), or prints the spans with ``--console``.
"""

from __future__ import annotations

import importlib
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from pinflow.cli.common import ExitCode, err, fail
from pinflow.cli.maintenance import cut_off
from pinflow.cli.server import HOME_OPTION, load_settings, require_migrated


@click.group()
def traces() -> None:
    """OpenTelemetry traces of runs (pip install 'pinflow[otel]')."""


@traces.command("export")
@click.option("--dag", "dag_id", default=None, help="Runs of this DAG.")
@click.option("--run", "run_id", default=None, help="This run (with --dag).")
@click.option("--since", default=None, callback=cut_off, help="Runs that ended since (ISO 8601).")
@click.option("--console", is_flag=True, help="Print the spans as JSON instead of sending them.")
@HOME_OPTION
def export_cmd(
    dag_id: str | None, run_id: str | None, since: datetime | None, console: bool, home: Path | None
) -> None:
    """Export finished runs as traces: a span per run and one per try, from the recorded times;
    ids derived from dag_id/run_id, so exporting a run again sends the same spans.

    \b
    Examples:
      pinflow traces export --dag example_etl --run manual__2026-12-07 --console
      OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 pinflow traces export --since 2026-12-06
    """
    from pinflow.extras import OTEL, require
    from pinflow.services import tracing
    from pinflow.services.reads import traces as run_traces
    from pinflow.store.db import Database

    if (run_id is None) == (since is None):
        fail("Give --run (with --dag) or --since.", ExitCode.USAGE)
    if run_id is not None and dag_id is None:
        fail("--run needs --dag.", ExitCode.USAGE)
    require(OTEL)
    settings = load_settings(home)
    require_migrated(settings)
    database = Database(settings.database_url)
    try:
        if run_id is not None and dag_id is not None:
            keys = [(dag_id, run_id)]
        else:
            assert since is not None
            keys = run_traces.finished_since(database, since, dag_id)
        found = [run_traces.run_trace(database, d, r) for d, r in keys]
    finally:
        database.dispose()
    exporter = _exporter(console)
    try:
        sent = tracing.export(found, exporter)
    except RuntimeError as exc:
        fail(f"Traces not exported: {exc}.", hint="Check OTEL_EXPORTER_OTLP_ENDPOINT.")
    finally:
        exporter.shutdown()
    err.print(f"Exported {len(found)} run(s), {sent} span(s).")


def _exporter(console: bool) -> Any:
    if console:
        module: Any = importlib.import_module("opentelemetry.sdk.trace.export")
        return module.ConsoleSpanExporter(out=sys.stdout)
    otlp: Any = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    return otlp.OTLPSpanExporter()
