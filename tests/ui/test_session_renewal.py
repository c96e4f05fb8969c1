"""The UI's sliding session (issue #14, point 3): the cookie is renewed as it is used, ends
after the idle timeout without use, and never outlives the maximum age after login."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI
from tests.api.helpers import JWT_SECRET, PASSWORD, SyncASGITransport, make_user

from pinflow.api.app import create_app
from pinflow.api.auth import AuthConfig, issue_access_token
from pinflow.services.commands import _users as users
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.ui.session_cookie import COOKIE, RENEW_AFTER

IDLE, MAX_AGE = timedelta(hours=8), timedelta(days=7)
CONFIG = AuthConfig(jwt_secret=JWT_SECRET, ui_idle_timeout=IDLE, ui_max_age=MAX_AGE)


@pytest.fixture
def app(db: Database, tmp_path: Path) -> FastAPI:
    make_user(db, "alice", password=PASSWORD)
    return create_app(db, Settings(home=tmp_path), auth_config=CONFIG)


def _client(app: FastAPI, token: str | None = None) -> httpx.Client:
    cookies = {} if token is None else {COOKIE: token}
    return httpx.Client(
        transport=SyncASGITransport(app), base_url="http://testserver", cookies=cookies
    )


def _claims(token: str) -> dict[str, int]:
    return dict(jwt.decode(token, JWT_SECRET, algorithms=["HS256"], issuer="pinflow"))


def _cookie_token(db: Database, *, issued_ago: timedelta, login_ago: timedelta) -> str:
    """A session cookie's token as one issued ``issued_ago`` for a login ``login_ago``."""
    now = datetime.now(UTC)
    principal = users.principal_of_user(db, "alice")
    token = issue_access_token(CONFIG, principal, expiration=IDLE, session_start=now - login_ago)
    claims = _claims(token)
    shift = int(issued_ago.total_seconds())
    forged = {k: claims[k] - shift for k in ("iat", "nbf", "exp")}
    forged = {**claims, **forged}
    return jwt.encode(forged, JWT_SECRET, algorithm="HS256")


def _page(app: FastAPI, token: str) -> httpx.Response:
    return _client(app, token).get("/ui/workflows")


def test_login_sets_a_cookie_that_lives_the_idle_timeout(app: FastAPI) -> None:
    form = {"username": "alice", "password": PASSWORD, "next": "/ui/workflows"}
    response = _client(app).post("/ui/login", data=form, headers={"Origin": "http://testserver"})
    assert response.status_code == 303
    claims = _claims(response.cookies[COOKIE])
    assert claims["exp"] - claims["iat"] == IDLE.total_seconds()
    assert abs(claims["auth_time"] - claims["iat"]) <= 1
    assert f"Max-Age={int(IDLE.total_seconds())}" in response.headers["set-cookie"]


def test_an_active_session_is_renewed_with_the_same_login_time(app: FastAPI, db: Database) -> None:
    old = _cookie_token(db, issued_ago=timedelta(hours=2), login_ago=timedelta(days=1))
    response = _page(app, old)
    assert response.status_code == 200
    renewed = response.cookies[COOKIE]
    assert renewed != old
    assert _claims(renewed)["exp"] > _claims(old)["exp"]
    assert _claims(renewed)["auth_time"] == _claims(old)["auth_time"]
    assert "HttpOnly" in response.headers["set-cookie"]


def test_a_fresh_cookie_is_not_renewed_on_every_request(app: FastAPI, db: Database) -> None:
    fresh = _cookie_token(db, issued_ago=RENEW_AFTER / 2, login_ago=timedelta(0))
    response = _page(app, fresh)
    assert response.status_code == 200
    assert COOKIE not in response.cookies


def test_the_script_token_request_renews_the_session_too(app: FastAPI, db: Database) -> None:
    old = _cookie_token(db, issued_ago=timedelta(hours=1), login_ago=timedelta(hours=1))
    response = _client(app, old).get("/ui/session/token", headers={"x-pinflow-ui": "1"})
    assert response.status_code == 200
    assert _claims(response.cookies[COOKIE])["exp"] > _claims(old)["exp"]


def test_an_idle_session_ends(app: FastAPI, db: Database) -> None:
    idle = _cookie_token(db, issued_ago=IDLE + timedelta(minutes=1), login_ago=IDLE * 2)
    response = _page(app, idle)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/login")


def test_renewal_never_passes_the_maximum_age(app: FastAPI, db: Database) -> None:
    almost = MAX_AGE - timedelta(minutes=30)
    old = _cookie_token(db, issued_ago=timedelta(hours=1), login_ago=almost)
    response = _page(app, old)
    assert response.status_code == 200
    claims = _claims(response.cookies[COOKIE])
    assert claims["exp"] <= claims["auth_time"] + MAX_AGE.total_seconds()
    spent = _cookie_token(db, issued_ago=timedelta(hours=1), login_ago=MAX_AGE)
    response = _page(app, spent)
    assert response.status_code == 200  # the token itself has not expired yet…
    assert COOKIE not in response.cookies  # …but it is not renewed past the maximum age


def test_the_session_settings_reach_the_auth_config(tmp_path: Path) -> None:
    from pinflow.api.auth import auth_config

    settings = Settings(home=tmp_path, ui_session_idle_timeout=600, ui_session_max_age=3600)
    config = auth_config(settings)
    assert (config.ui_idle_timeout, config.ui_max_age) == (
        timedelta(minutes=10),
        timedelta(hours=1),
    )
    defaults = auth_config(Settings(home=tmp_path / "d"))
    assert (defaults.ui_idle_timeout, defaults.ui_max_age) == (IDLE, MAX_AGE)
