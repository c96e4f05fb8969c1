"""``pinflow users delete``: a removed user's credentials stay dead, and the last superuser
cannot be removed."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.inprocess import make_cli

from pinflow.errors import AuthenticationError
from pinflow.services.commands import _users as users
from pinflow.services.reads import _audit_log as audit_log
from pinflow.store.db import Database

pytestmark = pytest.mark.sqlite_enough


def test_users_delete_removes_the_user_and_their_tokens(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = make_cli(db, tmp_path, monkeypatch)
    users.create_user(db, "alice", None, actor="test")
    token = users.create_api_token(db, "alice", "laptop", actor="alice").secret
    result = cli("users", "delete", "alice", "--yes")
    assert "User alice removed" in result.stdout
    assert [u.username for u in users.list_users(db)] == ["ci"]
    with pytest.raises(AuthenticationError):
        users.resolve_token(db, token)
    events, _ = audit_log.query_audit(db, action="user.deleted")
    assert [(e.actor, e.target_id) for e in events] == [("ci", "alice")]


def test_users_delete_refuses_the_last_superuser_and_unknown_users(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = make_cli(db, tmp_path, monkeypatch)
    last = cli("users", "delete", "ci", "--yes", code=4)  # a conflict
    assert "last active superuser" in last.stderr
    missing = cli("users", "delete", "ghost", "--yes", code=3)  # not found
    assert "ghost" in missing.stderr
    assert [u.username for u in users.list_users(db)] == ["ci"]
