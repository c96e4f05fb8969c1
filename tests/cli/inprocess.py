"""The CLI against an API app in the test's own process (no server, no sockets): commands run
with click's ``CliRunner`` and their client talks to the app through an ASGI transport."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.api.helpers import SyncASGITransport, make_app

from pinflow.cli import common
from pinflow.cli.main import app as pinflow
from pinflow.client import PinflowClient, resolve
from pinflow.services.commands import _users as users
from pinflow.store.db import Database


@dataclass
class Cli:
    runner: CliRunner
    token: str

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(pinflow, list(args), catch_exceptions=False)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        return result


def make_cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Call from a fixture: a superuser ``ci`` whose API token is in ``PINFLOW_TOKEN``."""
    api_app = make_app(db, tmp_path / "server")
    users.create_user(db, "ci", None, actor="test", is_superuser=True)
    token = users.create_api_token(db, "ci", "ci", actor="test").secret

    def make_client(url: str | None, given: str | None) -> PinflowClient:
        token = resolve(url, given).token  # flags over PINFLOW_TOKEN, as for real
        return PinflowClient("http://testserver", token, transport=SyncASGITransport(api_app))

    for name in ("PINFLOW_URL", "PINFLOW_TOKEN", "PINFLOW_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PINFLOW_TOKEN", token)
    monkeypatch.setenv("PINFLOW_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setattr(common, "make_client", make_client)
    return Cli(CliRunner(), token)
