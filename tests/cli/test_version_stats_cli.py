"""``pinflow versions stats``: one version's statistics as a table or JSON, and two versions
side by side with the changed figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli.inprocess import Cli, make_cli
from tests.support.history import PastRun, Try, seed

from pinflow.services.commands._push import register_snapshot
from pinflow.store.db import Database
from pinflow.testing import make_spec

# The figures are computed in SQL on both databases in tests/services/test_version_stats.py;
# here the CLI's output of the API's answer.
pytestmark = pytest.mark.sqlite_enough


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    tasks = {"load": []}
    for n, (seconds, load) in enumerate(((4.0, 4.1), (1.0, 0.9)), start=1):
        spec = make_spec("etl", tasks, task_fields={"load": {"bash_command": f"echo {n}"}})
        version = register_snapshot(db, spec, b"", actor="alice").version
        first = [Try("failed", 1.0)] if n == 1 else []
        runs = [PastRun("success", seconds, {"load": [*first, Try("success", load)]})] * 2
        if n == 1:
            runs.append(PastRun("failed", seconds, {"load": [Try("failed", load)]}))
        seed(db, version, runs, hour=10 * n)
    return make_cli(db, tmp_path, monkeypatch)


def test_stats_of_one_version(cli: Cli) -> None:
    shown = cli("versions", "stats", "etl", "1").stdout
    assert "Success rate  67%" in shown
    assert "p95           4.0 s" in shown
    assert "load" in shown
    body = json.loads(cli("versions", "stats", "etl", "1", "-o", "json").stdout)
    assert body["stats"]["runs"] == 3
    assert body["stats"]["tasks"][0]["retries"] == 2


def test_compare_two_versions(cli: Cli) -> None:
    shown = cli("versions", "stats", "etl", "current", "--compare-to", "1").stdout
    assert "v2 vs v1" in shown
    assert "load p95 4.1 s → 0.9 s" in shown
    assert "runs failures 33% → 0%" in shown
    assert "load failures 60% → 0%" in shown


def test_unknown_version_says_how_to_list(cli: Cli) -> None:
    failed = cli("versions", "stats", "etl", "9", code=3)
    assert "DAG 'etl' has no version '9'" in failed.stderr
    assert "pinflow versions list etl" in failed.stderr
