"""Issue #16 point 4 in the browser, "look, don't read": a real run with retries and a mapped
task (``tests.support.charted``, drained on a clock that moves a second per reading) drawn
as a Gantt chart on its run page, and the grid's duration bars and duration chart.

Real uvicorn, real Chromium, one SQLite file per module (UI tests run on SQLite only)."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Browser, Page, expect
from tests.support.charted import T0, Ticker, handler, publish_charted, run_charted
from tests.ui.conftest import Server
from tests.ui.helpers import screenshot

from pinflow.services.commands import _clear as clear
from pinflow.services.reads import RunView
from pinflow.testing import run_until_idle

LIVE = 10_000  # ms: how long a live-refreshed page may take to show a drained run


def _attrs(page: Page, selector: str, name: str) -> list[str]:
    return page.eval_on_selector_all(selector, f"els => els.map(e => e.getAttribute({name!r}))")


def _run(server: Server, dag_id: str) -> RunView:
    return run_charted(server.db, publish_charted(server.db, dag_id))


def test_the_gantt_chart_draws_every_try_of_every_task_instance(page: Page, server: Server) -> None:
    run = _run(server, "ui_gantt")
    page.goto(f"{server.url}/ui/dags/ui_gantt/runs/{run.run_id}")
    rows = "#gantt .gantt-row[data-task]"
    expect(page.locator(rows)).to_have_count(6)
    tasks = ["extract", "square", "square", "square", "square", "report"]
    assert _attrs(page, rows, "data-task") == tasks
    assert _attrs(page, rows, "data-map-index") == ["-1", "-1", "0", "1", "2", "-1"]

    # extract failed once and was retried: two bars, in the order of its tries.
    extract = "#gantt .gantt-row[data-task=extract] .gantt-try"
    assert _attrs(page, extract, "data-try") == ["1", "2"]
    assert _attrs(page, extract, "class") == [
        "gantt-bar gantt-try st-up_for_retry",
        "gantt-bar gantt-try st-success",
    ]
    xs = [float(x) for x in _attrs(page, extract, "x")]
    assert xs == [30.0, 150.0]  # 09:00:01 and 09:00:05 of a 20 s run on 600 px
    first_try = page.locator(extract).first.locator("title")
    assert first_try.text_content() == (
        "extract, try 1: up_for_retry\n"
        "2030-01-01 09:00:01 UTC → 2030-01-01 09:00:02 UTC\nduration 1.0s"
    )
    # The wait before its latest try: queued at 09:00:04, started at 09:00:05.
    wait = page.locator("#gantt .gantt-row[data-task=extract] .gantt-queued")
    expect(wait).to_have_attribute("x", "120.0")
    expect(wait).to_have_attribute("width", "30.0")
    ticks = page.locator("#gantt .tick-label").all_text_contents()
    assert ticks == ["09:00:00", "09:00:05", "09:00:10", "09:00:15", "09:00:20"]

    # The mapped task: a summary line; its elements folded until it is opened.
    summary = page.locator("#gantt .gantt-summary")
    expect(summary).to_have_attribute("data-state", "success")
    expect(summary.locator(".gantt-span")).to_have_count(1)
    element = page.locator("#gantt .gantt-row[data-task=square][data-map-index='1']")
    expect(element).to_be_hidden()
    summary.click()
    expect(element).to_be_visible()
    assert _attrs(page, "#gantt [data-map-index='1'] .gantt-try", "data-state") == [
        "up_for_retry",
        "success",
    ]
    expect(page.locator("#gantt [data-map-index='0'] .gantt-try")).to_have_count(1)
    screenshot(page, "run-gantt")


def test_the_charts_colours_are_the_stylesheets_variables(page: Page, server: Server) -> None:
    run = _run(server, "ui_colours")
    page.goto(f"{server.url}/ui/dags/ui_colours/runs/{run.run_id}")
    bar = page.locator("#gantt .gantt-row[data-task=report] .gantt-try")
    fill = "el => getComputedStyle(el).fill"
    assert bar.evaluate(fill) == "rgb(46, 158, 79)"  # pinflow.css's --st-success
    # A theme (dark mode) redefines the variable: the bar follows, nothing is hard-coded.
    page.evaluate("document.documentElement.style.setProperty('--st-success', 'rgb(1, 2, 3)')")
    assert bar.evaluate(fill) == "rgb(1, 2, 3)"


def test_the_grid_shows_duration_bars_and_the_duration_chart(page: Page, server: Server) -> None:
    version = publish_charted(server.db, "ui_durations")
    run_charted(server.db, version)
    run_charted(server.db, version, start=T0 + timedelta(hours=1), slow=4)
    page.goto(f"{server.url}/ui/dags/ui_durations/runs")

    bars = "#runs-grid .run-bar"
    assert _attrs(page, bars, "data-seconds") == ["20.0", "24.0"]
    heights = [float(h) for h in _attrs(page, f"{bars} rect", "height")]
    assert heights == [40.0, 48.0]  # the longest run is the full height
    cell = page.locator("#runs-grid a.cell[data-task=report]").first.bounding_box()
    assert cell is not None
    assert (cell["width"], cell["height"]) >= (22, 22)

    strips = page.locator("#durations .strip")
    assert _attrs(page, "#durations .strip", "data-task") == ["", "extract", "square", "report"]
    expect(strips).to_have_count(4)
    report = "#durations .strip[data-task=report]"
    assert _attrs(page, f"{report} .dur-bar", "data-seconds") == ["1.0", "5.0"]
    assert _attrs(page, f"{report} .dur-bar", "data-state") == ["success", "success"]
    expect(page.locator(f"{report} .strip-figures")).to_have_text("p50 3.0s · max 5.0s")
    whole = "#durations .strip-run .dur-bar"
    assert _attrs(page, whole, "data-seconds") == ["20.0", "24.0"]
    expect(page.locator(f"{report} .p50")).to_have_count(1)
    screenshot(page, "runs-durations")


def test_the_charts_fit_a_phone_and_scroll_inside_their_cards(
    browser: Browser, server: Server
) -> None:
    run = _run(server, "ui_phone")
    phone = browser.new_context(viewport={"width": 390, "height": 844})
    phone.add_cookies(
        [{"name": "pinflow_token", "value": server.token(), "url": server.url, "httpOnly": True}]
    )
    tab = phone.new_page()
    try:
        for url, card in (
            (f"/ui/dags/ui_phone/runs/{run.run_id}", "#gantt"),
            ("/ui/dags/ui_phone/runs", "#durations"),
        ):
            tab.goto(server.url + url)
            box = tab.locator(card).bounding_box()
            assert box is not None
            assert 0 <= box["x"] < box["x"] + box["width"] <= 390
            scroller = tab.locator(f"{card} .chart-scroll")
            if card == "#gantt":  # 600 px of track: it scrolls inside the card
                assert scroller.evaluate("e => e.scrollWidth > e.clientWidth")
    finally:
        phone.close()


def test_an_open_mapped_group_stays_open_while_the_run_refreshes_live(
    page: Page, server: Server
) -> None:
    run = _run(server, "ui_live_gantt")
    clear.clear_task_instances(
        server.db, "ui_live_gantt", actor="admin", task_ids=["report"], only_failed=False
    )
    page.goto(f"{server.url}/ui/dags/ui_live_gantt/runs/{run.run_id}")
    expect(page.locator("#run-state")).to_have_text("queued")
    page.locator("#gantt .gantt-summary").click()
    element = page.locator("#gantt .gantt-row[data-task=square][data-map-index='2']")
    expect(element).to_be_visible()

    clock = Ticker(T0 + timedelta(minutes=1))
    run_until_idle(server.db, handler(clock), clock=clock)
    expect(page.locator("#run-state")).to_have_text("success", timeout=LIVE)
    report = "#gantt .gantt-row[data-task=report] .gantt-try"
    expect(page.locator(report)).to_have_count(2)  # its first try, and the one after the clear
    expect(element).to_be_visible()
