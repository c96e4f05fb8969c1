"""What the browser tests share: seeding through the services, a watch on the page's console
and responses, the audit check, screenshots on demand."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Page, Response, expect

from pinflow.services.commands import _push as push
from pinflow.services.commands._push import PushMode
from pinflow.spec.models import DagSpec, TaskSpec
from pinflow.store.db import Database
from pinflow.testing import ExecutionContext, TaskOutcome

# docs/screenshots is made by scripts/screenshots.py alone (ADR 0029); a test's screenshot is
# kept only when PINFLOW_TEST_SHOTS names a directory, to look at what a test saw.
SHOTS = os.environ.get("PINFLOW_TEST_SHOTS")
_SCRIPT_CALLS = ("/api/", "/auth/", "/ui/api/", "/ui/session/")


def make_spec(dag_id: str, name: str, *, load: str = "echo load") -> DagSpec:
    return DagSpec(
        dag_id=dag_id,
        name=name,
        description=f"{name}: extract, then load.",
        project="alpha",
        params={"day": {"type": "string", "default": "today", "description": "Which day"}},
        trigger={"schedule": "@daily", "timezone": "Europe/Paris"},
        tasks=[
            TaskSpec(task_id="extract", kind="bash", bash_command="echo extract"),
            TaskSpec(task_id="load", kind="bash", bash_command=load, depends_on=["extract"]),
        ],
    )


def publish(db: Database, spec: DagSpec, *, deprecate_previous: bool = False) -> str:
    """A new active version, as CI's ``pinflow dags push`` makes it; its id."""
    result = push.register_snapshot(
        db, spec, actor="ci", mode=PushMode.PUBLISH, deprecate_previous=deprecate_previous
    )
    return result.version.id


def draft(db: Database, spec: DagSpec) -> str:
    return push.register_snapshot(db, spec, actor="ci", mode=PushMode.DRAFT).version.id


def bash_handler(ctx: ExecutionContext) -> TaskOutcome:
    """Runs "bash" tasks by their command's meaning: ``exit 1`` fails, anything else succeeds
    and returns a small XCom."""
    command = ctx.task.bash_command or ""
    if "exit 1" in command:
        return TaskOutcome(success=False, error=f"{ctx.task_id}: command exited with status 1")
    return TaskOutcome(success=True, value={"task": ctx.task_id, "rows": 3})


@dataclass
class Watch:
    """Fails the test on a console error, an uncaught script error, or an HTTP error the test
    did not announce with ``expect`` (any non-2xx from the API; any 4xx/5xx for the rest)."""

    expected: list[tuple[int, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def expect(self, status: int, url_part: str) -> None:
        self.expected.append((status, url_part))

    def _allowed(self, status: int | None, url: str) -> bool:
        return any((status is None or s == status) and part in url for s, part in self.expected)

    def on_response(self, response: Response) -> None:
        status, url = response.status, response.url
        is_call = any(part in url for part in _SCRIPT_CALLS)
        failed = not 200 <= status < 300 if is_call else status >= 400
        if failed and not self._allowed(status, url):
            self.problems.append(f"HTTP {status} {response.request.method} {url}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        failed_load = message.text.startswith("Failed to load resource")
        if not (failed_load and self._allowed(None, url)):
            self.problems.append(f"console error: {message.text} ({url})")

    def on_page_error(self, error: Exception) -> None:
        self.problems.append(f"page error: {error}")

    def attach(self, page: Page) -> None:
        page.on("response", self.on_response)
        page.on("console", self.on_console)
        page.on("pageerror", self.on_page_error)

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def actions_of(page: Page, scope: str) -> list[str]:
    """The labels of the action buttons and links in ``scope`` (seed 001's tables)."""
    return [t.strip() for t in page.locator(f"{scope} .actions > .btn").all_inner_texts()]


def audit_shows(page: Page, base: str, target: str, actions: list[str]) -> None:
    """The audit page, filtered on ``target``, lists each of ``actions``."""
    page.goto(f"{base}/ui/audit?target={target}")
    shown = page.locator("#audit .audit-action")
    for action in actions:
        expect(shown.filter(has_text=re.compile(rf"^{re.escape(action)}$")).first).to_be_visible()


def screenshot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)
