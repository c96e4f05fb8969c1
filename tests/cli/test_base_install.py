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
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("psycopg", "celery", "kombu"))
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
