"""Jinja2 rendering for the pages: one environment, autoescaped, strict about missing names,
and every page sent with headers that keep it self-contained (CSP: no inline script, nothing
from another origin)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from pinflow import __version__
from pinflow.lifecycle.permissions import Permission, Principal, allows, allows_somewhere

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATUS_BADGES = {
    "draft": "badge-info",
    "active": "badge-success",
    "deprecated": "badge-danger",  # seed 001: deprecated shows red/danger
}
# The theme the viewer chose (ADR 0029): a plain cookie the page script sets, read here so the
# page arrives with it (no flash of the other theme). Anything else counts as "system".
THEME_COOKIE = "pinflow_theme"
THEMES = ("light", "dark", "system")
_MINUTE = 60
_HOUR = 3600


def fmt_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return fmt_seconds((end - start).total_seconds())


def fmt_seconds(seconds: float | None) -> str:
    """``4.2s``, ``3m 07s``, ``2h 05m``; ``—`` for an unknown length."""
    if seconds is None:
        return "—"
    seconds = max(seconds, 0.0)
    if seconds < _MINUTE:
        return f"{seconds:.1f}s"
    if seconds < _HOUR:
        return f"{int(seconds // _MINUTE)}m {int(seconds % _MINUTE):02d}s"
    return f"{int(seconds // _HOUR)}h {int(seconds % _HOUR // _MINUTE):02d}m"


def path_part(value: object) -> str:
    """One URL path segment (a run id may hold ``:`` and ``+``)."""
    return quote(str(value), safe="")


def compact_json(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def query_string(params: dict[str, Any], **changes: Any) -> str:
    """``?a=1&b=2`` from the page's filters with ``changes`` applied (``None`` drops a key)."""
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v not in (None, "", False)}
    return "?" + urlencode(kept, doseq=True) if kept else "?"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pinflow.ui", "templates"),
        autoescape=select_autoescape(["html", "svg"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        dt=fmt_datetime, q=path_part, compact=compact_json, short=lambda d: (d or "")[:12]
    )
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    env.globals.update(
        duration=fmt_duration,
        badge=lambda status: STATUS_BADGES.get(str(status), "badge-muted"),
        query=query_string,
        version=__version__,
        Permission=Permission,
    )
    return env


def can(principal: Principal | None, permission: Permission, project: str | None = None) -> bool:
    if principal is None:
        return False
    if project is None:
        return allows_somewhere(principal, permission)
    return allows(principal, permission, project)


def theme_of(request: Request) -> str:
    chosen = request.cookies.get(THEME_COOKIE, "")
    return chosen if chosen in THEMES else "system"


def render_text(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def render(
    request: Request,
    template: str,
    *,
    user: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = render_text(
        template,
        request=request,
        theme=theme_of(request),
        user=user,
        can=lambda permission, project=None: can(user, permission, project),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    secure(response)
    return response
