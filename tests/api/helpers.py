"""Shared builders for the API tests: an app on the test database, users, DAGs, headers."""

from __future__ import annotations

import base64
import io
import shutil
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Table, text
from tests.support.databases import truncate_pg

from pinflow.api.app import create_app
from pinflow.api.auth import AuthConfig, issue_access_token
from pinflow.lifecycle.permissions import Role
from pinflow.services.commands import _push as push
from pinflow.services.commands import _users as users
from pinflow.services.commands._push import PushMode
from pinflow.settings import Settings
from pinflow.spec.models import DagSpec, TaskSpec
from pinflow.store.db import Database
from pinflow.store.tables import Base

JWT_SECRET = "0123456789abcdef" * 4
PASSWORD = "correct horse battery staple"


def make_app(db: Database, home: Path, **settings: Any) -> FastAPI:
    return create_app(
        db, Settings(home=home, **settings), auth_config=AuthConfig(jwt_secret=JWT_SECRET)
    )


class SyncASGITransport(httpx.BaseTransport):
    """httpx's ASGI transport, driven synchronously: each request runs the app in its own event
    loop. (Starlette's TestClient now wants another HTTP package; this needs only httpx.)"""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1") -> None:
        self._transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=False, client=(host, 50000)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self._transport.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return anyio.run(send)


def client_for(app: FastAPI, host: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(transport=SyncASGITransport(app, host), base_url="http://testserver")


def make_spec(dag_id: str = "etl", project: str = "alpha", name: str = "Nightly ETL") -> DagSpec:
    return DagSpec(
        dag_id=dag_id,
        name=name,
        project=project,
        tasks=[
            TaskSpec(task_id="extract", kind="bash", bash_command="echo extract"),
            TaskSpec(task_id="load", kind="bash", bash_command="echo load", depends_on=["extract"]),
        ],
    )


def publish(db: Database, spec: DagSpec, *, deprecate_previous: bool = False) -> str:
    """A new active version (current) of ``spec``'s DAG; returns its id."""
    result = push.register_snapshot(
        db, spec, actor="ci", mode=PushMode.PUBLISH, deprecate_previous=deprecate_previous
    )
    return result.version.id


def draft(db: Database, spec: DagSpec) -> str:
    return push.register_snapshot(db, spec, actor="ci", mode=PushMode.DRAFT).version.id


def make_user(
    db: Database,
    username: str,
    roles: dict[str, Role] | None = None,
    *,
    superuser: bool = False,
    password: str | None = None,
) -> None:
    users.create_user(db, username, password, actor="test", is_superuser=superuser)
    for project, role in (roles or {}).items():
        users.grant_role(db, username, project, role, actor="test")


def access_token(app: FastAPI, username: str) -> str:
    """A JWT for ``username`` as a login would issue it (naming the user's uid)."""
    return issue_access_token(app.state.auth, users.principal_of_user(app.state.db, username))


def bearer(app: FastAPI, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token(app, username)}"}


def zip_b64(files: dict[str, str] | None = None) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in (files or {"dags/etl.py": "print('hi')\n"}).items():
            archive.writestr(name, text)
    return base64.b64encode(buffer.getvalue()).decode()


@dataclass
class World:
    """A small instance: DAG ``etl`` in project alpha (v1 active, a draft cloned from it) and
    DAG ``other`` in project beta; users of every kind the authorization matrix needs."""

    app: FastAPI
    client: httpx.Client
    db: Database
    active: str
    draft: str

    def headers(self, who: str) -> dict[str, str]:
        return {} if who == "anonymous" else bearer(self.app, who)

    def call(self, who: str, method: str, path: str, body: Any = None) -> Any:
        kwargs: dict[str, Any] = {"headers": self.headers(who)}
        if body is not None:
            kwargs["json"] = body
        return self.client.request(method, path, **kwargs)


# The authorization matrix's seven kinds of caller: no one; each role of project alpha; an
# admin of project beta only ("outsider": other project's user); an instance superuser.
ANON, VIEWER, OPERATOR, EDITOR = "anonymous", "viewer", "operator", "editor"
PROJECT_ADMIN, OUTSIDER, ADMIN = "padmin", "outsider", "admin"
ACTORS = (ANON, VIEWER, OPERATOR, EDITOR, PROJECT_ADMIN, OUTSIDER, ADMIN)
ALPHA_ROLES = {
    VIEWER: Role.VIEWER,
    OPERATOR: Role.OPERATOR,
    EDITOR: Role.EDITOR,
    PROJECT_ADMIN: Role.ADMIN,
}


def build_world(db: Database, home: Path) -> World:
    from pinflow.services.commands import _versions as versions

    for name, role in ALPHA_ROLES.items():
        make_user(db, name, {"alpha": role})
    make_user(db, OUTSIDER, {"beta": Role.ADMIN})
    make_user(db, ADMIN, superuser=True)
    active = publish(db, make_spec())
    publish(db, make_spec("other", project="beta", name="Other"))
    new_draft = versions.create_version(db, active, actor="editor").id
    app = make_app(db, home)
    return World(app, client_for(app), db, active, new_draft)


@dataclass
class _Snapshot:
    """A world as built once: its ids, and its database as a file (SQLite) or as rows and
    sequence values (PostgreSQL)."""

    active: str
    draft: str
    file: Path | None = None
    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)


