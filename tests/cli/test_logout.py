"""``pinflow logout``: forget the stored credentials; ``--revoke`` ends the token on the server
first, so that a copy of it left anywhere stops working."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.inprocess import make_cli

from pinflow.client import credentials
from pinflow.errors import AuthenticationError
from pinflow.services.commands import _users as users
from pinflow.store.db import Database

pytestmark = pytest.mark.sqlite_enough


def test_logout_revoke_ends_the_stored_token_on_the_server(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = make_cli(db, tmp_path, monkeypatch)
    stored = users.create_api_token(db, "ci", "laptop", actor="test").secret
    credentials.save("http://testserver", stored, username="ci")
    result = cli("logout", "--revoke")
    assert "revoked on the server" in result.stderr
    assert credentials.load_saved() == {}
    with pytest.raises(AuthenticationError, match="revoked"):
        users.resolve_token(db, stored)
    users.resolve_token(db, cli.token)  # the other token of the same user still works


def test_logout_without_revoke_only_forgets(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = make_cli(db, tmp_path, monkeypatch)
    stored = users.create_api_token(db, "ci", "laptop", actor="test").secret
    credentials.save("http://testserver", stored, username="ci")
    assert "Stored credentials removed." in cli("logout").stderr
    assert credentials.load_saved() == {}
    assert users.resolve_token(db, stored).username == "ci"
