"""Shared fixtures: a migrated database per test, on SQLite and (when configured) PostgreSQL.

``PINFLOW_TEST_DATABASE_URL`` names a PostgreSQL database that the tests may wipe; when it is
set, every test that uses ``db`` runs once per backend, unless its module is marked
``sqlite_enough`` (the database plays no part in what it checks: the CLI's output, the
browser, the OpenAPI fuzzing, the authorization matrix). In CI it must be set: a missing
PostgreSQL fails the run instead of silently testing less.

Under pytest-xdist each worker gets a PostgreSQL database of its own, created next to the
configured one (``<name>_gw0``, …) and dropped at the end; SQLite files are per test anyway.
The test databases commit without waiting for the WAL flush (``synchronous_commit=off``, set
on the database, not the server): a crash of the server may lose the last commits of a test
database, which is nothing, and every test's commits stop waiting on the disk.
"""

from __future__ import annotations

import fnmatch
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from tests.support.databases import truncate_pg

from pinflow.services.commands import _users as users
from pinflow.store import migrate
from pinflow.store.db import Database, normalize_url

PG_URL = os.environ.get("PINFLOW_TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")

if IN_CI and not PG_URL:
    raise pytest.UsageError(
        "CI=true but PINFLOW_TEST_DATABASE_URL is not set: the store tests must also run on "
        "PostgreSQL in CI (scripts/test.sh creates the database and sets it)."
    )

BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_enough: the database plays no part in the test; it runs on SQLite only",
    )
    config.addinivalue_line(
        "markers",
        "postgresql_only: the test is about PostgreSQL itself (its tools); it runs on PostgreSQL "
        "only, and without one it is skipped, saying so (a failure in CI)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_url" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker
        if marker("postgresql_only") is not None:
            backends = ["postgresql"]
        elif marker("sqlite_enough") is not None:
            backends = ["sqlite"]
        else:
            backends = BACKENDS
        metafunc.parametrize("db_url", backends, indirect=True)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    """argon2id with its production cost takes ~0.13 s a hash here, and the API tests create
    hundreds of users. Tests hash with the same algorithm at the lowest cost instead; hashes
    made either way still verify (the parameters are in the hash)."""
    production = users._HASHER
    users._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    users._HASHER = production


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file (much faster than migrating per test)."""
    path = tmp_path_factory.mktemp("template") / "pinflow.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


def _worker_database(base_url: str) -> Iterator[str]:
    """This worker's own database beside ``base_url``'s (the base itself without xdist)."""
    base = make_url(normalize_url(base_url))
    name = f"{base.database}_{WORKER}" if WORKER else base.database
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if WORKER:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        yield base.set(database=name).render_as_string(hide_password=False)
        if WORKER:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_migrated() -> Iterator[str]:
    assert PG_URL is not None
    for url in _worker_database(PG_URL):
        db = Database(url)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        migrate.upgrade(db)
        db.dispose()
        yield url


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "pinflow.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    if not PG_URL:  # a postgresql_only test outside CI (in CI a missing PostgreSQL stops the run)
        pytest.skip("PostgreSQL not configured: set PINFLOW_TEST_DATABASE_URL to run this test")
    url: str = request.getfixturevalue("pg_migrated")
    cleaner = Database(url)
    truncate_pg(cleaner)
    cleaner.dispose()
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def pg_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A clean PostgreSQL database, for tests that only make sense there (row-lock races)."""
    if not PG_URL:  # never in CI: there a missing PostgreSQL stops the run at start-up
        pytest.skip("PostgreSQL not configured: set PINFLOW_TEST_DATABASE_URL to run this test")
    url: str = request.getfixturevalue("pg_migrated")
    database = Database(url)
    truncate_pg(database)
    yield database
    database.dispose()


# The longest tests, longest first (``--durations`` of a CI run): each is started at the very
# beginning, in rounds over the workers, instead of wherever the collection order puts it,
# because one of them starting last would make the whole run wait for it alone. A test named
# here that no longer exists is simply not found.
SLOW_FIRST = (
    "tests/api/test_schemathesis_stateful.py::*[[]postgresql]",  # 75 s
    "tests/scheduler/test_kill_campaign.py::*[[]postgresql]",  # 45 s
    "tests/api/test_schemathesis_stateful.py::*[[]sqlite]",  # 41 s
    "tests/scheduler/test_kill_campaign.py::*[[]sqlite]",  # 37 s
    # A second round, the shortest after the longest (with 4 workers): 101, 72, 73, 79 s each.
    "tests/cli/test_standalone.py::*",  # 26 s
    "tests/api/test_schemathesis.py::test_no_operation_answers_a_server_error*",  # 27 s
    "tests/scaleout/test_multi_host.py::*",  # 32 s
    "tests/scaleout/test_ha_schedulers.py::test_schedulers_killed_at_random*",  # 42 s
)


def _slow_rank(item: pytest.Item) -> int | None:
    for rank, pattern in enumerate(SLOW_FIRST):
        if fnmatch.fnmatchcase(item.nodeid, pattern):
            return rank
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist's ``load`` scheduling each worker first gets a run of consecutive tests,
    ``max(tests per worker // 4, 2)`` long: put the slow tests at the heads of those runs, one
    worker each in turn, and leave the rest in collection order (it keeps module fixtures
    shared). Every worker computes the same order, as xdist requires."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers < 2 or getattr(config.option, "dist", "load") != "load":
        return
    ranked = sorted((rank, item) for item in items if (rank := _slow_rank(item)) is not None)
    if not ranked:
        return
    slow = [item for _, item in ranked]
    rest = [item for item in items if _slow_rank(item) is None]
    chunk = max(len(items) // workers // 4, 2)
    heads: list[list[pytest.Item]] = [[] for _ in range(workers)]
    for index, item in enumerate(slow):
        heads[index % workers].append(item)
    ordered: list[pytest.Item] = []
    for head in heads:
        ordered += head
        take = max(chunk - len(head), 0)
        ordered += rest[:take]
        rest = rest[take:]
    items[:] = ordered + rest


TASK_USER = "pinflow-task"


@pytest.fixture(scope="session")
def task_user() -> str:
    """An unprivileged user to run tasks as (``PINFLOW_RUN_TASKS_AS_USER``), created if absent
    (root only)."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("run_as_user is tested as root; CI runs as root")
        pytest.skip("switching a task to another user needs root")
    try:
        pwd.getpwnam(TASK_USER)
    except KeyError:  # another worker may create it at the same moment: look again after
        subprocess.run(["useradd", "--system", "--no-create-home", TASK_USER], check=False)
        pwd.getpwnam(TASK_USER)
    return TASK_USER
