"""Refresh docs/screenshots: every main page of a realistic instance, light and dark, on a
laptop (1360 px) and a phone (390 px), and the main dialogs; the only thing that writes there
(ADR 0029).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

The instance is the UI tests' showcase (tests/ui/showcase.py) on a fresh SQLite file, served by
a real uvicorn and photographed with Debian's Chromium. Each PNG is reduced to a palette of
256 colours (a flat UI loses nothing visible) and cut at ``MAX_HEIGHT`` CSS pixels. Prints
each file with its size, and the total.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the showcase lives with the UI tests

from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.ui.showcase import Showcase, seed  # noqa: E402
from tests.ui.widths import DESKTOP, PHONE  # noqa: E402

from pinflow.api.app import create_app  # noqa: E402
from pinflow.api.auth import AuthConfig, issue_access_token  # noqa: E402
from pinflow.services.commands import _users as users  # noqa: E402
from pinflow.settings import Settings  # noqa: E402
from pinflow.store import migrate  # noqa: E402
from pinflow.store.db import Database  # noqa: E402

SIZES = {"desktop": DESKTOP, "phone": PHONE}
THEMES = ("light", "dark")
MAX_HEIGHT = {"desktop": 1800, "phone": 2600}
ADMIN = "admin"


@contextmanager
def serve(db: Database, home: Path, auth: AuthConfig) -> Iterator[str]:
    """The app on a free local port, in a thread; its base URL."""
    app = create_app(db, Settings(home=home), auth_config=auth)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        raise SystemExit("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def shrink(path: Path) -> int:
    """Palette PNG in place; its new size in bytes."""
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path.stat().st_size


def shoot(page: Page, path: Path, size: str) -> int:
    height = page.evaluate("document.documentElement.scrollHeight")
    width = SIZES[size]["width"]
    clip = {"x": 0, "y": 0, "width": width, "height": min(height, MAX_HEIGHT[size])}
    page.screenshot(path=str(path), full_page=True, clip=clip, animations="disabled")
    return shrink(path)


def open_dialogs(page: Page, base: str, show: Showcase) -> Iterator[str]:
    """Open each main dialog in turn; yields its name while it is showing."""
    pages = show.pages()
    steps: list[tuple[str, str, str]] = [  # name, page, the button that opens it
        ("trigger-form", pages["detail"], "#detail-actions [data-action=start-run]"),
        ("clear-task", pages["run-failed"], "#task-train_churn_model [data-action=clear-task]"),
        ("mark-task", pages["run"], "#task-load_warehouse [data-action=mark-task]"),
        ("deregister", pages["detail"], "[data-action=deregister]"),
    ]
    for name, path, button in steps:
        page.goto(base + path)
        page.click(button)
        page.wait_for_selector("#dialog[open]")
        page.wait_for_selector("html:not([data-busy])", state="attached")
        yield name
        page.keyboard.press("Escape")


def photograph(browser: Browser, base: str, token: str, show: Showcase, out: Path) -> list[Path]:
    made: list[Path] = []
    for size, viewport in SIZES.items():
        for theme in THEMES:
            scheme = "dark" if theme == "dark" else "light"
            ctx = browser.new_context(viewport=viewport, color_scheme=scheme)
            page = ctx.new_page()
            page.goto(base + "/ui/login")
            made.append(out / f"login-{size}-{theme}.png")
            shoot(page, made[-1], size)
            ctx.add_cookies([{"name": "pinflow_token", "value": token, "url": base}])
            for name, path in show.pages().items():
                page.goto(base + path)
                page.wait_for_selector("html:not([data-busy])", state="attached")
                made.append(out / f"{name}-{size}-{theme}.png")
                shoot(page, made[-1], size)
            for name in open_dialogs(page, base, show):
                made.append(out / f"dialog-{name}-{size}-{theme}.png")
                page.screenshot(path=str(made[-1]), animations="disabled")
                shrink(made[-1])
            ctx.close()
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pinflow-shots-") as tmp:
        home = Path(tmp)
        db = Database(f"sqlite:///{home / 'pinflow.db'}")
        migrate.upgrade(db)
        users.create_user(db, ADMIN, "screenshots only", actor="screenshots", is_superuser=True)
        show = seed(db)
        auth = AuthConfig(jwt_secret="screenshots-" + "0123456789abcdef" * 3)
        token = issue_access_token(auth, users.principal_of_user(db, ADMIN))
        with serve(db, home, auth) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            made = photograph(browser, base, token, show, out)
            browser.close()
        db.dispose()
    for old in sorted(set(out.glob("*.png")) - set(made)):
        old.unlink()  # a page that is gone, or a name from before
    total = 0
    for path in made:
        total += path.stat().st_size
        print(f"{path.name}  {path.stat().st_size / 1024:.0f} KiB")
    print(f"{len(made)} screenshots, {total / 1024 / 1024:.2f} MiB in all")


if __name__ == "__main__":
    main()
