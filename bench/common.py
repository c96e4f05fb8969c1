"""What the benches share: a real Pinflow stack in this process, and how to read its figures.

``open_stack()`` builds what ``pinflow standalone`` runs, on a fresh home and database: the
schema migrated, an admin user, the API (uvicorn, in a thread, on a free 127.0.0.1 port) and
the scheduler with the local executor. The scheduler runs in its own thread for the whole
bench: the executor forks its zygote from that thread, which is what the executor asks for
(the zygote dies with the thread that started it). The bench talks to the API over HTTP with
a JWT from ``POST /auth/token``, as any client does.

Timing without bias: a run's wall time is read from the database, from the moment the
trigger request was sent (``time.time()``) to the run's ``end_date`` (stamped by the
scheduler with ``datetime.now(UTC)``: the same clock). The bench polls the run's state only
to know when to read it; how often it polls changes nothing in the figure (except the small
load of the poll itself, one indexed read every ``POLL`` seconds).

``--db postgresql://user@host:port/any`` measures on PostgreSQL: a fresh database is created
on that server for the bench and dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from pinflow.cli.standalone import ApiThread, bind
from pinflow.executors.base import load_executor
from pinflow.scheduler.loop import Scheduler
from pinflow.sdk.compiler import compile_path
from pinflow.services.commands import _users as users
from pinflow.services.commands._push import register_snapshot
from pinflow.settings import Settings
from pinflow.store import migrate
from pinflow.store.db import Database, normalize_url
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry

BENCH_DIR = Path(__file__).resolve().parent
DAGS_DIR = BENCH_DIR / "dags"
REPO_DIR = BENCH_DIR.parent
ADMIN = "bench"
PASSWORD = "bench-password-123"  # noqa: S105 - a throw-away user in a throw-away database
FINAL_STATES = ("success", "failed")
POLL = 0.025  # seconds between looks at a run's state (the figures do not depend on it)
STATE_OF_RUN = text("SELECT state FROM dag_run WHERE id = :pk")


# --- figures -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def machine() -> dict[str, str]:
    """What the figures were measured on (printed by every bench, kept in the README)."""
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rev = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "src")
    return {
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpus": str(os.cpu_count()),
        "memory": f"{int(mem) / 1024 / 1024:.1f} GiB",
        "load average (1/5/15 min)": load,
        "python": platform.python_version(),
        "pinflow": f"{rev}{' + uncommitted changes in src/' if dirty else ''}",
    }


def _git(*args: str) -> str:
    command = ["git", "-C", str(REPO_DIR), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    return done.stdout.strip()


def print_machine(db_url: str) -> None:
    info = machine()
    info["database"] = "SQLite (file, WAL)" if db_url.startswith("sqlite") else "PostgreSQL"
    for key, value in info.items():
        print(f"  {key:<26} {value}")


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", help="a PostgreSQL server URL (a fresh database is created); default SQLite"
    )
    parser.add_argument(
        "--parallelism", type=int, default=None, help="task slots (default: Pinflow's, the cores)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the home folder (logs, db)")


# --- a fresh database --------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(home: Path, server_url: str | None) -> Iterator[str]:
    """A SQLite file in ``home``, or a new database on the PostgreSQL server of ``server_url``."""
    if not server_url:
        yield f"sqlite:///{home / 'pinflow.db'}"
        return
    url = make_url(normalize_url(server_url))
    name = f"pinflow_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- the scheduler, in a thread of its own ----------------------------------------------------


class SchedulerThread(threading.Thread):
    """``Scheduler.run_forever`` in a thread that lives as long as the bench's stack.

    ``cpu_seconds()`` is this thread's CPU time (user + system), read through its per-thread
    clock: the scheduler's own cost, without the API's or the bench's.
    """

    def __init__(self, scheduler: Scheduler, profile: Path | None = None) -> None:
        super().__init__(name="scheduler", daemon=True)
        self.scheduler = scheduler
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.profile = profile
        self._clock: int | None = None
        self._final_cpu = 0.0

    def run(self) -> None:
        profiler = None
        if self.profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        try:
            self._clock = time.pthread_getcpuclockid(threading.get_ident())
            self.scheduler.start()  # forks the executor's zygote from this thread
            self.ready.set()
            self.scheduler.run_forever(self.stop_event)
        except BaseException as exc:
            self.error = exc
            self.ready.set()
        finally:
            self.scheduler.close()
            self._final_cpu = time.thread_time()
            if profiler is not None and self.profile is not None:
                profiler.disable()
                profiler.dump_stats(self.profile)

    def cpu_seconds(self) -> float:
        if self._clock is not None and self.is_alive():
            with contextlib.suppress(OSError):  # it ended meanwhile
                return time.clock_gettime(self._clock)
        return self._final_cpu

    def shutdown(self) -> None:
        if self.is_alive():
            self.stop_event.set()
            self.scheduler.wake()
            self.join(60)


# --- the stack ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Triggered:
    dag_id: str
    run_id: str
    sent_at: float  # time.time() just before the request was sent
    answered_at: float  # and once its answer was read


@dataclass(frozen=True)
class TaskTimes:
    task_id: str
    map_index: int
    state: str
    start: float | None  # epoch seconds
    end: float | None


@dataclass(frozen=True)
class RunTimes:
    run_pk: int
    dag_id: str
    run_id: str
    state: str
    sent_at: float
    created: float
    start: float
    end: float
    tasks: list[TaskTimes]

    @property
    def wall(self) -> float:
        """From the trigger request being sent to the run's end (what issue #3 measures)."""
        return self.end - self.sent_at


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class Stack:
    """A running Pinflow: API over HTTP, scheduler and local executor (see the module docs)."""

    def __init__(
        self,
        *,
        home: Path,
        db_url: str,
        settings: Settings,
        db: Database,
        api: ApiThread,
        sock: socket.socket,
    ) -> None:
        self.home = home
        self.db_url = db_url
        self.settings = settings
        self.db = db
        self.api = api
        self.sock = sock
        self.url = url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.scheduler: SchedulerThread | None = None
        self.client = httpx.Client(base_url=url, timeout=120)
        self.token = self._login()
        self.client.headers["Authorization"] = f"Bearer {self.token}"

    def _login(self) -> str:
        answer = self.client.post("/auth/token", json={"username": ADMIN, "password": PASSWORD})
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def start_scheduler(self, profile: Path | None = None) -> SchedulerThread:
        gc.set_threshold(20_000, 20, 20)  # what the scheduler and standalone processes set
        # The API shares this process, as in standalone: its commits wake the scheduler.
        scheduler = Scheduler(
            self.db, load_executor(self.settings), self.settings, in_process_api=True
        )
        thread = SchedulerThread(scheduler, profile)
        thread.start()
        thread.ready.wait(120)
        if thread.error is not None:
            raise RuntimeError("the scheduler did not start") from thread.error
        self.scheduler = thread
        return thread

    def push(self, path: Path) -> list[str]:
        """Compile a DAG file (or folder) and register it: a new active version, current."""
        dag_ids = []
        for compiled in compile_path(path):
            register_snapshot(self.db, compiled.spec, compiled.bundle, actor=ADMIN)
            dag_ids.append(compiled.spec.dag_id)
        return dag_ids

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> Triggered:
        """``POST /api/v2/dags/{dag_id}/dagRuns``, as Airflow's client sends it."""
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        sent = time.time()
        answer = self.client.post(f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        answered = time.time()
        answer.raise_for_status()
        return Triggered(dag_id, answer.json()["dag_run_id"], sent, answered)

    def wait(self, run: Triggered, timeout: float, poll: float = POLL) -> RunTimes:
        """Wait until the run is final, then read its stamps and its task instances' stamps.

        Each look is one prepared ``SELECT`` on a connection of its own (about 0.1 ms of the
        GIL, which the scheduler thread shares): the ORM session would cost ten times that.
        """
        deadline = time.monotonic() + timeout
        with self.db.read() as s:
            run_pk = s.execute(
                select(DagRun.id).where(DagRun.dag_id == run.dag_id, DagRun.run_id == run.run_id)
            ).scalar_one()
        # Read-only as the store's reads are: on SQLite, a plain BEGIN (no write lock).
        with self.db.engine.execution_options(pinflow_readonly=True).connect() as conn:
            while True:
                state = conn.execute(STATE_OF_RUN, {"pk": run_pk}).scalar_one()
                conn.rollback()  # a fresh snapshot for the next look
                if state in FINAL_STATES:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{run.dag_id}/{run.run_id} is still {state} after {timeout}s"
                    )
                if self.scheduler is not None and not self.scheduler.is_alive():
                    raise RuntimeError("the scheduler thread died") from self.scheduler.error
                time.sleep(poll)
        return self.run_times(run_pk, run.sent_at)

    def give_up(self, run: Triggered) -> None:
        """Mark a run that will not finish as failed, so that it holds nothing up."""
        self.client.patch(
            f"/api/v2/dags/{run.dag_id}/dagRuns/{run.run_id}", json={"state": "failed"}
        ).raise_for_status()

    def run_times(self, run_pk: int, sent_at: float) -> RunTimes:
        with self.db.read() as s:
            run = s.get(DagRun, run_pk)
            assert run is not None
            rows = s.execute(
                select(
                    TaskInstance.task_id,
                    TaskInstance.map_index,
                    TaskInstance.state,
                    TaskInstance.start_date,
                    TaskInstance.end_date,
                )
                .where(TaskInstance.run_pk == run_pk)
                .order_by(TaskInstance.id)
            ).all()
        tasks = [TaskTimes(t, m, st, _epoch(a), _epoch(b)) for t, m, st, a, b in rows]
        return RunTimes(
            run_pk,
            run.dag_id,
            run.run_id,
            run.state,
            sent_at,
            run.created_at.timestamp(),
            _epoch(run.start_date) or 0.0,
            _epoch(run.end_date) or 0.0,
            tasks,
        )

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown()
            if self.scheduler.error is not None:
                print(f"the scheduler thread failed: {self.scheduler.error!r}")
        self.client.close()
        self.api.stop()
        self.sock.close()
        self.db.dispose()


