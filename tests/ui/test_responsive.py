"""Issue #16, point 7 in the browser: every main page fits a 390 px phone and a 1360 px laptop,
in the light and the dark theme (the width rule of ADR 0029).

The instance is the showcase (``showcase.py``), the one the screenshots are taken of. A page
that is wider than its viewport fails with the page's name and the element that sticks out.
Real uvicorn, real Chromium, one SQLite file per module (UI tests run on SQLite only).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from tests.ui.conftest import Server
from tests.ui.helpers import Watch
from tests.ui.showcase import Showcase, seed
from tests.ui.widths import DESKTOP, PHONE, overflow

VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
THEMES = ("light", "dark")


@pytest.fixture(scope="module")
def showcase(server: Server) -> Showcase:
    return seed(server.db)


def themed_context(
    browser: Browser, server: Server, viewport: dict[str, int], theme: str, logged_in: bool
) -> BrowserContext:
    """A context whose system preference is ``theme`` (no explicit choice: "system")."""
    ctx = browser.new_context(viewport=viewport, color_scheme=theme)  # type: ignore[arg-type]
    if logged_in:
        token = server.token()
        ctx.add_cookies([{"name": "pinflow_token", "value": token, "url": server.url}])
    ctx.set_default_timeout(10_000)
    return ctx


def visit(page: Page, url: str, theme: str) -> str | None:
    page.goto(url)
    page.wait_for_load_state("load")
    expect(page.locator("html")).to_have_attribute("data-theme", "system")
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    dark = sum(int(x) for x in bg[bg.index("(") + 1 : bg.index(")")].split(",")[:3]) < 3 * 96
    assert dark == (theme == "dark"), f"{url}: body background {bg} in the {theme} theme"
    return overflow(page)


@pytest.fixture
def watched() -> Iterator[Watch]:
    watch = Watch()
    yield watch
    watch.check()


@pytest.mark.parametrize(
    "case", [(size, theme) for size in VIEWPORTS for theme in THEMES], ids="-".join
)
def test_every_main_page_fits_its_viewport(
    browser: Browser, server: Server, showcase: Showcase, watched: Watch, case: tuple[str, str]
) -> None:
    size, theme = case
    viewport = VIEWPORTS[size]
    too_wide: list[str] = []
    ctx = themed_context(browser, server, viewport, theme, logged_in=True)
    page = ctx.new_page()
    watched.attach(page)
    watched.expect(404, "/ui/workflows/00000000-")
    for name, path in showcase.pages().items():
        problem = visit(page, server.url + path, theme)
        if problem:
            too_wide.append(f"{name} ({path}): {problem}")
    ctx.close()

    anonymous = themed_context(browser, server, viewport, theme, logged_in=False)
    login = anonymous.new_page()
    watched.attach(login)
    problem = visit(login, server.url + "/ui/login", theme)
    if problem:
        too_wide.append(f"login: {problem}")
    anonymous.close()
    assert not too_wide, f"too wide at {viewport['width']} px ({theme}):\n" + "\n".join(too_wide)
