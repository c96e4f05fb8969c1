"""The assets page in the browser (ADR 0037): each asset with the DAGs scheduled on it, the
tasks that update it and its events with the runs they triggered; a DAG on assets says so on
the DAGs page and on its version's page instead of a cron.

Real uvicorn, real Chromium, one SQLite file per module (UI tests run on SQLite only).
"""

from __future__ import annotations

from playwright.sync_api import Page, expect
from tests.ui.conftest import Server
from tests.ui.helpers import bash_handler, publish

from pinflow.services.commands import _runs as runs
from pinflow.services.engine import create_asset_runs
from pinflow.spec.assets import AssetCondition, AssetSpec
from pinflow.spec.models import DagSpec, TaskSpec, TriggerSpec
from pinflow.testing import run_until_idle

RAW = AssetSpec(uri="s3://ui-bucket/raw")


def test_the_assets_page_shows_producers_consumers_and_events(page: Page, server: Server) -> None:
    db = server.db
    task = TaskSpec(task_id="dump", kind="bash", bash_command="dump", outlets=[RAW])
    publish(db, DagSpec(dag_id="ui_producer", tasks=[task]))
    on_raw = TriggerSpec(assets=AssetCondition(asset=RAW))
    use = TaskSpec(task_id="use", kind="bash", bash_command="use")
    version = publish(db, DagSpec(dag_id="ui_consumer", trigger=on_raw, tasks=[use]))
    runs.trigger_run(db, dag_id="ui_producer", actor="alice")
    run_until_idle(db, bash_handler)
    assert create_asset_runs(db) == 1

    page.goto(f"{server.url}/ui/workflows")
    page.get_by_role("link", name="Assets").click()
    expect(page).to_have_url(f"{server.url}/ui/assets")
    card = page.locator(f"[data-testid=asset][data-uri='{RAW.uri}']")
    expect(card.locator(".asset-consumers")).to_have_text("ui_consumer")
    expect(card.locator(".asset-producers")).to_have_text("ui_producer.dump")
    event = card.locator("[data-testid=asset-event]")
    expect(event).to_have_count(1)
    expect(event).to_contain_text("ui_producer.dump")
    expect(event.locator(".badge")).to_have_text("ui_consumer")

    page.goto(f"{server.url}/ui/dags")
    expect(page.locator("a.on-assets")).to_have_count(1)
    page.goto(f"{server.url}/ui/workflows/{version}")
    expect(page.locator("#scheduled-on-assets")).to_contain_text(RAW.uri)
