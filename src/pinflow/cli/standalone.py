"""``pinflow standalone``: everything on one machine in one command.

One process: the API and web UI (uvicorn, in a thread) and the scheduler (in the main thread,
which the local executor needs: its zygote dies with the thread that started it). The
executor's zygote is a child process, and tasks are its children. SIGINT or SIGTERM stops the
scheduler first (live tasks are ended and recorded as failed: "scheduler stopped"), then the
API; nothing is left running.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pinflow.cli.common import ExitCode, fail
from pinflow.cli.server import HOME_OPTION, load_settings, safe_url
from pinflow.errors import ConflictError, NotFoundError
from pinflow.runtime.private import private_dirs

if TYPE_CHECKING:
    import uvicorn

    from pinflow.settings import Settings
    from pinflow.store.db import Database

ADMIN = "admin"
ACTOR = "standalone"
PASSWORD_FILE = "standalone_admin_password.txt"  # noqa: S105 - a file name
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "example_dags"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
log = logging.getLogger(__name__)


def ensure_admin(db: Database, home: Path) -> str | None:
    """Create the superuser ``admin`` on first start; its password is returned (to print
    once) and written to ``$PINFLOW_HOME/standalone_admin_password.txt`` (mode 0600)."""
    from pinflow.services.commands import users

    if any(u.username == ADMIN for u in users.list_users(db)):
        return None
    password = secrets.token_urlsafe(12)
    try:
        users.create_user(db, ADMIN, password, actor=ACTOR, is_superuser=True)
    except ConflictError:  # another standalone on this home got there first
        return None
    path = home / PASSWORD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(password + "\n")
    return password


def load_examples(db: Database) -> list[str]:
    """Register the example DAGs that are not registered yet; never touch one that exists
    (the user may have pushed a fix, deregistered it, or deprecated a version)."""
    from pinflow.sdk.compiler import compile_path
    from pinflow.services.commands import push
    from pinflow.services.reads import dag_queries

    loaded = []
    for item in compile_path(EXAMPLES_DIR):
        try:
            dag_queries.get_dag(db, item.spec.dag_id, include_deregistered=True)
            continue
        except NotFoundError:
            pass
        push.register_snapshot(db, item.spec, item.bundle, actor=ACTOR)
        loaded.append(item.spec.dag_id)
    return loaded


def bind(host: str, port: int) -> socket.socket:
    """Bind before starting anything, so a port in use is a clear error, not a log line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(
            f"Cannot listen on {host}:{port}: {exc.strerror}",
            ExitCode.FAILURE,
            hint="Pick another port with --port (0 picks a free one).",
        )
    return sock


@dataclass
class ApiThread:
    """uvicorn serving the app in a thread (it leaves signals to the main thread)."""

    server: uvicorn.Server
    thread: threading.Thread

    @classmethod
    def start(cls, db: Database, settings: Settings, sock: socket.socket) -> ApiThread:
        import uvicorn

        from pinflow.api.app import create_app

        config = uvicorn.Config(
            create_app(db, settings),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
            proxy_headers=False,  # PINFLOW_TRUSTED_PROXIES decides (api.app.trust_proxies)
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="api", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                fail("The API server did not start (see the log above).")
            time.sleep(0.02)
        return cls(server, thread)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(STOP_TIMEOUT)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(STOP_TIMEOUT)


def public_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - a comparison
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}"


def banner(url: str, settings: Settings, password: str | None, examples: list[str]) -> str:
    password_file = settings.home / PASSWORD_FILE
    if password is not None:
        login = f"{password}\n    (shown once; also in {password_file}, mode 0600)"
    else:
        login = f"unchanged (see {password_file})"
    lines = [
        "Pinflow standalone is running.",
        f"  URL:             {url}",
        f"  Admin user:      {ADMIN}",
        f"  Admin password:  {login}",
        f"  Home:            {settings.home}",
        f"  Database:        {safe_url(settings.database_url)}",
        f"  Example DAGs:    {', '.join(examples) if examples else 'already loaded'}",
        f"  CLI:             pinflow login --url {url} -u {ADMIN}",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def _prepare(settings: Settings, with_examples: bool) -> tuple[Database, list[str]]:
    from pinflow.store import migrate
    from pinflow.store.db import Database

    private_dirs(settings.home)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    examples = load_examples(db) if with_examples else []
    return db, examples


def _run_scheduler(db: Database, settings: Settings, stop: threading.Event) -> None:
    from pinflow.executors.base import load_executor
    from pinflow.scheduler.loop import Scheduler

    # The API shares this process: a trigger wakes the scheduler at once (services.wakeups),
    # so the poll for new runs is only a safety net, as the sweep is, and at rest both slow down.
    scheduler = Scheduler(db, load_executor(settings), settings, in_process_api=True)

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()
        scheduler.wake()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    gc.set_threshold(20_000, 20, 20)  # as the scheduler process does (see scheduler.main)
    try:
        if not stop.is_set():
            scheduler.run_forever(stop)
    finally:
        scheduler.close()


@click.command("standalone")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@HOME_OPTION
@click.option("--no-examples", is_flag=True, help="Do not load the example DAGs.")
def standalone(host: str, port: int, home: Path | None, no_examples: bool) -> None:
    """Run Pinflow on this machine: API, web UI, scheduler and local executor, on SQLite
    under PINFLOW_HOME (migrated on start). The first start creates the user admin and
    prints its password once; later starts reuse everything. Ctrl-C stops it all.

    \b
    Examples:
      pinflow standalone
      pinflow standalone --port 9090 --home ./pinflow-home
    """
    stop = threading.Event()

    def early_stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, early_stop)
    signal.signal(signal.SIGINT, early_stop)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings(home)
    sock = bind(host, port)
    db, examples = _prepare(settings, not no_examples)
    api = ApiThread.start(db, settings, sock)
    try:
        # Only once everything is up: a start that fails must not spend the one showing.
        password = ensure_admin(db, settings.home)
        url = public_url(host, sock.getsockname()[1])
        click.echo(banner(url, settings, password, examples))
        sys.stdout.flush()
        _run_scheduler(db, settings, stop)
    finally:
        api.stop()
        sock.close()
        db.dispose()
    click.echo("Pinflow standalone stopped.", err=True)
