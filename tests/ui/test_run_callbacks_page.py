"""A run's DAG callbacks on its page (ADR 0044): each with its state, error and output. The
callback rows are written as the scheduler's runner writes them (the runner itself is tested
end to end in tests/compat/test_compat_dag_callbacks.py)."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select
from tests.ui.conftest import Server
from tests.ui.helpers import bash_handler, publish
from tests.ui.test_operate import chain_spec, run_page

from pinflow.services.commands import _runs as runs
from pinflow.store.tables import DagRun, RunCallback
from pinflow.testing import run_until_idle


def test_the_run_page_shows_each_callback_with_its_error_and_output(
    page: Page, server: Server
) -> None:
    v1 = publish(server.db, chain_spec("ui_callbacks", fail="b"))
    runs.trigger_run(server.db, version_id=v1, actor="admin")
    run_until_idle(server.db, bash_handler)
    with server.db.transaction() as s:
        run_pk = s.scalars(select(DagRun.id).where(DagRun.dag_id == "ui_callbacks")).one()
        s.add(
            RunCallback(
                run_pk=run_pk,
                kind="on_failure",
                reason="task_failure",
                state="failed",
                attempts=1,
                error="alerts:page: RuntimeError: the pager is down",
                output="calling the on_failure callbacks\n<b>not markup</b>\n",
            )
        )
    run_page(page, server, "ui_callbacks")
    section = page.locator("#callbacks")
    expect(section).to_contain_text("on_failure_callback")
    expect(section).to_contain_text("task_failure")
    expect(section.locator("[data-testid=callback-state]")).to_have_text("failed")
    expect(section.locator("[data-testid=callback-error]")).to_have_text(
        "alerts:page: RuntimeError: the pager is down"
    )
    section.get_by_text("What it printed").click()
    expect(section.locator("pre.log")).to_contain_text("<b>not markup</b>")  # escaped


def test_a_run_without_callbacks_has_no_callbacks_section(page: Page, server: Server) -> None:
    v1 = publish(server.db, chain_spec("ui_nocallbacks"))
    runs.trigger_run(server.db, version_id=v1, actor="admin")
    run_until_idle(server.db, bash_handler)
    run_page(page, server, "ui_nocallbacks")
    expect(page.locator("#run-state")).to_have_text("success")
    expect(page.locator("#callbacks")).to_have_count(0)
