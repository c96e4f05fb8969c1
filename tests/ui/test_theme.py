"""Issue #16, point 7: the dark theme and the loading states (ADR 0029).

The theme follows the browser's ``prefers-color-scheme`` until the viewer picks light or dark
in the top bar; the choice is a cookie the server reads, so the next page arrives in it (the
HTML says so before any script runs). Requests in flight disable their control and mark it
``aria-busy``. Real uvicorn, real Chromium, one SQLite file per module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from tests.ui.conftest import Server
from tests.ui.helpers import Watch, make_spec, publish

CSS = Path(__file__).resolve().parents[2] / "src" / "pinflow" / "ui" / "static" / "pinflow.css"
TEMPLATES = CSS.parents[1] / "templates"
COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(")
LIGHT_BG, DARK_BG = "rgb(245, 247, 250)", "rgb(15, 20, 26)"


def background(page: Page) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def test_the_toggle_switches_the_theme_and_the_next_pages_arrive_in_it(
    page: Page, server: Server
) -> None:
    page.goto(f"{server.url}/ui/workflows")
    expect(page.locator("html")).to_have_attribute("data-theme", "system")
    assert background(page) == LIGHT_BG  # the context's system preference is light

    page.select_option("#theme-choice", "dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background(page) == DARK_BG
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "pinflow_theme"]
    assert cookie["value"] == "dark"

    # The server renders the choice into the page: the first paint is already dark.
    response = page.goto(f"{server.url}/ui/audit")
    assert response is not None
    assert '<html lang="en" data-theme="dark">' in response.text()
    expect(page.locator("#theme-choice")).to_have_value("dark")
    assert background(page) == DARK_BG

    page.select_option("#theme-choice", "light")
    page.emulate_media(color_scheme="dark")
    assert background(page) == LIGHT_BG  # an explicit light beats a dark system
    page.select_option("#theme-choice", "system")
    assert background(page) == DARK_BG  # "system" follows the browser again, without a reload
    page.reload()
    expect(page.locator("#theme-choice")).to_have_value("system")
    assert background(page) == DARK_BG


def test_a_dark_system_preference_is_followed_from_the_login_page_on(
    browser: Browser, server: Server
) -> None:
    ctx = browser.new_context(color_scheme="dark")
    page = ctx.new_page()
    watch = Watch()
    watch.attach(page)
    page.goto(f"{server.url}/ui/login")
    expect(page.locator("#theme-choice")).to_have_value("system")
    assert background(page) == DARK_BG
    card = page.evaluate("getComputedStyle(document.querySelector('.login')).backgroundColor")
    assert card == "rgb(24, 32, 42)"
    page.select_option("#theme-choice", "light")
    assert background(page) == LIGHT_BG
    page.reload()
    assert background(page) == LIGHT_BG
    watch.check()
    ctx.close()


def test_a_theme_cookie_the_server_does_not_know_means_system(page: Page, server: Server) -> None:
    page.context.add_cookies([{"name": "pinflow_theme", "value": "purple", "url": server.url}])
    response = page.goto(f"{server.url}/ui/workflows")
    assert response is not None
    assert 'data-theme="system"' in response.text()
    assert "purple" not in response.text()
    expect(page.locator("#theme-choice")).to_have_value("system")


def _block(css: str, selector: str) -> dict[str, str]:
    """The custom properties a rule of ``selector`` defines."""
    start = css.index(selector + " {") + len(selector) + 2
    body = css[start : css.index("}", start)]
    return dict(re.findall(r"(--[\w-]+):\s*([^;]+);", body))


def test_both_dark_blocks_define_the_same_tokens_as_the_light_one() -> None:
    css = CSS.read_text()
    light = _block(css, ":root")
    explicit = _block(css, ':root[data-theme="dark"]')
    system = _block(css, ':root:not([data-theme="light"])')
    assert explicit == system, "the two dark blocks differ: keep them equal"
    assert set(explicit) == set(light), set(explicit) ^ set(light)


def test_no_colour_is_written_outside_the_theme_tokens() -> None:
    css = CSS.read_text()
    rules = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules = re.sub(r":root[^{]*\{[^}]*\}", "", rules)  # the token blocks
    found = [line.strip() for line in rules.splitlines() if COLOUR.search(line)]
    assert not found, "use a token (var(--...)) instead of:\n" + "\n".join(found)
    for template in TEMPLATES.glob("*.html"):
        assert not COLOUR.search(template.read_text()), f"{template.name} writes a colour"


class Held:
    """Requests the test holds: routed to ``hold``, they wait until ``let_go``."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def hold(self, route: Route) -> None:
        self.routes.append(route)

    def let_go(self, page: Page) -> None:
        """Once Playwright has handed the request over (the page marks itself busy before the
        request leaves: the token comes first)."""
        for _ in range(500):
            if self.routes:
                self.routes.pop().continue_()
                return
            page.wait_for_timeout(10)  # lets Playwright dispatch the route event
        raise AssertionError("the request was never made")


@pytest.fixture
def held() -> Iterator[Held]:
    holder = Held()
    yield holder
    for route in holder.routes:
        route.continue_()


def test_a_slow_action_disables_its_button_and_marks_it_busy(
    page: Page, server: Server, held: Held
) -> None:
    version = publish(server.db, make_spec("ui_busy", "Busy"))
    page.goto(f"{server.url}/ui/workflows/{version}")
    page.route("**/api/v2/dags/ui_busy/impact", held.hold)
    button = page.locator("#dag-operations [data-action=clear-history]")
    button.click()
    expect(button).to_have_attribute("aria-busy", "true")
    expect(button).to_be_disabled()
    expect(page.locator("html")).to_have_attribute("data-busy", "")
    held.let_go(page)
    expect(page.locator("#dialog")).to_be_visible()
    expect(button).not_to_have_attribute("aria-busy", "true")
    expect(button).to_be_enabled()
    expect(page.locator("html")).not_to_have_attribute("data-busy", "")

    # The dialog's confirm button, while its request is on its way.
    page.route(re.compile(r"/api/v2/dags/ui_busy$"), held.hold)
    confirm = page.locator("#dialog-confirm")
    confirm.click()
    expect(confirm).to_have_attribute("aria-busy", "true")
    expect(confirm).to_be_disabled()
    held.let_go(page)
    expect(page.locator("#flash")).to_have_text("History of ui_busy cleared.")


# Recorded on the page when the submit button gets disabled, kept across the navigation (a
# page whose navigation is pending cannot be asked anything).
_RECORD = """() => {
  const form = document.forms["audit-filters"];
  const button = form.querySelector("[type=submit]");
  new MutationObserver(() => sessionStorage.setItem("seen", JSON.stringify(
    [form.getAttribute("aria-busy"), button.disabled]))).observe(button, { attributes: true });
}"""


def test_a_form_on_its_way_is_busy_and_its_button_disabled(
    page: Page, server: Server, held: Held
) -> None:
    page.goto(f"{server.url}/ui/audit")
    page.evaluate(_RECORD)
    page.route(re.compile(r"/ui/audit\?"), held.hold)
    page.fill("#audit-actor", "ci")
    # As a click would, without waiting for the navigation the test holds.
    page.locator("#audit-apply").evaluate("b => b.form.requestSubmit(b)")
    held.let_go(page)
    expect(page).to_have_url(re.compile(r"actor=ci"))
    assert page.evaluate("JSON.parse(sessionStorage.getItem('seen'))") == ["true", True]
    expect(page.locator("#audit-apply")).to_be_enabled()  # the new page's form is idle
    expect(page.locator("#audit-filters")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#audit-actor")).to_have_value("ci")
