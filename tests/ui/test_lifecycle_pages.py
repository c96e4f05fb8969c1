"""Issue #6 in the browser: login, the list's Deprecated filter, New Version -> designer ->
Publish with the deprecate prompt, a run refused on a deprecated version, Revert to Draft with
a typed name; and the audit entries of each on the audit page.

Real uvicorn, real Chromium, one SQLite file per module (UI tests run on SQLite only).
"""

from __future__ import annotations

import re

import yaml
from playwright.sync_api import Browser, Page, expect
from tests.ui.conftest import ADMIN, PASSWORD, Server
from tests.ui.helpers import (
    Watch,
    actions_of,
    audit_shows,
    draft,
    make_spec,
    publish,
    screenshot,
)

from pinflow.services.commands import _import_errors as import_errors
from pinflow.services.commands import _versions as versions

SEED_MESSAGE = "Deprecated workflows cannot start new runs. Create a new version instead."
DETAIL = "#detail-actions"


def click(page: Page, label: str) -> None:
    """Press one of the detail page's action buttons."""
    page.locator(DETAIL).get_by_role("button", name=label, exact=True).click()


def test_login_with_a_wrong_then_the_right_password_and_logout(
    browser: Browser, server: Server
) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    watch = Watch()
    watch.attach(page)
    page.goto(f"{server.url}/ui/workflows")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Fworkflows$"))
    page.fill("#username", ADMIN)
    page.fill("#password", "not the password")
    watch.expect(401, "/ui/login")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("Invalid username or password.")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(f"{server.url}/ui/workflows")
    expect(page.locator("#current-user")).to_have_text(ADMIN)
    (cookie,) = [c for c in ctx.cookies() if c["name"] == "pinflow_token"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    assert not [c for c in ctx.cookies() if c["name"] == "pinflow_token"]
    page.goto(f"{server.url}/ui/audit")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Faudit$"))
    watch.check()
    ctx.close()


def test_list_filters_by_deprecated_with_the_seeds_badges_and_row_actions(
    page: Page, server: Server
) -> None:
    publish(server.db, make_spec("ui_list", "List Demo"))
    publish(server.db, make_spec("ui_list", "List Demo", load="echo v2"), deprecate_previous=True)
    draft(server.db, make_spec("ui_list_draft", "Draft Demo"))
    publish(server.db, make_spec("ui_list_billing", "Billing export"))
    publish(server.db, make_spec("ui_list_nightly", "Nightly warehouse load"))
    page.goto(f"{server.url}/ui/workflows")
    rows = page.locator("[data-testid=workflow-row]")
    active = page.locator("[data-testid=workflow-row][data-dag=ui_list][data-status=active]")
    assert actions_of(page, "[data-dag=ui_list][data-status=active]") == [
        "Start Run",
        "New Version",
        "Deprecate",
        "Delete",
    ]
    expect(active.locator("[data-testid=status-badge]")).to_have_class(re.compile("badge-success"))
    assert actions_of(page, "[data-dag=ui_list_draft]") == ["Test Run", "Edit", "Publish", "Delete"]
    screenshot(page, "list")

    page.select_option("#status-filter", "deprecated")
    expect(page).to_have_url(re.compile(r"status=deprecated"))
    expect(rows.first).to_be_visible()
    badges = page.locator("[data-testid=workflow-row] [data-testid=status-badge]")
    assert set(badges.all_inner_texts()) == {"deprecated"}
    for i in range(badges.count()):
        expect(badges.nth(i)).to_have_class(re.compile(r"\bbadge-danger\b"))
    assert actions_of(page, "[data-dag=ui_list]") == ["New Version", "Delete"]
    expect(page.locator("[data-dag=ui_list_draft]")).to_have_count(0)


ACTIVE_ACTIONS = ["Start Run", "View Runs", "New Version", "Deprecate", "Delete"]
DRAFT_ACTIONS = ["Test Run", "Edit", "Publish", "Delete"]
DEPRECATED_ACTIONS = ["View Runs", "New Version", "Revert to Draft", "Delete"]


def new_version_to_designer(page: Page) -> str:
    """From an active version's page: New Version, confirmed; the new draft's id."""
    assert actions_of(page, DETAIL) == ACTIVE_ACTIONS
    click(page, "New Version")
    dialog = page.locator("#dialog")
    expect(dialog).to_contain_text("draft copy")
    expect(dialog).to_contain_text("The original will remain unchanged.")
    page.click("#dialog-confirm")
    expect(page).to_have_url(re.compile(r"/ui/workflows/[0-9a-f-]+/designer$"))
    return page.url.split("/")[-2]


def edit_in_designer(page: Page) -> None:
    """Change ``load`` and add ``report`` after it; a broken text cannot be saved meanwhile."""
    data = yaml.safe_load(page.input_value("#designer-text"))
    data["tasks"][1]["bash_command"] = "echo load v2"
    data["tasks"].append({"task_id": "report", "kind": "bash", "bash_command": "echo report"})
    data["tasks"][-1]["depends_on"] = ["load"]
    status = page.locator("#designer-status")
    page.fill("#designer-text", "dag_id: [unfinished")
    expect(status).to_contain_text("error(s): fix them to save.")
    expect(page.locator("#designer-save")).to_be_disabled()
    page.fill("#designer-text", yaml.safe_dump(data, sort_keys=False))
    expect(status).to_have_text("Valid: ready to publish.")
    expect(page.locator("#designer-graph [data-task=report]")).to_be_visible()
    screenshot(page, "designer")
    page.click("#designer-save")
    expect(status).to_have_text("Saved: a new snapshot was created.")


def publish_accepting_the_deprecate_prompt(page: Page) -> None:
    click(page, "Publish")
    page.click("#dialog-confirm")
    expect(page.locator("#deprecate-previous-question")).to_have_text(
        "Would you like to deprecate the previous version?"
    )
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_have_text(
        "Published. The previous version (v1) is deprecated."
    )


def test_new_version_designer_edit_and_publish_deprecating_the_previous(
    page: Page, server: Server
) -> None:
    v1 = publish(server.db, make_spec("ui_etl", "UI ETL"))
    page.goto(f"{server.url}/ui/workflows/{v1}")
    draft_id = new_version_to_designer(page)
    edit_in_designer(page)
    page.click("#designer-back")
    assert actions_of(page, DETAIL) == DRAFT_ACTIONS
    # The draft keeps v1's number until it is published: labelled so, not a second "v1".
    expect(page.locator("#workflow-version")).to_have_text("draft from v1")
    expect(page.locator("#previous-version")).to_have_attribute("href", f"/ui/workflows/{v1}")
    publish_accepting_the_deprecate_prompt(page)
    badge = page.locator("[data-testid=status-badge]").first
    expect(badge).to_have_text("active")
    expect(page.locator("#workflow-version")).to_have_text("v2")
    screenshot(page, "detail")

    page.click("#previous-version")
    expect(badge).to_have_text("deprecated")
    expect(badge).to_have_class(re.compile("badge-danger"))
    assert actions_of(page, DETAIL) == DEPRECATED_ACTIONS

    page.goto(f"{server.url}/ui/workflows/{draft_id}/diff")
    expect(page.locator("#diff-tasks .added")).to_have_text("report")
    expect(page.locator("#diff-tasks")).to_contain_text("Changed: load")
    expect(page.locator("#diff-dependencies")).to_contain_text("load → report")
    screenshot(page, "diff")
    created, edited = "workflow.version_created", "workflow.edited"
    published, deprecated = "workflow.published", "workflow.deprecated"
    audit_shows(page, server.url, "ui_etl", [created, edited, published, deprecated])


def test_starting_a_run_on_a_deprecated_version_shows_the_seeds_message(
    page: Page, server: Server, watch: Watch
) -> None:
    v1 = publish(server.db, make_spec("ui_dep", "Deprecated Soon"))
    page.goto(f"{server.url}/ui/workflows/{v1}")
    click(page, "Start Run")
    # Meanwhile, someone else deprecates the version this page still shows as active.
    versions.deprecate(server.db, v1, actor="someone-else")
    watch.expect(400, f"/api/workflows/{v1}/runs")
    with page.expect_response(re.compile(r"/runs$")) as answer:
        page.click("#dialog-confirm")
    assert answer.value.status == 400
    assert answer.value.json() == {"statusCode": 400, "message": SEED_MESSAGE}
    expect(page.locator("#dialog-error")).to_have_text(SEED_MESSAGE)
    page.click("#dialog-cancel")
    page.reload()
    assert actions_of(page, DETAIL) == DEPRECATED_ACTIONS
    audit_shows(page, server.url, v1, ["workflow.deprecated"])


def test_revert_to_draft_needs_the_exact_name(page: Page, server: Server, watch: Watch) -> None:
    v1 = publish(server.db, make_spec("ui_revert", "Revert Me"))
    page.goto(f"{server.url}/ui/workflows/{v1}")
    click(page, "Deprecate")
    impact = page.locator("#deprecate-impact")
    expect(impact).to_contain_text("New runs of this version will be refused.")
    expect(impact).to_contain_text("0 run(s) are in flight")
    expect(impact).to_contain_text("It is the DAG's current version")
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_have_text("Workflow deprecated.")

    click(page, "Revert to Draft")
    expect(page.locator("#revert-warning")).to_contain_text("would lose integrity")
    expect(page.locator("#revert-advice")).to_contain_text(
        "Creating a new version is the preferred practice."
    )
    page.fill("#confirm-name", "revert me")
    watch.expect(400, "/revert-to-draft")
    page.click("#dialog-confirm")
    expect(page.locator("#dialog-error")).to_have_text(
        "Confirmation name does not match the workflow name"
    )
    page.fill("#confirm-name", "Revert Me")
    page.click("#dialog-confirm")
    expect(page.locator("#flash")).to_have_text("Workflow reverted to draft.")
    expect(page.locator("[data-testid=status-badge]").first).to_have_text("draft")
    assert actions_of(page, DETAIL) == DRAFT_ACTIONS
    audit_shows(page, server.url, v1, ["workflow.deprecated", "workflow.reverted_to_draft"])


def test_the_list_shows_import_errors_until_they_are_cleared(page: Page, server: Server) -> None:
    import_errors.report(
        server.db, "alpha", "dags/broken.py", "dags/broken.py:3: invalid syntax", actor="cli"
    )
    try:
        page.goto(f"{server.url}/ui/workflows")
        panel = page.locator("[data-testid=import-errors]")
        expect(panel).to_contain_text("Import errors (1)")
        error = panel.locator("[data-testid=import-error][data-filename='dags/broken.py']")
        expect(error).to_contain_text("dags/broken.py:3: invalid syntax")
    finally:
        import_errors.clear(server.db, "alpha", "dags/broken.py", actor="cli")
    page.goto(f"{server.url}/ui/workflows")
    expect(page.locator("[data-testid=import-errors]")).to_have_count(0)