@contextlib.contextmanager
def open_stack(
    db: str | None = None,
    *,
    parallelism: int | None = None,
    keep: bool = False,
    scheduler: bool = True,
    profile: Path | None = None,
) -> Iterator[Stack]:
    """A fresh stack (see the module docs); everything is stopped and removed afterwards,
    except the home folder with ``keep`` (its path is printed)."""
    home = Path(tempfile.mkdtemp(prefix="pinflow-bench-"))
    try:
        with fresh_database(home, db) as url:
            stack = _start(home, url, parallelism)
            try:
                if scheduler:
                    stack.start_scheduler(profile)
                yield stack
            finally:
                stack.close()
    finally:
        if keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def _start(home: Path, url: str, parallelism: int | None) -> Stack:
    overrides: dict[str, Any] = {"home": home, "database_url": url}
    if parallelism:
        overrides["parallelism"] = parallelism
    settings = Settings(**overrides)
    database = Database(url)
    migrate.upgrade(database)
    users.create_user(database, ADMIN, PASSWORD, actor="bench", is_superuser=True)
    sock = bind("127.0.0.1", 0)
    api = ApiThread.start(database, settings, sock)
    return Stack(home=home, db_url=url, settings=settings, db=database, api=api, sock=sock)


def bulk_insert(
    db: Database, rows: Iterable[tuple[str, dict[str, Any]]], *, flush_on: str, chunk: int
) -> float:
    """Insert a history of ``("run" | "ti" | "try", row)`` pairs in one transaction, batched:
    the pending rows go in, runs first, each time ``chunk`` rows of kind ``flush_on`` wait.
    Returns the seconds it took."""
    began = time.perf_counter()
    tables = {
        "run": DagRun.__table__,
        "ti": TaskInstance.__table__,
        "try": TaskInstanceTry.__table__,
    }
    pending: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
    with db.transaction() as s:
        for name, row in rows:
            pending[name].append(row)
            if name == flush_on and len(pending[name]) >= chunk:
                for key, table in tables.items():
                    if pending[key]:
                        s.execute(insert(table), pending[key])
                        pending[key] = []
        for key, table in tables.items():
            if pending[key]:
                s.execute(insert(table), pending[key])
    return time.perf_counter() - began
