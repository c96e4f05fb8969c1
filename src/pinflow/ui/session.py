"""Signing in and out of the web UI, and who the viewer of a page is (ADR 0005).

A JWT like the one ``POST /auth/token`` issues is kept in an HttpOnly cookie (``pinflow_token``,
SameSite=Lax; it slides: ``session_cookie``), which authenticates *page loads only*: every
page is a GET without side effects.
The JSON API never reads the cookie. The page's script asks ``GET /ui/session/token`` for a
short-lived JWT of the same user, keeps it in memory, and sends it as ``Authorization: Bearer``
on every API call, so a cross-site request (which carries the cookie but cannot read that
answer, nor set the header without a CORS preflight that fails) can change nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from pinflow.api.auth import (
    client_address,
    get_auth,
    get_db,
    issue_access_token,
    session_of_token,
)
from pinflow.errors import AuthenticationError, LoginThrottledError, PermissionDeniedError
from pinflow.lifecycle.permissions import Principal
from pinflow.services.commands import logins, users
from pinflow.ui.session_cookie import COOKIE, renew_if_due, set_session_cookie
from pinflow.ui.templating import render, secure

SCRIPT_TOKEN_LIFETIME = timedelta(minutes=10)
SCRIPT_HEADER = "x-pinflow-ui"  # a custom header: cross-origin, it needs a preflight
HOME = "/ui/workflows"
LOGIN = "/ui/login"

router = APIRouter(prefix="/ui", include_in_schema=False)
root_router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):  # noqa: N818 - a signal, not an error
    """Raised by page dependencies; the handler redirects to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def _principal_from_cookie(request: Request) -> Principal | None:
    """The cookie's user; the session slides on (``session_cookie``) as it is used."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    config = get_auth(request)
    try:
        principal, subject = session_of_token(get_db(request), config, token)
    except AuthenticationError:
        return None
    renew_if_due(request, config, principal, subject)
    return principal


def page_user(request: Request) -> Principal:
    """The viewer of a page; without a valid session, a redirect to the login page."""
    principal = _principal_from_cookie(request)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return principal


PageUser = Annotated[Principal, Depends(page_user)]


def safe_next(value: str | None) -> str:
    """Only a path of this UI: never another site (``//evil``, ``https://…``)."""
    if not value or not value.startswith("/ui/") or value.startswith("//") or "\\" in value:
        return HOME
    return value


def same_origin(request: Request) -> bool:
    """A form post from our own pages (login CSRF and forced logout are refused)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return request.headers.get("sec-fetch-site") in (None, "same-origin", "none")
    return urlsplit(origin).netloc == request.headers.get("host", "")


def login_redirect(exc: LoginRequired) -> Response:
    response = RedirectResponse(f"{LOGIN}?{urlencode({'next': exc.next_url})}", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return secure(response)


@root_router.get("/")
def root() -> Response:
    return RedirectResponse(HOME, status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", user=None, next=safe_next(next), error=None, username="")


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=250)],
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """What ``POST /auth/token`` does (same throttle, same audit of failures), then the cookie."""
    target = safe_next(next)
    if not same_origin(request):
        raise PermissionDeniedError("Cross-site login refused.")
    config = get_auth(request)
    try:
        principal = logins.authenticate(
            get_db(request),
            username,
            password,
            client=client_address(request),
            throttle=config.throttle,
        )
    except (AuthenticationError, LoginThrottledError) as exc:
        page = render(
            request,
            "login.html",
            user=None,
            next=target,
            error=exc.message,
            username=username,
            status_code=429 if isinstance(exc, LoginThrottledError) else 401,
        )
        if isinstance(exc, LoginThrottledError):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, config, principal, start=datetime.now(UTC))
    return secure(response)


@router.post("/logout")
def logout(request: Request) -> Response:
    if not same_origin(request):
        raise PermissionDeniedError("Cross-site logout refused.")
    response = RedirectResponse(LOGIN, status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return secure(response)


@router.get("/session/token")
def script_token(request: Request, user: PageUser) -> Response:
    """A short-lived JWT for the page's script (kept in memory, sent as a Bearer header)."""
    if request.headers.get(SCRIPT_HEADER) != "1":
        raise PermissionDeniedError(f"The {SCRIPT_HEADER} header is required.")
    config = get_auth(request)
    body = {
        "access_token": issue_access_token(config, user, expiration=SCRIPT_TOKEN_LIFETIME),
        "token_type": "bearer",
        "expires_in": int(SCRIPT_TOKEN_LIFETIME.total_seconds()),
    }
    return secure(JSONResponse(body))