# One per builder and backend in each worker: building a world (users, two pushes, a version,
# for v2_world a run drained) costs ~0.3 s of CPU, and the API tests need well over a thousand.
_SNAPSHOTS: dict[tuple[str, str], _Snapshot] = {}
_SEQUENCES = "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"


def _take_snapshot(request: pytest.FixtureRequest, db: Database, world: World) -> _Snapshot:
    snapshot = _Snapshot(world.active, world.draft)
    world.client.close()
    if db.engine.dialect.name == "sqlite":
        db.dispose()
        folder: Path = request.getfixturevalue("tmp_path_factory").mktemp("world")
        snapshot.file = folder / "world.db"
        shutil.copyfile(_sqlite_file(db), snapshot.file)
    else:
        with db.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                rows = [dict(row) for row in conn.execute(table.select()).mappings()]
                if rows:
                    snapshot.rows[table] = rows
            for name, value in conn.execute(text(_SEQUENCES)):
                if value is not None:
                    snapshot.sequences[name] = value
    return snapshot


def _restore(db: Database, snapshot: _Snapshot) -> None:
    """``db`` (empty, as the fixtures hand it over) made to hold the snapshot's world."""
    if snapshot.file is not None:
        db.dispose()
        path = _sqlite_file(db)
        for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(snapshot.file, path)
        return
    truncate_pg(db)
    with db.engine.begin() as conn:  # one transaction: all of the world, or none
        # The rows were consistent when read; the cycles among the foreign keys (a DAG and its
        # current version) would otherwise need an order of inserts that does not exist.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table, rows in snapshot.rows.items():
            conn.execute(table.insert(), rows)
        for name, value in snapshot.sequences.items():
            conn.execute(
                text("SELECT setval(CAST(:name AS regclass), :value)"),
                {"name": name, "value": value},
            )


def _sqlite_file(db: Database) -> Path:
    return Path(db.engine.url.database or "")


def world_on(
    request: pytest.FixtureRequest,
    db: Database,
    home: Path,
    build: Callable[[Database, Path], World],
) -> World:
    """``build``'s world on ``db`` (an emptied test database), under a new app at ``home``:
    built the first time in this worker and backend, then put back from a snapshot of it (a
    file copied, or rows inserted: a few ms)."""
    key = (f"{build.__module__}.{build.__qualname__}", db.engine.dialect.name)
    snapshot = _SNAPSHOTS.get(key)
    if snapshot is None:
        snapshot = _SNAPSHOTS[key] = _take_snapshot(request, db, build(db, home))
    else:
        _restore(db, snapshot)
    app = make_app(db, home)
    return World(app, client_for(app), db, snapshot.active, snapshot.draft)


@contextmanager
def fresh_worlds(
    request: pytest.FixtureRequest,
    db_url: str,
    home: Path,
    build: Callable[[Database, Path], World],
) -> Iterator[Callable[[], World]]:
    """A maker of fresh worlds on the test's backend (a copy of the migrated SQLite template,
    or the PostgreSQL database emptied, then ``world_on``): an authorization matrix calls one
    route as each kind of caller in turn and needs a new world only after a call that changed
    something."""
    opened: list[Database] = []

    def make() -> World:
        for db in opened:
            db.dispose()
        url = db_url
        if db_url.startswith("sqlite"):
            url = f"sqlite:///{home / f'world{len(opened)}.db'}"
            shutil.copyfile(
                request.getfixturevalue("sqlite_template"), url.removeprefix("sqlite:///")
            )
        else:
            cleaner = Database(url)
            truncate_pg(cleaner)
            cleaner.dispose()
        opened.append(Database(url))
        return world_on(request, opened[-1], home / f"home{len(opened)}", build)

    try:
        yield make
    finally:
        for db in opened:
            db.dispose()
