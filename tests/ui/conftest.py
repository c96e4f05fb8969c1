"""Browser fixtures: one real uvicorn server per module on its own migrated SQLite file, one
headless Debian Chromium per session, and a fresh logged-in page per test whose console and
HTTP responses are watched (see ``helpers.Watch``).

UI tests run on SQLite only: the pages read through the same services the API uses, and those
are tested on both backends elsewhere.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from tests.ui.helpers import Watch

from pinflow.api.app import create_app
from pinflow.api.auth import AuthConfig, issue_access_token
from pinflow.services.commands import _users as users
from pinflow.settings import Settings
from pinflow.store.db import Database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# CI runs the browser tests beside the scheduler and scale-out tests on 2 cores (load 10-15): a
# server answer can take longer than Playwright's 5 s default. An assertion that holds returns at
# once, so a longer bound costs nothing when the page is right.
expect.set_options(timeout=15_000)
JWT_SECRET = "ui-tests-" + "0123456789abcdef" * 3
PASSWORD = "correct horse battery staple"
ADMIN = "admin"


@dataclass
class Server:
    url: str
    db: Database
    auth: AuthConfig

    def token(self, username: str = ADMIN) -> str:
        return issue_access_token(self.auth, users.principal_of_user(self.db, username))


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("ui")
    shutil.copyfile(sqlite_template, home / "pinflow.db")
    db = Database(f"sqlite:///{home / 'pinflow.db'}")
    users.create_user(db, ADMIN, PASSWORD, actor="test", is_superuser=True)
    auth = AuthConfig(jwt_secret=JWT_SECRET)
    app = create_app(db, Settings(home=home), auth_config=auth)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert uv.started, "uvicorn did not start"
    yield Server(f"http://127.0.0.1:{port}", db, auth)
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()
    db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module: Playwright's sync API keeps an event loop running in this thread, which
    tests that drive an ASGI app with ``anyio.run`` cannot share."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def context(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    """A browser session logged in as the admin (the login page has its own test)."""
    ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    ctx.add_cookies(
        [
            {
                "name": "pinflow_token",
                "value": server.token(),
                "url": server.url,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, watch: Watch) -> Iterator[Page]:
    tab = context.new_page()
    watch.attach(tab)
    yield tab
    watch.check()
