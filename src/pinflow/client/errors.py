"""``ClientError``: what went wrong talking to a Pinflow server, with the server's own words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClientError(Exception):
    """A refused or failed request. ``status`` is the HTTP status, ``None`` when no answer came
    (no server, timeout); ``message`` is the server's message (or ours); ``problems`` the
    located problems it listed; ``hint`` what the user can do about it."""

    message: str
    status: int | None = None
    detail: Any = None
    problems: list[dict[str, str]] = field(default_factory=list)
    hint: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def unreachable(self) -> bool:
        return self.status is None


def _detail_text(detail: Any) -> str:
    """FastAPI's 422 ``detail`` is a list of field errors: one ``loc: msg`` per error."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def _hint(status: int) -> str | None:
    if status == 401:
        return "Log in with `pinflow login`, or set PINFLOW_TOKEN (or pass --token)."
    if status == 403:
        return "Ask a project admin for a role that allows this (`pinflow users grant`)."
    if status == 429:
        return "Too many failed logins: wait a few minutes, then try again."
    return None


def from_response(status: int, body: Any, fallback: str) -> ClientError:
    """The error for a non-2xx answer; Pinflow's bodies are ``{"message": …}`` (its own API)
    or ``{"detail": …}`` (Airflow's), both with an optional ``problems`` list."""
    message, detail, problems = fallback, None, []
    if isinstance(body, dict):
        detail = body.get("detail")
        raw = body.get("message") or detail
        if raw:
            message = _detail_text(raw)
        problems = [p for p in body.get("problems") or [] if isinstance(p, dict)]
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    return ClientError(message, status=status, detail=detail, problems=problems, hint=_hint(status))
