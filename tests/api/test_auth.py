"""Logins, JWTs, throttling, API tokens, users and roles over HTTP."""

from __future__ import annotations

import json
import logging
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from httpx import Response
from sqlalchemy import update
from tests.api.helpers import (
    JWT_SECRET,
    PASSWORD,
    World,
    bearer,
    build_world,
    client_for,
    make_app,
    make_user,
    world_on,
)

from pinflow.api.auth import AuthConfig, auth_config, issue_access_token
from pinflow.lifecycle.permissions import Role
from pinflow.services.commands import _users as users
from pinflow.services.reads import _audit_log as audit_log
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.store.tables import ApiToken, LoginAttempt

BAD_LOGIN = {"detail": "Invalid username or password."}


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its lowest cost: the tests check behaviour, not the hash's strength."""
    monkeypatch.setattr(users, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def app(db: Database, tmp_path: Path) -> FastAPI:
    make_user(db, "alice", {"alpha": Role.EDITOR}, password=PASSWORD)
    make_user(db, "root", superuser=True, password=PASSWORD)
    return make_app(db, tmp_path)


def _login(app: FastAPI, username: str, password: str, host: str = "127.0.0.1") -> Response:
    return client_for(app, host).post(
        "/auth/token", json={"username": username, "password": password}
    )


def _failures(db: Database) -> list[dict[str, object]]:
    events, _ = audit_log.query_audit(db, action="auth.login_failed")
    return [e.meta for e in events]


# --- POST /auth/token --------------------------------------------------------------------------


def test_token_from_json_works_as_bearer(app: FastAPI) -> None:
    client = client_for(app)
    response = client.post("/auth/token", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"access_token", "token_type"}
    assert body["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/workflows", headers=headers).status_code == 200


def test_token_from_a_form(app: FastAPI) -> None:
    response = client_for(app).post("/auth/token", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 201
    claims = jwt.decode(response.json()["access_token"], JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == users.get_user(app.state.db, "alice").uid
    assert claims["name"] == "alice"


def test_bad_password_is_401_and_audited_without_the_password(app: FastAPI, db: Database) -> None:
    response = client_for(app).post(
        "/auth/token", json={"username": "alice", "password": "wrong-password-123"}
    )
    assert response.status_code == 401
    assert response.json() == BAD_LOGIN
    assert response.headers["WWW-Authenticate"] == "Bearer"
    [meta] = _failures(db)
    assert meta.pop("lastAt")
    assert meta == {
        "username": "alice",
        "client": "127.0.0.1",
        "reason": "bad_password",
        "count": 1,
    }
    events, _ = audit_log.query_audit(db, limit=1000)
    assert "wrong-password-123" not in json.dumps([e.meta for e in events])


def test_unknown_and_token_only_users_get_the_same_401(app: FastAPI, db: Database) -> None:
    make_user(db, "ci-bot")
    for name in ("nobody", "ci-bot"):
        response = client_for(app).post("/auth/token", json={"username": name, "password": "x"})
        assert response.status_code == 401
        assert response.json() == BAD_LOGIN
    assert [m["reason"] for m in _failures(db)] == ["disabled", "unknown_user"]


def test_throttle_after_five_failures_per_username_and_client(app: FastAPI, db: Database) -> None:
    for _ in range(5):
        assert _login(app, "alice", "bad-password").status_code == 401
    throttled = _login(app, "alice", PASSWORD)
    assert throttled.status_code == 429
    assert throttled.json()["detail"].startswith("Too many failed login attempts; try again in")
    assert 1 <= int(throttled.headers["Retry-After"]) <= 300
    assert _failures(db)[0]["reason"] == "throttled"
    assert _login(app, "alice", PASSWORD, host="10.0.0.9").status_code == 201
    assert _login(app, "root", PASSWORD).status_code == 201
    with db.transaction() as s:  # the window passes
        s.execute(update(LoginAttempt).values(at=datetime.now(UTC) - timedelta(minutes=6)))
    assert _login(app, "alice", PASSWORD).status_code == 201


def test_a_success_forgives_earlier_failures(app: FastAPI) -> None:
    for _ in range(2):
        for _ in range(4):
            _login(app, "alice", "bad-password")
        assert _login(app, "alice", PASSWORD).status_code == 201


@pytest.mark.parametrize(
    ("kwargs", "locations"),
    [
        ({"json": {"username": "alice"}}, [["body", "password"]]),
        (
            {"json": {"username": 5, "password": ["p"]}},
            [["body", "username"], ["body", "password"]],
        ),
        ({"json": []}, [["body"]]),
        ({"data": {"username": "alice"}}, [["body", "password"]]),
        ({"content": b"{oops", "headers": {"Content-Type": "application/json"}}, [["body"]]),
    ],
)
def test_bad_login_bodies_are_422_with_locations_and_no_echo(
    app: FastAPI, kwargs: dict[str, object], locations: list[list[object]]
) -> None:
    response = client_for(app).post("/auth/token", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == locations
    assert all("input" not in e for e in response.json()["detail"])


# --- bearer checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Not authenticated: send 'Authorization: Bearer <token>'."),
        ("Bearer garbage", "Invalid access token."),
        ("Basic YWxpY2U6cA==", "Not authenticated: send 'Authorization: Bearer <token>'."),
        ("Bearer pf_nope", "Invalid API token."),
        ("Bearer pf_abc_def", "Invalid API token."),
    ],
)
def test_missing_or_bad_credentials_are_401(app: FastAPI, header: str | None, message: str) -> None:
    headers = {"Authorization": header} if header else {}
    response = client_for(app).get("/api/tokens", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": message}


def test_expired_and_foreign_jwts_are_401(app: FastAPI) -> None:
    expired = AuthConfig(jwt_secret=JWT_SECRET, expiration=timedelta(minutes=-2))
    foreign = AuthConfig(jwt_secret="f" * 64)
    client = client_for(app)
    for config, message in (
        (expired, "The access token has expired; request a new one."),
        (foreign, "Invalid access token."),
    ):
        token = issue_access_token(config, users.principal_of_user(app.state.db, "alice"))
        response = client.get("/api/tokens", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json() == {"message": message}


def test_a_disabled_users_jwt_stops_working(app: FastAPI, db: Database) -> None:
    headers = bearer(app, "alice")
    assert client_for(app).get("/api/tokens", headers=headers).status_code == 200
    users.set_active(db, "alice", False, actor="root")
    response = client_for(app).get("/api/tokens", headers=headers)
    assert response.status_code == 401


def _session(app: FastAPI, username: str = "alice") -> dict[str, str]:
    """A real login's access token (it carries the user's token generation)."""
    login = _login(app, username, PASSWORD)
    assert login.status_code == 201, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _status(app: FastAPI, headers: dict[str, str]) -> int:
    return client_for(app).get("/api/tokens", headers=headers).status_code


def test_a_new_password_ends_the_sessions_the_old_one_opened(app: FastAPI, db: Database) -> None:
    before = _session(app)
    assert _status(app, before) == 200
    users.set_password(db, "alice", "a brand new long password", actor="root")
    refused = client_for(app).get("/api/tokens", headers=before)
    assert refused.status_code == 401
    assert refused.json() == {"message": users.ENDED}
    login = _login(app, "alice", "a brand new long password")
    assert login.status_code == 201, login.text
    assert _status(app, {"Authorization": f"Bearer {login.json()['access_token']}"}) == 200


def test_re_enabling_a_user_does_not_bring_back_old_sessions(app: FastAPI, db: Database) -> None:
    before = _session(app)
    users.set_active(db, "alice", False, actor="root")
    users.set_active(db, "alice", True, actor="root")
    assert _status(app, before) == 401
    assert _status(app, _session(app)) == 200


def test_logout_with_an_access_token_ends_every_session_of_the_user(
    app: FastAPI, db: Database
) -> None:
    laptop, phone, other = _session(app), _session(app), _session(app, "root")
    client = client_for(app)
    created = client.post("/api/tokens", json={"name": "ci"}, headers=laptop)
    api_token = {"Authorization": f"Bearer {created.json()['token']}"}
    assert client.post("/auth/logout", headers=laptop).status_code == 204
    assert (_status(app, laptop), _status(app, phone)) == (401, 401)
    assert _status(app, other) == 200  # another user's session is untouched
    assert _status(app, api_token) == 200  # API tokens are revoked one by one
    events, _ = audit_log.query_audit(db, action="user.sessions_ended")
    assert [(e.actor, e.target_id) for e in events] == [("alice", "alice")]


def test_logout_with_an_api_token_revokes_that_token_only(app: FastAPI) -> None:
    session = _session(app)
    client = client_for(app)
    created = client.post("/api/tokens", json={"name": "ci"}, headers=session)
    api_token = {"Authorization": f"Bearer {created.json()['token']}"}
    assert client.post("/auth/logout", headers=api_token).status_code == 204
    assert _status(app, api_token) == 401
    assert _status(app, session) == 200


def test_a_role_taken_away_or_changed_ends_the_users_sessions(app: FastAPI, db: Database) -> None:
    before = _session(app)
    users.grant_role(db, "alice", "beta", Role.VIEWER, actor="root")  # a new role: adds only
    assert _status(app, before) == 200
    users.grant_role(db, "alice", "beta", Role.VIEWER, actor="root")  # no change
    assert _status(app, before) == 200
    users.grant_role(db, "alice", "beta", Role.OPERATOR, actor="root")
    assert _status(app, before) == 401
    after_change = _session(app)
    users.revoke_role(db, "alice", "alpha", actor="root")
    refused = client_for(app).get("/api/tokens", headers=after_change)
    assert refused.status_code == 401
    assert refused.json() == {"message": users.ENDED}
    assert _status(app, _session(app)) == 200


def test_a_token_with_a_forged_generation_is_refused(app: FastAPI) -> None:
    claims = jwt.decode(
        _session(app)["Authorization"].removeprefix("Bearer "), options={"verify_signature": False}
    )
    assert claims["gen"] == 0
    forged = jwt.encode({**claims, "gen": "0"}, JWT_SECRET, algorithm="HS256")
    assert _status(app, {"Authorization": f"Bearer {forged}"}) == 401


# --- identities: tokens name an immutable user id (issue #19, point 1) --------------------------


def test_a_removed_users_token_stays_dead_when_the_name_is_taken_again(
    app: FastAPI, db: Database
) -> None:
    old = _session(app)  # alice, an editor
    old_uid = users.get_user(db, "alice").uid
    client, root = client_for(app), bearer(app, "root")
    assert client.delete("/api/users/alice", headers=root).status_code == 204
    assert _status(app, old) == 401
    again = {"username": "alice", "password": PASSWORD, "isSuperuser": True}
    created = client.post("/api/users", json=again, headers=root)
    assert created.status_code == 201
    assert created.json()["uid"] != old_uid
    refused = client.get("/api/users", headers=old)  # a superuser's route
    assert refused.status_code == 401
    assert refused.json() == {"message": "The user of this token no longer exists or is disabled."}
    assert client.get("/api/users", headers=_session(app)).status_code == 200
    events, _ = audit_log.query_audit(db, action="user.deleted")
    assert [(e.actor, e.target_id, e.meta) for e in events] == [("root", "alice", {"uid": old_uid})]


def test_removing_a_user_takes_their_api_tokens_and_roles(app: FastAPI, db: Database) -> None:
    token = users.create_api_token(db, "alice", "ci", actor="alice").secret
    client = client_for(app)
    assert client.delete("/api/users/alice", headers=bearer(app, "root")).status_code == 204
    assert _status(app, {"Authorization": f"Bearer {token}"}) == 401
    assert [u.username for u in users.list_users(db)] == ["root"]
    make_user(db, "alice", password=PASSWORD)
    assert users.get_user(db, "alice").roles == {}  # the old roles did not come back
    assert _status(app, {"Authorization": f"Bearer {token}"}) == 401


def test_only_superusers_remove_users_and_never_the_last_one(app: FastAPI, db: Database) -> None:
    client = client_for(app)
    denied = client.delete("/api/users/root", headers=bearer(app, "alice"))
    assert denied.status_code == 403
    missing = client.delete("/api/users/ghost", headers=bearer(app, "root"))
    assert missing.status_code == 404
    last = client.delete("/api/users/root", headers=bearer(app, "root"))
    assert last.status_code == 409
    assert "last active superuser" in last.json()["message"]
    make_user(db, "second", superuser=True)
    assert client.delete("/api/users/root", headers=bearer(app, "root")).status_code == 204
    assert [u.username for u in users.list_users(db)] == ["alice", "second"]


def test_a_token_issued_before_uids_is_refused_with_a_hint(app: FastAPI) -> None:
    stamp = datetime.now(UTC)
    claims = {"sub": "alice", "iss": "pinflow", "iat": stamp, "exp": stamp + timedelta(hours=1)}
    legacy = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    response = client_for(app).get("/api/tokens", headers={"Authorization": f"Bearer {legacy}"})
    assert response.status_code == 401
    assert response.json()["message"].endswith("log in again.")
    assert "earlier version" in response.json()["message"]


# --- API tokens --------------------------------------------------------------------------------


def test_api_token_create_list_use_revoke(app: FastAPI, db: Database) -> None:
    client, headers = client_for(app), bearer(app, "alice")
    created = client.post("/api/tokens", json={"name": "ci"}, headers=headers)
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith(f"pf_{created.json()['prefix']}_")
    listed = client.get("/api/tokens", headers=headers)
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()] == ["ci"]
    assert "token" not in listed.json()[0]
    assert secret not in listed.text
    with_token = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/workflows", headers=with_token).status_code == 200
    assert client.get("/api/tokens", headers=headers).json()[0]["lastUsedAt"] is not None
    token_id = created.json()["id"]
    revoked = client.delete(f"/api/tokens/{token_id}", headers=headers)
    assert revoked.status_code == 200
    assert revoked.json()["revokedAt"] is not None
    response = client.get("/api/workflows", headers=with_token)
    assert response.status_code == 401
    assert response.json() == {"message": "This API token has been revoked."}
    events, _ = audit_log.query_audit(db, action="token.", limit=100)
    assert {e.action for e in events} == {"token.created", "token.revoked"}
    assert secret.split("_", 2)[2] not in json.dumps([e.meta for e in events])


def test_expired_api_token_is_401(app: FastAPI, db: Database) -> None:
    soon = datetime.now(UTC) + timedelta(days=1)
    token = users.create_api_token(db, "alice", "short", actor="alice", expires_at=soon)
    with db.transaction() as s:
        s.execute(update(ApiToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    response = client_for(app).get(
        "/api/tokens", headers={"Authorization": f"Bearer {token.secret}"}
    )
    assert response.status_code == 401
    assert response.json() == {"message": "This API token has expired."}


def test_tokens_are_private_to_their_owner(app: FastAPI, db: Database) -> None:
    token = users.create_api_token(db, "root", "root-token", actor="root")
    client, headers = client_for(app), bearer(app, "alice")
    assert client.get("/api/tokens", headers=headers).json() == []
    response = client.delete(f"/api/tokens/{token.token.id}", headers=headers)
    assert response.status_code == 404


def test_token_body_is_validated(app: FastAPI) -> None:
    client, headers = client_for(app), bearer(app, "alice")
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    response = client.post("/api/tokens", json={"name": "x", "expiresAt": past}, headers=headers)
    assert response.status_code == 400
    assert response.json()["problems"][0]["location"] == "expires_at"
    response = client.post("/api/tokens", json={"name": ""}, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
    assert client.delete("/api/tokens/abc", headers=headers).status_code == 422


def test_secrets_never_reach_the_logs(
    app: FastAPI, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _login(app, "alice", "not-the-password")
    created = client_for(app).post("/api/tokens", json={"name": "t"}, headers=bearer(app, "alice"))
    secret = created.json()["token"]
    assert "not-the-password" not in caplog.text
    assert secret not in caplog.text
    assert secret not in repr(users.list_tokens(db, "alice"))


# --- users and roles ---------------------------------------------------------------------------


def test_superuser_creates_users_and_grants_roles(app: FastAPI, db: Database) -> None:
    client, headers = client_for(app), bearer(app, "root")
    body = {"username": "bob", "password": "long-enough-password"}
    created = client.post("/api/users", json=body, headers=headers)
    assert created.status_code == 201
    assert created.json()["roles"] == {}
    assert created.json()["isSuperuser"] is False
    assert client.post("/api/users", json=body, headers=headers).status_code == 409
    granted = client.post(
        "/api/users/bob/roles", json={"project": "alpha", "role": "viewer"}, headers=headers
    )
    assert granted.status_code == 200
    assert granted.json()["roles"] == {"alpha": "viewer"}
    assert _login(app, "bob", "long-enough-password").status_code == 201
    revoked = client.delete("/api/users/bob/roles/alpha", headers=headers)
    assert revoked.status_code == 200
    assert revoked.json()["roles"] == {}
    assert client.delete("/api/users/bob/roles/alpha", headers=headers).status_code == 404
    listed = client.get("/api/users", headers=headers).json()
    assert [u["username"] for u in listed] == ["alice", "bob", "root"]


def test_user_input_is_checked(app: FastAPI) -> None:
    client, headers = client_for(app), bearer(app, "root")
    short = client.post("/api/users", json={"username": "c", "password": "short"}, headers=headers)
    assert short.status_code == 400
    assert short.json()["problems"] == [
        {"location": "password", "message": "must be 8 to 1024 characters long"}
    ]
    bad_name = client.post("/api/users", json={"username": "-x"}, headers=headers)
    assert bad_name.status_code == 400
    bad_role = client.post(
        "/api/users/alice/roles", json={"project": "alpha", "role": "god"}, headers=headers
    )
    assert bad_role.status_code == 422
    assert bad_role.json()["detail"][0]["loc"] == ["body", "role"]
    missing = client.post(
        "/api/users/ghost/roles", json={"project": "alpha", "role": "viewer"}, headers=headers
    )
    assert missing.status_code == 404


def test_project_admin_grants_only_in_their_project(app: FastAPI, db: Database) -> None:
    make_user(db, "pam", {"alpha": Role.ADMIN})
    client, headers = client_for(app), bearer(app, "pam")
    ok = client.post(
        "/api/users/alice/roles", json={"project": "alpha", "role": "admin"}, headers=headers
    )
    assert ok.status_code == 200
    elsewhere = client.post(
        "/api/users/alice/roles", json={"project": "beta", "role": "viewer"}, headers=headers
    )
    assert elsewhere.status_code == 403
    assert client.post("/api/users", json={"username": "z"}, headers=headers).status_code == 403


# --- the JWT secret ----------------------------------------------------------------------------


def test_jwt_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = auth_config(Settings(home=tmp_path / "home"))
    second = auth_config(Settings(home=tmp_path / "home"))
    assert first.jwt_secret == second.jwt_secret
    assert len(first.jwt_secret) == 64
    mode = (tmp_path / "home" / "jwt_secret").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert JWT_SECRET not in repr(first)
    assert first.jwt_secret not in repr(first)


# --- bad input is never a 500 -----------------------------------------------------------------


@pytest.fixture
def world(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> World:
    return world_on(request, db, tmp_path, build_world)


def test_invalid_json_is_422_not_500(world: World) -> None:
    response = world.client.post(
        f"/api/workflows/{world.draft}/publish",
        content=b"{not json",
        headers={**world.headers("editor"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_unexpected_errors_are_500_without_traceback(world: World) -> None:
    def boom() -> None:
        raise RuntimeError("secret internals")

    world.app.add_api_route("/api/v2/boom", boom)
    response = world.client.get("/api/v2/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "secret internals" not in response.text


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/api/workflows/%00", None),
        ("GET", "/api/workflows?search=%00&dagId=%00", None),
        ("GET", f"/api/workflows?offset={2**70}", None),
        ("GET", "/api/workflows?includeDeleted=maybe", None),
        ("POST", "/api/workflows/{active}/runs", {"logicalDate": "2026-01-01T00:00:00"}),
        ("POST", "/api/workflows/{active}/runs", {"runId": "bad id with spaces"}),
        ("POST", "/api/workflows/{active}/runs", {"conf": {"a": "\u0000"}, "runId": "a\u0000"}),
        ("PATCH", "/api/workflows/{draft}", {"name": "x\u0000"}),
        ("PATCH", "/api/workflows/{draft}", {"tasks": [{"task_id": "a", "retries": 2**70}]}),
        ("POST", "/api/workflows/{draft}/publish", {"deprecatePreviousVersionId": "\u0000"}),
        ("POST", "/api/workflows/{draft}/publish", {"deprecatePreviousVersionId": "0" * 32}),
        ("DELETE", f"/api/tokens/{2**70}", None),
        ("POST", "/api/tokens", {"name": "n", "expiresAt": "2999-01-01T00:00:00"}),
        ("POST", "/api/snapshots", {"spec": {"dag_id": "a\u0000"}}),
        ("POST", "/api/snapshots", {"spec": {"dag_id": "ok", "name": "n\u0000"}, "mode": "x"}),
    ],
)
def test_bad_input_is_never_a_500(world: World, method: str, url: str, body: object) -> None:
    url = url.replace("{active}", world.active).replace("{draft}", world.draft)
    response = world.call("admin", method, url, body)
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text


def test_absurd_numbers_in_a_draft_are_refused_with_their_location(world: World) -> None:
    tasks = [{"task_id": "a", "kind": "bash", "bash_command": "x", "retries": 2**70}]
    response = world.call("editor", "PATCH", f"/api/workflows/{world.draft}", {"tasks": tasks})
    assert response.status_code == 400, response.text
    assert any(p["location"] == "tasks[0].retries" for p in response.json()["problems"])
