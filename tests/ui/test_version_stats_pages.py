"""Per-version statistics in the browser (issue #16 point 4, issue #18 point 1): the version
page shows runs, success rate, p50/p95 and the per-task table; the diff page shows "vN vs vM"
side by side with the changed figures. Real uvicorn, real Chromium, SQLite."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from tests.support.history import PastRun, Try, seed
from tests.ui.conftest import Server
from tests.ui.helpers import make_spec, publish

from pinflow.services.reads import queries


def _two_versions(server: Server) -> tuple[str, str]:
    old = publish(server.db, make_spec("stats_etl", "Stats ETL"))
    new = publish(server.db, make_spec("stats_etl", "Stats ETL", load="echo faster"))
    slow = {"load": [Try("failed", 1.0), Try("success", 4.0)]}
    seed(server.db, queries.get_version(server.db, old), [PastRun("success", 4.0, slow)] * 3)
    seed(
        server.db,
        queries.get_version(server.db, old),
        [PastRun("failed", 5.0, {"load": [Try("failed", 2.0)]})],
        hour=10,
    )
    fast = {"load": [Try("success", 0.9)]}
    seed(
        server.db, queries.get_version(server.db, new), [PastRun("success", 1.0, fast)] * 2, hour=20
    )
    return old, new


def test_version_page_and_diff_page_show_statistics(page: Page, server: Server) -> None:
    old, new = _two_versions(server)
    page.goto(f"{server.url}/ui/workflows/{old}")
    card = page.locator("#stats")
    expect(card.locator("[data-stat=runs]")).to_have_text("4")
    expect(card.locator("[data-stat=success-rate]")).to_have_text("75%")
    expect(card.locator("[data-stat=p50-p95]")).to_have_text("4.0 s / 4.8 s")
    load = card.locator("#task-stats tr[data-task=load] td")
    expect(load).to_have_text(["load", "7", "3", "4 (57%)", "2.0 s", "4.0 s"])

    page.goto(f"{server.url}/ui/diff?from={old}&to={new}")
    comparison = page.locator("#stats-comparison")
    expect(comparison.locator("h2")).to_have_text("v2 vs v1")
    rows = comparison.locator("#stats-side-by-side tbody tr")
    expect(rows.nth(1).locator("td")).to_have_text(["75%", "100%"])
    expect(rows.nth(3).locator("td")).to_have_text(["4.8 s", "1.0 s"])
    changes = comparison.locator("#stats-changes li")
    expect(changes.filter(has_text="load p95 4.0 s → 0.9 s")).to_have_count(1)
    expect(changes.filter(has_text="runs failures 25% → 0%")).to_have_count(1)


def test_a_version_without_runs_says_so(page: Page, server: Server) -> None:
    only = publish(server.db, make_spec("stats_empty", "Empty"))
    page.goto(f"{server.url}/ui/workflows/{only}")
    card = page.locator("#stats")
    expect(card.locator("[data-stat=runs]")).to_have_text("0")
    expect(card.locator("[data-stat=success-rate]")).to_have_text("n/a")
    expect(card).to_contain_text("No task has run on this version yet.")
