"""The login throttle (issue #19, point 2): per account and address, per address, per account,
with exponential backoff, in the database, behind trusted proxies only; failures audited as
counted rows, not one row per attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from httpx import Response
from pydantic import ValidationError
from sqlalchemy import func, select, update
from tests.api.helpers import PASSWORD, client_for, make_app, make_user

from pinflow.lifecycle.login_throttle import DEFAULT_THROTTLE as LIMITS
from pinflow.services.commands import _users as users
from pinflow.services.reads import _audit_log as audit_log
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent, LoginAttempt


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def app(db: Database, tmp_path: Path) -> FastAPI:
    make_user(db, "alice", password=PASSWORD)
    return make_app(db, tmp_path)


def _login(
    app: FastAPI,
    username: str,
    password: str,
    host: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"username": username, "password": password}
    return client_for(app, host).post("/auth/token", json=body, headers=headers or {})


def _age_failures(db: Database, by: timedelta) -> None:
    """Move every recorded failure ``by`` into the past (time passing, deterministically)."""
    with db.transaction() as s:
        for row in s.scalars(select(LoginAttempt)):
            row.at -= by


def _retry_after(response: Response) -> int:
    assert response.status_code == 429, response.text
    return int(response.headers["Retry-After"])


def test_spraying_usernames_from_one_address_is_slowed(app: FastAPI) -> None:
    for n in range(LIMITS.max_client_failures):
        assert _login(app, f"user{n}", "guess-password").status_code == 401
    sprayed = _login(app, "alice", PASSWORD)  # even a right password, from that address
    assert 1 <= _retry_after(sprayed) <= LIMITS.base_delay.total_seconds()
    assert sprayed.json()["detail"].startswith("Too many failed login attempts")
    assert _login(app, "alice", PASSWORD, host="10.1.1.1").status_code == 201


def test_an_account_under_attack_still_lets_its_owner_in(app: FastAPI) -> None:
    attackers = [f"198.51.100.{n}" for n in range(LIMITS.max_account_failures)]
    for host in attackers:  # each address stays far below its own limits
        assert _login(app, "alice", "guess-password", host=host).status_code == 401
    assert _retry_after(_login(app, "alice", "another-guess", host=attackers[0])) >= 1
    assert _login(app, "alice", PASSWORD, host="192.0.2.7").status_code == 201
    assert _login(app, "nobody", "guess-password", host=attackers[0]).status_code == 401


def test_the_wait_doubles_with_each_failure_past_the_limit(app: FastAPI, db: Database) -> None:
    base = int(LIMITS.base_delay.total_seconds())
    for _ in range(LIMITS.max_failures):
        assert _login(app, "alice", "guess-password").status_code == 401
    waits = []
    for _ in range(3):
        wait = _retry_after(_login(app, "alice", PASSWORD))
        waits.append(wait)
        _age_failures(db, timedelta(seconds=wait + 1))  # the wait passes
        assert _login(app, "alice", "guess-password").status_code == 401
    assert waits == [base, 2 * base, 4 * base]
    _age_failures(db, LIMITS.max_delay)
    assert _login(app, "alice", PASSWORD).status_code == 201


def test_refusals_while_throttled_do_not_extend_the_wait(app: FastAPI, db: Database) -> None:
    for _ in range(LIMITS.max_failures):
        _login(app, "alice", "guess-password")
    for _ in range(5):
        assert _login(app, "alice", "guess-password").status_code == 429
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(LoginAttempt)) == LIMITS.max_failures


def test_the_limit_holds_across_api_servers(app: FastAPI, db: Database, tmp_path: Path) -> None:
    other = make_app(db, tmp_path / "second")
    for _ in range(LIMITS.max_failures):
        assert _login(app, "alice", "guess-password").status_code == 401
    assert _retry_after(_login(other, "alice", PASSWORD)) >= 1


def test_repeated_failures_are_one_counted_audit_row(app: FastAPI, db: Database) -> None:
    for _ in range(LIMITS.max_failures):
        _login(app, "alice", "guess-password")
    for _ in range(3):
        _login(app, "alice", "guess-password")
    _login(app, "alice", "guess-password", host="10.2.2.2")
    events, _ = audit_log.query_audit(db, action="auth.login_failed")
    counted = sorted((e.meta["client"], e.meta["reason"], e.meta["count"]) for e in events)
    assert counted == [
        ("10.2.2.2", "bad_password", 1),
        ("127.0.0.1", "bad_password", LIMITS.max_failures),
        ("127.0.0.1", "throttled", 3),
    ]
    with db.transaction() as s:  # an hour later, a new row starts
        s.execute(update(AuditEvent).values(at=datetime.now(UTC) - LIMITS.window))
    _age_failures(db, LIMITS.window)
    _login(app, "alice", "guess-password")
    events, _ = audit_log.query_audit(db, action="auth.login_failed")
    assert len(events) == 4
    assert events[0].meta["count"] == 1


def test_forwarded_for_is_ignored_without_trusted_proxies(app: FastAPI, db: Database) -> None:
    for n in range(LIMITS.max_failures):
        spoofed = {"X-Forwarded-For": f"203.0.113.{n}"}
        assert _login(app, "alice", "guess-password", headers=spoofed).status_code == 401
    fresh = {"X-Forwarded-For": "203.0.113.99"}
    assert _login(app, "alice", PASSWORD, headers=fresh).status_code == 429
    with db.read() as s:
        assert set(s.scalars(select(LoginAttempt.client))) == {"127.0.0.1"}


def test_a_trusted_proxy_names_the_client(db: Database, tmp_path: Path) -> None:
    make_user(db, "alice", password=PASSWORD)
    app = make_app(db, tmp_path, trusted_proxies="10.0.0.0/8, 127.0.0.1")
    behind = {"X-Forwarded-For": "203.0.113.5"}
    for _ in range(LIMITS.max_failures):
        assert _login(app, "alice", "guess-password", headers=behind).status_code == 401
    assert _login(app, "alice", PASSWORD, headers=behind).status_code == 429
    other_client = {"X-Forwarded-For": "203.0.113.6"}
    assert _login(app, "alice", PASSWORD, headers=other_client).status_code == 201
    untrusted = {"X-Forwarded-For": "203.0.113.6"}  # a client that is no proxy of ours
    assert (
        _login(app, "alice", "guess-password", host="192.0.2.1", headers=untrusted).status_code
        == 401
    )
    with db.read() as s:
        assert set(s.scalars(select(LoginAttempt.client))) == {"203.0.113.5", "192.0.2.1"}


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"'proxy\.example' is not an IP address or CIDR"):
        Settings(home=tmp_path, trusted_proxies="10.0.0.1,proxy.example")


def test_the_ui_login_form_is_throttled_alike(app: FastAPI) -> None:
    for _ in range(LIMITS.max_failures):
        assert _login(app, "alice", "guess-password").status_code == 401
    form = {"username": "alice", "password": PASSWORD, "next": "/ui/workflows"}
    page = client_for(app).post("/ui/login", data=form, headers={"Origin": "http://testserver"})
    assert page.status_code == 429
    assert int(page.headers["Retry-After"]) >= 1
    assert "Too many failed login attempts" in page.text
