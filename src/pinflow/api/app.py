"""The FastAPI application factory. No global state: the database and the auth configuration
live on ``app.state``, so tests and servers can build as many apps as they need."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pinflow import __version__
from pinflow.api import auth, errors, metrics
from pinflow.api.body_limit import BodyLimit
from pinflow.api.routes import (
    canary,
    dags,
    execution,
    health,
    push,
    users,
    v2_assets,
    v2_backfills,
    v2_charts,
    v2_dag_tasks,
    v2_dags,
    v2_misc,
    v2_resources,
    v2_runs,
    v2_tasks,
    workflows,
)
from pinflow.api.routes.execution import PREFIX as EXECUTION_PREFIX
from pinflow.services.engine import TryTokens
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.ui.routes import mount_ui


def create_app(
    db: Database, settings: Settings, *, auth_config: auth.AuthConfig | None = None
) -> FastAPI:
    """The API for ``db``. ``auth_config`` overrides what ``settings`` give (tests, embedding)."""
    app = FastAPI(
        title="Pinflow",
        version=__version__,
        description="Workflows as immutable, versioned artifacts. Airflow's public API under "
        "/api/v2, the versioning lifecycle under /api/workflows.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.db = db
    app.state.settings = settings
    app.state.auth = auth_config or auth.auth_config(settings)
    # Try tokens (the execution API's) are signed with a key derived from the same secret.
    ttl = timedelta(seconds=settings.execution_token_ttl)
    app.state.try_tokens = TryTokens(app.state.auth.jwt_secret, ttl)
    errors.install_error_handlers(app)
    app.add_middleware(
        BodyLimit, paths=push.BODY_LIMITED_PATHS, max_bytes=settings.max_push_body_bytes
    )
    # Remote workers, authenticated by try tokens. First: routes are matched in order, and
    # these take several calls per try (their prefix is their own, so nothing else moves).
    app.include_router(execution.router)
    routers = (auth.router, health.router, workflows.router, push.router, users.router)
    for router in (*routers, dags.router):
        app.include_router(router)
    app.include_router(canary.router)  # /api/workflows/{id}/canary (ADR 0030)
    v2_routers = (v2_dags, v2_dag_tasks, v2_runs, v2_tasks, v2_misc, v2_resources, v2_charts)
    for v2 in (*v2_routers, v2_assets, v2_backfills):
        app.include_router(v2.router)
    metrics.install(app, db, settings)  # /metrics (Prometheus), with the 'metrics' extra
    mount_ui(app)  # the web UI at /ui (pages, static files); after the error handlers
    trust_proxies(app, settings.trusted_proxies)
    return app


def trust_proxies(app: FastAPI, trusted: str) -> None:
    """Honour ``X-Forwarded-For`` (and ``-Proto``) from the listed proxies only (uvicorn's own
    middleware, which takes addresses and CIDRs). uvicorn's servers are started with
    ``proxy_headers=False``, so that without this setting the socket address is the client's
    (uvicorn would otherwise trust any local process to forward one)."""
    hosts = [item.strip() for item in trusted.split(",") if item.strip()]
    if hosts:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=hosts)


def build_app() -> FastAPI:
    """The app from the environment: ``uvicorn --factory pinflow.api.app:build_app``.

    The schema must be migrated first (``pinflow db migrate``); the API never migrates on its
    own, so that several servers starting at once do not race on it.
    """
    settings = Settings()
    quiet_execution_access_log()
    return create_app(Database(settings.database_url), settings)


class _ExecutionCallsAnswered(logging.Filter):
    """Drops the access log line of an execution API call that succeeded: workers make
    several per try (start, heartbeats, logs, result), and the try's own record says more.
    Failed calls (4xx, 5xx) and every other route are logged as before."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            path, status = args[2], args[4]
            if isinstance(path, str) and path.startswith(EXECUTION_PREFIX):
                return not (isinstance(status, int) and status < 400)
        return True


def quiet_execution_access_log() -> None:
    """Install ``_ExecutionCallsAnswered`` on uvicorn's access log (once per process)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _ExecutionCallsAnswered) for f in access.filters):
        access.addFilter(_ExecutionCallsAnswered())
