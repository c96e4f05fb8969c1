"""``GET /metrics``: Prometheus metrics, with the ``metrics`` extra (prometheus-client).

Each scrape reads the database: runs, task instances and tries by state, the depth of every
queue, and each scheduler's loop time as its heartbeat row last published it
(``pinflow.scheduler.safety.LoopStats``). So any API server answers for the whole
installation, with schedulers in other processes or on other hosts. API request latency is
this process's own: a histogram per method, route template (never the raw path: one series
per run id would be unbounded) and status.

Without the extra, ``prometheus_client`` is never imported and ``/metrics`` answers 501 with
what to install. Access: a bearer token of any user, or an address in
``PINFLOW_METRICS_ALLOW_FROM`` (docs/adr/0020-backup-retention-metrics.md says why).
"""

from __future__ import annotations

import importlib
import ipaddress
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pinflow.api import auth
from pinflow.errors import InvalidInputError
from pinflow.extras import METRICS, MissingExtraError, require
from pinflow.services.reads import fleet, metrics
from pinflow.settings import Settings
from pinflow.store.db import Database

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Seconds: API calls are mostly milliseconds; pushes and big pages take longer.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class _Exporter:
    registry: Any  # prometheus_client.CollectorRegistry
    latency: Any  # its Histogram of API requests
    render: Any  # prometheus_client.generate_latest
    content_type: str


def allowed_networks(setting: str) -> tuple[Network, ...]:
    """``PINFLOW_METRICS_ALLOW_FROM`` parsed; a bad entry is refused at start, by name."""
    networks = []
    for entry in (part.strip() for part in setting.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise InvalidInputError(
                f"PINFLOW_METRICS_ALLOW_FROM: {entry!r} is not an address or network "
                "(e.g. 10.0.0.0/8, 127.0.0.1, ::1)"
            ) from None
    return tuple(networks)


def install(app: FastAPI, db: Database, settings: Settings) -> None:
    """Add ``/metrics`` and, with the extra, the latency middleware."""
    app.state.metrics_networks = allowed_networks(settings.metrics_allow_from)
    try:
        prom = require(METRICS)
    except MissingExtraError as exc:
        app.state.metrics = None
        app.state.metrics_missing = exc.message
    else:
        registry = prom.CollectorRegistry(auto_describe=False)
        latency = prom.Histogram(
            "pinflow_api_request_duration_seconds",
            "API requests by method, route template and status (this API server's).",
            ["method", "route", "status"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        registry.register(_DatabaseCollector(db, settings.scheduler_health_threshold))
        app.state.metrics = _Exporter(
            registry, latency, prom.generate_latest, prom.CONTENT_TYPE_LATEST
        )
        app.add_middleware(_Timing, latency=latency)
    app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)


def scrape(request: Request, credentials: auth.CredentialsDep) -> Response:
    client = request.client.host if request.client else None
    if not _allowed_anonymously(client, request.app.state.metrics_networks):
        auth.current_principal(request, credentials)  # 401 without a valid token
    exporter: _Exporter | None = request.app.state.metrics
    if exporter is None:
        return Response(request.app.state.metrics_missing, status_code=501)
    return Response(exporter.render(exporter.registry), media_type=exporter.content_type)


def _allowed_anonymously(client: str | None, networks: tuple[Network, ...]) -> bool:
    if client is None or not networks:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:  # e.g. "testclient"
        return False
    return any(address in network for network in networks)


class _Timing:
    """Pure ASGI middleware (no body buffering): time each HTTP request to its last byte."""

    def __init__(self, app: ASGIApp, latency: Any) -> None:
        self.app = app
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            labels = self.latency.labels(scope["method"], route, str(status))
            labels.observe(time.perf_counter() - started)


class _DatabaseCollector:
    """The installation's figures, read from the database at each scrape."""

    def __init__(self, db: Database, threshold: float) -> None:
        self.db = db
        self.threshold = threshold

    def collect(self) -> Iterator[Any]:
        require(METRICS)
        core = importlib.import_module("prometheus_client.core")
        up = core.GaugeMetricFamily(
            "pinflow_metadatabase_up", "Whether this scrape could read the metadata database."
        )
        try:
            counts = metrics.state_counts(self.db)
            seen = fleet.fleet(self.db, threshold=self.threshold)
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _state_families(core, counts)
        yield from _scheduler_families(core, seen)


def _by_state(core: Any, name: str, doc: str, values: dict[str, int]) -> Any:
    family = core.GaugeMetricFamily(name, doc, labels=["state"])
    for state, count in sorted(values.items()):
        family.add_metric([state], count)
    return family


def _state_families(core: Any, counts: metrics.StateCounts) -> Iterator[Any]:
    yield _by_state(core, "pinflow_dag_runs", "Runs by state.", counts.runs)
    yield _by_state(
        core, "pinflow_task_instances", "Task instances by state.", counts.task_instances
    )
    yield _by_state(core, "pinflow_task_tries", "Tries (task_instance_try) by state.", counts.tries)
    depth = core.GaugeMetricFamily(
        "pinflow_queue_depth",
        "Task instances waiting, by queue: for a slot (scheduled) or a worker (queued).",
        labels=["queue", "state"],
    )
    for (queue, state), count in sorted(counts.queue_depth.items()):
        depth.add_metric([queue, state], count)
    yield depth


def _scheduler_families(core: Any, seen: fleet.FleetView) -> Iterator[Any]:
    labels = ["scheduler"]
    loop = core.SummaryMetricFamily(
        "pinflow_scheduler_loop_seconds",
        "Time a scheduler's loop works per turn (its wait excluded), since it started.",
        labels=labels,
    )
    last = core.GaugeMetricFamily(
        "pinflow_scheduler_loop_last_seconds", "A scheduler's last loop turn.", labels=labels
    )
    slowest = core.GaugeMetricFamily(
        "pinflow_scheduler_loop_max_seconds", "A scheduler's slowest loop turn.", labels=labels
    )
    live = core.GaugeMetricFamily(
        "pinflow_scheduler_live_tries", "Tries a scheduler's executor runs now.", labels=labels
    )
    healthy = core.GaugeMetricFamily(
        "pinflow_scheduler_healthy", "1 while a scheduler's heartbeat is fresh.", labels=labels
    )
    age = core.GaugeMetricFamily(
        "pinflow_scheduler_heartbeat_age_seconds",
        "Since a scheduler's last heartbeat.",
        labels=labels,
    )
    for scheduler in seen.schedulers:
        if scheduler.status == "stopped":
            continue
        key = [scheduler.id]
        stats = scheduler.info.get("loop_seconds") or {}
        loop.add_metric(key, count_value=stats.get("count", 0), sum_value=stats.get("sum", 0.0))
        last.add_metric(key, stats.get("last", 0.0))
        slowest.add_metric(key, stats.get("max", 0.0))
        live.add_metric(key, scheduler.info.get("live_tries", 0))
        healthy.add_metric(key, 1 if scheduler.status == "healthy" else 0)
        age.add_metric(key, scheduler.age)
    yield from (loop, last, slowest, live, healthy, age)
