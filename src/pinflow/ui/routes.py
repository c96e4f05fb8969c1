"""Mounting the web UI on the API's app: pages, the designer's helper, static files, and how
errors look on a page (an HTML page, or a redirect to the login page) rather than JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from pinflow.errors import PinflowError
from pinflow.ui import (
    designer,
    pages_assets,
    pages_audit,
    pages_canary,
    pages_cluster,
    pages_dags,
    pages_lineage,
    pages_runs,
    pages_workflows,
    session,
)
from pinflow.ui.session import LoginRequired, login_redirect
from pinflow.ui.session_cookie import RenewSessionCookie
from pinflow.ui.templating import render

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/ui/static"
# Answered in JSON even under /ui: called by the page's script, not opened as pages.
_SCRIPT_PATHS = ("/ui/api/", "/ui/session/")
_TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Conflict"}


def _is_page(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/ui/") and not path.startswith(_SCRIPT_PATHS)


Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


async def _answer(handler: Handler, request: Request, exc: Exception) -> Response:
    response = handler(request, exc)
    return response if isinstance(response, Response) else await response


def _page_errors(json_handler: Handler) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Pages get an HTML page with the API's status and message; the rest, the API's JSON."""

    async def handler(request: Request, exc: Exception) -> Response:
        json_response = await _answer(json_handler, request, exc)
        if not _is_page(request) or not isinstance(exc, PinflowError):
            return json_response
        status = json_response.status_code
        return render(
            request,
            "error.html",
            user=None,
            status_code=status,
            title=_TITLES.get(status, "Error"),
            message=exc.message,
        )

    return handler


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return login_redirect(exc)


def mount_ui(app: FastAPI) -> None:
    """Add the UI to ``app``; call after the API's error handlers are installed."""
    for router in (
        session.root_router,
        session.router,
        pages_dags.router,
        pages_lineage.router,
        pages_workflows.router,
        pages_canary.router,
        pages_runs.router,
        pages_audit.router,
        pages_cluster.router,
        pages_assets.router,
        designer.router,
    ):
        app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.add_middleware(RenewSessionCookie)
    json_handler = cast(Handler | None, app.exception_handlers.get(PinflowError))
    if json_handler is None:
        raise RuntimeError("mount_ui() needs the API's error handlers installed first.")
    app.add_exception_handler(PinflowError, _page_errors(json_handler))
    app.add_exception_handler(LoginRequired, _login_required)
