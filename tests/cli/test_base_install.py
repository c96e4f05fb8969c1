"""The base install (``pip install pinflow``, no extras) imports, starts and explains itself.

The extras' packages are hidden with ``tests/support/no_extras.py``; the standalone tests start
``pinflow standalone`` that way too, and ``scripts/smoke.sh`` repeats it in a real fresh venv.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli.helpers import NO_EXTRAS, cli_env

IMPORT_EVERYTHING = """
import importlib, pkgutil, sys
import pinflow

skip = ("__main__", ".migrations.")
names = [m.name for m in pkgutil.walk_packages(pinflow.__path__, "pinflow.")]
for name in names:
    if not any(part in name for part in skip):
        importlib.import_module(name)
extras = ("psycopg", "celery", "kombu", "prometheus_client", "opentelemetry.sdk")
leaked = sorted(m for m in sys.modules if m.startswith(extras))
assert not leaked, leaked
print(len(names))
"""


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(NO_EXTRAS), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(PINFLOW_HOME=str(tmp_path / "home"), **env),
        cwd=tmp_path,
        check=False,
    )


def _one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_every_module_imports_without_the_extras(tmp_path: Path) -> None:
    result = _run(["-c", IMPORT_EVERYTHING], tmp_path)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 100  # every module was walked, not an empty package


def test_a_postgresql_url_without_psycopg_names_the_extra(tmp_path: Path) -> None:
    result = _run(
        ["-m", "pinflow.cli", "db", "migrate"],
        tmp_path,
        PINFLOW_DATABASE_URL="postgresql://pinflow@127.0.0.1:1/pinflow",
    )
    assert result.returncode == 1
    line = _one_clear_line(result)
    assert "PostgreSQL needs the 'postgres' extra" in line
    assert "pip install 'pinflow[postgres]'" in line


@pytest.mark.parametrize(
    ("executor", "expected"),
    [
        ("celery", "pip install 'pinflow[celery]'"),
        ("nowhere.to.be:Found", "PINFLOW_EXECUTOR='nowhere.to.be:Found'"),
    ],
)
def test_an_executor_that_cannot_load_is_one_clear_line(
    tmp_path: Path, executor: str, expected: str
) -> None:
    migrated = _run(["-m", "pinflow.cli", "db", "migrate"], tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    result = _run(
        ["-m", "pinflow.cli", "scheduler", "--until-idle"], tmp_path, PINFLOW_EXECUTOR=executor
    )
    assert result.returncode != 0
    assert expected in _one_clear_line(result)


METRICS_WITHOUT_THE_EXTRA = """
import httpx, anyio
from pinflow.api.app import create_app
from pinflow.settings import Settings
from pinflow.store import migrate
from pinflow.store.db import Database

settings = Settings()
settings.home.mkdir(parents=True)
db = Database(settings.database_url)
migrate.upgrade(db)
app = create_app(db, settings)

async def get():
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/metrics")

response = anyio.run(get)
print(response.status_code, response.text)
"""


def test_metrics_without_the_extra_say_what_to_install(tmp_path: Path) -> None:
    result = _run(
        ["-c", METRICS_WITHOUT_THE_EXTRA], tmp_path, PINFLOW_METRICS_ALLOW_FROM="127.0.0.1"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "501 Prometheus metrics (/metrics) needs the 'metrics' extra, which is not installed: "
        "pip install 'pinflow[metrics]'"
    )


def test_traces_without_the_extra_are_one_clear_line(tmp_path: Path) -> None:
    result = _run(["-m", "pinflow.cli", "traces", "export", "--dag", "d", "--run", "r"], tmp_path)
    assert result.returncode == 1
    assert "pip install 'pinflow[otel]'" in _one_clear_line(result)
