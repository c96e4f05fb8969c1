"""The UI's sliding session (ADR 0018): the cookie's token lives ``ui_idle_timeout`` (8 h) and
is renewed, with a fresh token, on any page load or script-token request at least
``RENEW_AFTER`` after the last renewal, never past ``ui_max_age`` (7 d) after the login
(``auth_time``). An idle browser is logged out; an active one is not asked to log in again
until the maximum age.

A page's dependency decides the renewal (it has verified the cookie) and leaves the new
``Set-Cookie`` in the request's scope; ``RenewSessionCookie`` adds it to the response, since
pages return their own responses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pinflow.api.auth import AuthConfig, TokenSubject, issue_access_token
from pinflow.lifecycle.permissions import Principal

COOKIE = "pinflow_token"
RENEW_AFTER = timedelta(minutes=1)  # not a new cookie on every request
_RENEWAL = "pinflow.session_renewal"


def set_session_cookie(
    response: Response,
    request: Request,
    config: AuthConfig,
    principal: Principal,
    start: datetime,
) -> bool:
    """Put a session token for ``principal`` in ``response``'s cookie; ``False`` once the
    session is past its maximum age (nothing set)."""
    lifetime = min(config.ui_idle_timeout, start + config.ui_max_age - datetime.now(UTC))
    if lifetime <= timedelta(0):
        return False
    token = issue_access_token(config, principal, expiration=lifetime, session_start=start)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return True


def renew_if_due(
    request: Request, config: AuthConfig, principal: Principal, subject: TokenSubject
) -> None:
    """Leave a renewed cookie for ``RenewSessionCookie`` when the current one is old enough."""
    if datetime.now(UTC) - subject.issued_at < RENEW_AFTER:
        return
    carrier = Response()
    if set_session_cookie(carrier, request, config, principal, subject.session_start):
        request.scope[_RENEWAL] = carrier.headers["set-cookie"].encode("latin-1")


class RenewSessionCookie:
    """Adds the renewed session cookie a page's dependency left in the scope (pure ASGI, so
    streamed responses pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_renewed(message: Message) -> None:
            renewal = scope.get(_RENEWAL)
            if message["type"] == "http.response.start" and renewal is not None:
                headers = list(message.get("headers", []))
                if not any(k == b"set-cookie" and COOKIE.encode() in v for k, v in headers):
                    headers.append((b"set-cookie", renewal))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_renewed)
