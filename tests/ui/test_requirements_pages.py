"""A version's Python requirements in the browser (issue #18, point 4; ADR 0032): the version
page lists them, the diff page shows a new pin as one removed and one added requirement.
Real uvicorn, real Chromium, SQLite."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from tests.ui.conftest import Server
from tests.ui.helpers import make_spec, publish


def test_version_page_and_diff_show_requirements(page: Page, server: Server) -> None:
    spec = make_spec("pinned_ui", "Pinned")
    old = publish(server.db, spec.model_copy(update={"requirements": ["pfdemo==1.0", "six"]}))
    new = publish(server.db, spec.model_copy(update={"requirements": ["pfdemo==2.0", "six"]}))
    page.goto(f"{server.url}/ui/workflows/{old}")
    expect(page.locator("#requirements")).to_have_text("pfdemo==1.0, six")
    page.goto(f"{server.url}/ui/diff?from={old}&to={new}")
    card = page.locator("#diff-requirements")
    expect(card.locator(".added")).to_have_text("+ pfdemo==2.0")
    expect(card.locator(".removed")).to_have_text("\u2212 pfdemo==1.0")


def test_a_version_without_requirements_says_it_uses_the_workers_packages(
    page: Page, server: Server
) -> None:
    plain = publish(server.db, make_spec("plain_ui", "Plain"))
    page.goto(f"{server.url}/ui/workflows/{plain}")
    expect(page.locator("#requirements")).to_contain_text("the worker's own packages")
