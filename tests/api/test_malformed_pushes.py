"""Malformed pushes (issue #19 point 3, issue #14 point 5): each gets a clear 4xx naming the
problem, and the database is byte-for-byte what it was (every table's rows, compared)."""

from __future__ import annotations

import base64
import stat
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import MetaData, inspect, select
from tests.api.helpers import bearer, client_for, make_app, make_spec, make_user, publish
from tests.spec.test_bundle_rules import zipped

from pinflow.lifecycle.permissions import Role
from pinflow.store.db import Database

MB = 1_000_000
JSON_HEADERS = {"Content-Type": "application/json"}


def dump(db: Database) -> dict[str, list[str]]:
    """Every row of every table (Alembic's too), as text, in a deterministic order."""
    with db.engine.connect() as conn:
        meta = MetaData()
        meta.reflect(conn, only=inspect(conn).get_table_names())
        return {
            name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for name, table in sorted(meta.tables.items())
        }


@dataclass
class Pusher:
    db: Database
    client: httpx.Client
    headers: dict[str, str]
    admin: dict[str, str]

    def push(self, spec: dict[str, Any], bundle: bytes | None = None, **extra: Any) -> Any:
        body: dict[str, Any] = {"spec": spec, **extra}
        if bundle is not None:
            body["bundle"] = base64.b64encode(bundle).decode()
        return self.client.post("/api/snapshots", json=body, headers=self.headers)

    def post(self, content: Any, path: str = "/api/snapshots") -> Any:
        who = self.headers if path == "/api/snapshots" else self.admin  # variables, pools
        return self.client.post(path, content=content, headers={**who, **JSON_HEADERS})


def _pusher(db: Database, home: Path, **settings: Any) -> Pusher:
    make_user(db, "editor", {"alpha": Role.EDITOR})
    make_user(db, "admin", superuser=True)
    publish(db, make_spec())  # something to keep unchanged
    app = make_app(db, home, **settings)
    return Pusher(db, client_for(app), bearer(app, "editor"), bearer(app, "admin"))


@pytest.fixture
def pusher(db: Database, tmp_path: Path) -> Iterator[Pusher]:
    p = _pusher(db, tmp_path)
    yield p
    p.client.close()


def spec(dag_id: str = "fresh", **fields: Any) -> dict[str, Any]:
    tasks = [
        {"task_id": "extract", "kind": "bash", "bash_command": "echo extract"},
        {"task_id": "load", "kind": "bash", "bash_command": "echo", "depends_on": ["extract"]},
    ]
    return {"dag_id": dag_id, "project": "alpha", "tasks": tasks, **fields}


def _symlink() -> bytes:
    link = zipfile.ZipInfo("dags/secret.py")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zipped(("dags/etl.py", b"x = 1\n"), (link, b"/home/pinflow/jwt_secret"))


def _cut_middle(data: bytes) -> bytes:
    """The central directory survives; the entries' data does not line up with it any more."""
    return data[:100] + data[300:]


def _message(response: Any) -> str:
    body = response.json()
    return str(body.get("message") or body.get("detail"))


GOOD = zipped(("dags/etl.py", b"print('hi')\n"))
LONGER = zipped(("dags/etl.py", b"print('hi')\n" * 100))

