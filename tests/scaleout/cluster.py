"""A Pinflow cluster of real processes for the scale-out tests: brokers of our own, an API
server, schedulers with the Celery executor, and Celery workers that hold no database URL.

Brokers: a Redis server started per test (its own port and directory, so a test can stop and
restart it), or a RabbitMQ virtual host of the machine's server created per test. Processes
are ``pinflow`` commands as an operator runs them, each with its own ``PINFLOW_HOME``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pinflow.services.commands import _runs as runs
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry

IN_CI = os.environ.get("CI") == "true"
SECRET = "scale-out-tests-instance-secret-0123456789abcdef"
PINFLOW = [sys.executable, "-m", "pinflow.cli"]
FINISHED = {"success", "failed"}


def need(condition: bool, why: str) -> None:
    """A missing service fails in CI and skips elsewhere, saying why."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {why}")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def until(what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def base_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINFLOW_")}
    env.pop("PINFLOW_TEST_DATABASE_URL", None)
    return {**env, "PYTHONUNBUFFERED": "1", "PINFLOW_HOME": str(home), **extra}


# -- brokers -----------------------------------------------------------------------------------


@dataclass
class RedisBroker:
    """A redis-server of our own (append-only file on, so a restart keeps the queues)."""

    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.root), "--appendonly", "yes", "--save", ""]
        with (self.root / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        until("redis to answer", self.answers, timeout=10)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # redis flushes its append-only file on SIGTERM
            self.proc.wait(10)
            self.proc = None


@contextlib.contextmanager
def redis_broker(root: Path) -> Iterator[RedisBroker]:
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    broker = RedisBroker(root)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class AmqpBroker:
    """A virtual host of the machine's RabbitMQ, for this test alone."""

    vhost: str

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}"


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False
    )


@contextlib.contextmanager
def amqp_broker() -> Iterator[AmqpBroker]:
    need(shutil.which("rabbitmqctl") is not None, "rabbitmqctl is not installed")
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError:
        need(False, "RabbitMQ is not reachable at 127.0.0.1:5672")
    vhost = f"pf-{uuid.uuid4().hex[:10]}"
    made = _rabbitmqctl("add_vhost", vhost)
    assert made.returncode == 0, made.stderr
    granted = _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    assert granted.returncode == 0, granted.stderr
    try:
        yield AmqpBroker(vhost)
    finally:
        _rabbitmqctl("delete_vhost", vhost)


# -- processes ---------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL to the whole process group: the host's processes all vanish at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()


@dataclass
class Cluster:
    """API server + schedulers + workers on one PostgreSQL database and one broker."""

    db: Database
    broker_url: str
    root: Path
    api_port: int = field(default_factory=free_port)
    procs: list[Proc] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        log = self.root / f"{name}.log"
        with log.open("ab") as handle:
            proc = subprocess.Popen(
                [*PINFLOW, *argv],
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        started = Proc(name, proc, log)
        self.procs.append(started)
        return started

    def control_env(self, name: str, **extra: str) -> dict[str, str]:
        """What the API server and the schedulers get: the database and the secret."""
        return base_env(
            self.root / name,
            PINFLOW_DATABASE_URL=self.db.url,
            PINFLOW_JWT_SECRET=SECRET,
            PINFLOW_EXECUTOR="celery",
            PINFLOW_BROKER_URL=self.broker_url,
            PINFLOW_EXECUTION_API_URL=self.api_url,
            PINFLOW_HEARTBEAT_INTERVAL="0.5",
            PINFLOW_ZOMBIE_THRESHOLD="4",
            PINFLOW_SCHEDULER_HEALTH_THRESHOLD="4",
            PINFLOW_SWEEP_INTERVAL="0.5",
            # Artifacts and run staging shared by every host (the netns test uses s3://).
            PINFLOW_SHARED_STORE_URL=(self.root / "shared").as_uri(),
            **{**self.settings, **extra},
        )

    def start_api(self, name: str = "api", port: int | None = None) -> Proc:
        """An API server on ``port`` (default: the one the schedulers name to workers)."""
        port = port or self.api_port
        argv = ["api-server", "--port", str(port)]
        proc = self._spawn(name, argv, self.control_env(name))
        url = f"http://127.0.0.1:{port}"
        until(f"the API server {name}", lambda: self._healthy(proc, url), timeout=30)
        return proc

    def _healthy(self, proc: Proc, url: str) -> bool:
        assert proc.alive(), f"the API server exited:\n{proc.text()}"
        try:
            return httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_scheduler(self, name: str = "scheduler", **extra: str) -> Proc:
        return self._spawn(name, ["scheduler"], self.control_env(name, **extra))

    def start_worker(
        self, name: str, *, queues: str = "default", concurrency: int = 2, **extra: str
    ) -> Proc:
        """A worker with nothing of the control plane: only the broker and its own home
        (and ``extra`` settings of its own, such as ``PINFLOW_PIP_ARGS``)."""
        env = base_env(
            self.root / name,
            PINFLOW_BROKER_URL=self.broker_url,
            PINFLOW_HEARTBEAT_INTERVAL="0.5",
            **extra,
        )
        argv = ["celery", "worker", "--queues", queues, "--concurrency", str(concurrency)]
        proc = self._spawn(name, [*argv, "--hostname", name], env)
        until(f"worker {name} to be ready", lambda: self._ready(proc), timeout=60)
        return proc

    @staticmethod
    def _ready(proc: Proc) -> bool:
        assert proc.alive(), f"worker {proc.name} exited:\n{proc.text()}"
        return "ready." in proc.text()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    # -- runs ---------------------------------------------------------------------------------

    def trigger(self, dag_id: str, **kwargs: Any) -> str:
        return runs.trigger_run(self.db, dag_id=dag_id, actor="tester", **kwargs).run_id

    def wait_finished(
        self, dag_id: str, run_ids: list[str], timeout: float = 60.0
    ) -> dict[str, str]:
        def states() -> dict[str, str] | None:
            with self.db.read() as s:
                rows = s.execute(
                    select(DagRun.run_id, DagRun.state).where(
                        DagRun.dag_id == dag_id, DagRun.run_id.in_(run_ids)
                    )
                ).all()
            found = dict(rows)
            return found if all(found.get(r) in FINISHED for r in run_ids) else None

        try:
            return dict(until(f"runs {run_ids} of {dag_id} to finish", states, timeout=timeout))
        except AssertionError:
            raise AssertionError(self.diagnostics()) from None

    def diagnostics(self) -> str:
        tails = [f"--- {p.name} ---\n{p.text()[-3000:]}" for p in self.procs]
        with self.db.read() as s:
            rows = s.execute(select(TaskInstance.task_id, TaskInstance.state)).all()
        return f"task instances: {rows}\n" + "\n".join(tails)

    def tries(self, dag_id: str) -> list[TaskInstanceTry]:
        with self.db.read() as s:
            return list(
                s.scalars(
                    select(TaskInstanceTry)
                    .join(TaskInstance, TaskInstance.id == TaskInstanceTry.ti_id)
                    .where(TaskInstance.dag_id == dag_id)
                )
            )


@contextlib.contextmanager
def cluster(db: Database, broker_url: str, root: Path, **settings: str) -> Iterator[Cluster]:
    made = Cluster(db, broker_url, root, settings=settings)
    root.mkdir(parents=True, exist_ok=True)
    try:
        yield made
    finally:
        made.stop()