# (case, spec, bundle, status, what the message says)
BUNDLE_CASES: list[tuple[str, dict[str, Any], bytes, int, str]] = [  # (id, spec, bundle, …)
    ("zip-slip", spec(), zipped(("dags/../../evil.py", b"x")), 400, "zip-slip"),
    ("zip-slip at root", spec(), zipped(("../evil.py", b"x")), 400, "'../evil.py'"),
    ("absolute", spec(), zipped(("/etc/cron.d/evil", b"x")), 400, "absolute path"),
    ("windows drive", spec(), zipped(("C:\\evil.py", b"x")), 400, "backslash"),
    ("symlink", spec(), _symlink(), 400, "symlink"),
    ("duplicate", spec(), zipped(("a.py", b"1"), ("a.py", b"2")), 400, "duplicate entry"),
    ("control char", spec(), zipped(("dags/a\nb.py", b"x")), 400, "control character"),
    ("20 MB file", spec(), zipped(("data.bin", b"\0" * 20 * MB)), 400, "PINFLOW_MAX_FILE_BYTES"),
    (
        "45 MB deflated bundle",
        spec(),
        zipped(*((f"part{i}.bin", b"\0" * 7_500_000) for i in range(6)), deflate=True),
        400,
        "PINFLOW_MAX_BUNDLE_BYTES",
    ),
    (
        "too many files",
        spec(),
        zipped(*((f"m/{i}.py", b"") for i in range(5001))),
        400,
        "PINFLOW_MAX_BUNDLE_FILES",
    ),
    ("truncated zip", spec(), GOOD[: len(GOOD) // 2], 422, "truncated"),
    ("damaged zip", spec(), _cut_middle(LONGER), 400, "damaged or truncated"),
]


@pytest.mark.parametrize(
    ("body_spec", "bundle", "status", "says"),
    [pytest.param(*rest, id=case) for case, *rest in BUNDLE_CASES],
)
def test_a_bad_bundle_is_refused_and_nothing_is_written(
    pusher: Pusher, body_spec: dict[str, Any], bundle: bytes, status: int, says: str
) -> None:
    before = dump(pusher.db)

    response = pusher.push(body_spec, bundle)

    assert response.status_code == status, response.text
    assert says in _message(response)
    assert dump(pusher.db) == before


def _tasks(n: int) -> list[dict[str, Any]]:
    return [{"task_id": f"t{i}", "kind": "bash", "bash_command": "true"} for i in range(n)]


def _cycle() -> list[dict[str, Any]]:
    return [
        {"task_id": "a", "kind": "bash", "bash_command": "true", "depends_on": ["c"]},
        {"task_id": "b", "kind": "bash", "bash_command": "true", "depends_on": ["a"]},
        {"task_id": "c", "kind": "bash", "bash_command": "true", "depends_on": ["b"]},
    ]


def _with_task_id(task_id: str) -> list[dict[str, Any]]:
    return [{"task_id": task_id, "kind": "bash", "bash_command": "true"}]


SPEC_CASES: list[tuple[str, dict[str, Any], int, str]] = [
    ("10,000 tasks", spec(tasks=_tasks(10_000)), 400, "PINFLOW_MAX_TASKS_PER_DAG"),
    (
        "huge spec",
        spec(tasks=[{**_tasks(1)[0], "args": {"blob": "x" * 9 * MB}}]),
        400,
        "PINFLOW_MAX_SPEC_BYTES",
    ),
    ("cycle", spec(tasks=_cycle()), 400, "cycle: a -> b -> c -> a"),
    ("dag id traversal", spec("../../etc"), 422, "body.spec.dag_id"),
    ("dag id with a slash", spec("etl/../x"), 422, "body.spec.dag_id"),
    ("dag id with a newline", spec("etl\n"), 422, "body.spec.dag_id"),
    ("task id traversal", spec(tasks=_with_task_id("../../t")), 422, "task_id"),
    ("task id control char", spec(tasks=_with_task_id("t\x00")), 422, "task_id"),
    ("project traversal", spec(project="../beta"), 422, "body.spec.project"),
    ("NUL in a name", spec(name="Nightly\x00"), 400, "NUL character (\\u0000) at name"),
    (
        "NUL in an argument",
        spec(tasks=[{**_tasks(1)[0], "args": {"x": ["ok", "a\x00"]}}]),
        400,
        "at tasks[0].args.x[1]",
    ),
]


@pytest.mark.parametrize(
    ("body_spec", "status", "says"), [pytest.param(*rest, id=case) for case, *rest in SPEC_CASES]
)
def test_a_bad_spec_is_refused_and_nothing_is_written(
    pusher: Pusher, body_spec: dict[str, Any], status: int, says: str
) -> None:
    before = dump(pusher.db)

    response = pusher.push(body_spec, GOOD)

    assert response.status_code == status, response.text
    assert says in _message(response)
    assert dump(pusher.db) == before


def _surrogate_json() -> bytes:
    return b'{"spec": {"dag_id": "fresh", "project": "alpha", "description": "\\ud800"}}'


RAW_CASES: list[tuple[str, str, bytes, int, str]] = [
    ("non-UTF-8 body", "/api/snapshots", b'{"spec": "\xff\xfe"}', 400, "not UTF-8 text"),
    ("latin-1 body", "/api/snapshots", '{"spec": "café"}'.encode("latin-1"), 400, "not UTF-8"),
    ("invalid JSON", "/api/snapshots", b'{"spec": {', 422, "not valid JSON"),
    ("empty body", "/api/snapshots", b"", 422, "body"),
    ("escaped surrogate", "/api/snapshots", _surrogate_json(), 400, "not valid Unicode"),
    (
        "escaped surrogate elsewhere",
        "/api/v2/variables",
        b'{"key": "k", "value": "v", "description": "\\udc00"}',
        400,
        "not valid Unicode",
    ),
    ("non-UTF-8 elsewhere", "/api/v2/variables", b'{"key": "\xff"}', 400, "not UTF-8 text"),
    ("bad JSON elsewhere", "/api/v2/pools", b"{'name': 1}", 422, "not valid JSON"),
]


@pytest.mark.parametrize(
    ("path", "content", "status", "says"),
    [pytest.param(*rest, id=case) for case, *rest in RAW_CASES],
)
def test_a_body_that_does_not_parse_gets_a_clear_4xx(
    pusher: Pusher, path: str, content: bytes, status: int, says: str
) -> None:
    before = dump(pusher.db)

    response = pusher.post(content, path)

    assert response.status_code == status, response.text
    assert says in response.text
    assert dump(pusher.db) == before


def test_a_45_mb_bundle_is_refused_with_413_before_it_is_read(pusher: Pusher) -> None:
    before = dump(pusher.db)
    bundle = zipped(*((f"part{i}.bin", b"\0" * 7_500_000) for i in range(6)))

    response = pusher.push(spec(), bundle)

    assert response.status_code == 413, response.text
    assert "over the limit of" in _message(response)
    assert "PINFLOW_MAX_BUNDLE_BYTES" in _message(response)
    assert dump(pusher.db) == before


def test_a_streamed_body_is_counted_and_cut_off(db: Database, tmp_path: Path) -> None:
    """No Content-Length (chunked): the bytes are counted as they arrive, and reading stops."""
    make_user(db, "editor", {"alpha": Role.EDITOR})
    app = make_app(db, tmp_path, max_bundle_bytes=1000, max_spec_bytes=1000)
    before = dump(db)
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(1000):
            sent.append(1000)
            yield b" " * 1000

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            headers = {**bearer(app, "editor"), **JSON_HEADERS}
            return await c.post("/api/snapshots", content=chunks(), headers=headers)

    response = anyio.run(post)

    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert "grew past the limit" in _message(response)
    assert sum(sent) < 100_000  # the limit is 1336 + 1000 + 64 KiB: the rest was never read
    assert dump(db) == before


def test_the_limits_are_settings(db: Database, tmp_path: Path) -> None:
    p = _pusher(db, tmp_path, max_file_bytes=5, max_tasks_per_dag=1)

    too_big = p.push(spec(tasks=_tasks(1)), zipped(("dags/etl.py", b"x = 100\n")))
    too_many = p.push(spec(), GOOD)

    assert too_big.status_code == 400
    assert "'dags/etl.py' is 8 bytes or more, over the limit of 5 bytes" in _message(too_big)
    assert too_many.status_code == 400
    assert "2 tasks, more than the limit of 1 per DAG" in _message(too_many)


def test_a_good_bundle_still_pushes(pusher: Pusher) -> None:
    before = dump(pusher.db)

    response = pusher.push(spec(), GOOD)

    assert response.status_code == 201, response.text
    assert response.json()["dagCreated"] is True
    assert dump(pusher.db) != before  # the comparison sees a write
