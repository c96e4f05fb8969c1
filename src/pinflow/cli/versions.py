"""``pinflow versions …``: the version lifecycle of seed 001 (draft -> active -> deprecated).

A version is named by its DAG and a reference: a number (``3``: the published v3, else a
draft carrying that number), ``current``, ``draft`` (the newest draft), ``dev`` (the dev
draft), or a version id (UUID).
"""

from __future__ import annotations

import re
from typing import Any

import click
from rich.markup import escape

from pinflow.cli.common import ExitCode, client, client_options, fail, options, out
from pinflow.cli.output import (
    Column,
    emit_list,
    emit_message,
    emit_record,
    short_digest,
    short_time,
    to_text,
)
from pinflow.client import JSON, ClientError, PinflowClient

UUID = re.compile(r"^[0-9a-fA-F-]{32,36}$")
REF_HELP = "VERSION: a number (3), current, draft, dev, or a version id."
VERSION_COLUMNS = (
    Column("Version", lambda v: f"v{v['version']}", style="bold"),
    Column("Status", "status"),
    Column("Current", lambda v: "*" if v.get("isCurrent") else ""),
    Column("Dev", lambda v: "dev" if v.get("isDev") else ""),
    Column("Deleted", "deleted"),
    Column("Digest", lambda v: short_digest(v.get("snapshotDigest"))),
    Column("Created", lambda v: short_time(v.get("createdAt"))),
    Column("By", "createdBy"),
    Column("Id", "id"),
)
VERSION_FIELDS = (
    *VERSION_COLUMNS,
    Column("DAG", "dagId"),
    Column("Name", "name"),
    Column("Description", "description"),
    Column("Previous version (source)", "sourceWorkflowId"),
    Column("Snapshot digest", "snapshotDigest"),
    Column(
        "Published", lambda v: f"{short_time(v.get('publishedAt'))} {v.get('publishedBy') or ''}"
    ),
    Column(
        "Deprecated", lambda v: f"{short_time(v.get('deprecatedAt'))} {v.get('deprecatedBy') or ''}"
    ),
    Column("Tasks", lambda v: [s.get("task_id") for s in v.get("steps") or []]),
)


def _all_versions(api: PinflowClient, dag_id: str, *, deleted: bool = True) -> list[JSON]:
    body = api.list_workflows(dagId=dag_id, includeDeleted=deleted, limit=500)
    return list(body["workflows"])


def _pick(rows: list[JSON], ref: str) -> JSON | None:
    live = [r for r in rows if not r.get("deleted")]
    if ref == "current":
        return next((r for r in rows if r.get("isCurrent")), None)
    if ref in ("draft", "dev"):
        drafts = [r for r in live if r["status"] == "draft" and (ref == "draft" or r.get("isDev"))]
        return max(drafts, key=lambda r: str(r.get("createdAt")), default=None)
    if UUID.match(ref):
        return next((r for r in rows if r["id"] == ref), None)
    if ref.lstrip("v").isdigit():
        number = int(ref.lstrip("v"))
        same = [r for r in rows if r["version"] == number]
        # The published one first: drafts inherit their source's number until published.
        same.sort(key=lambda r: (r["status"] == "draft", bool(r.get("deleted"))))
        return same[0] if same else None
    fail(f"{ref!r} is not a version reference.", ExitCode.USAGE, hint=REF_HELP)


def resolve_version(api: PinflowClient, dag_id: str, ref: str) -> JSON:
    found = _pick(_all_versions(api, dag_id), ref)
    if found is None:
        raise ClientError(
            f"DAG {dag_id!r} has no version {ref!r}.",
            status=404,
            hint=f"See its versions: pinflow versions list {dag_id}",
        )
    return found


@click.group()
def versions() -> None:
    """The version lifecycle: draft -> active -> deprecated.

    \b
    VERSION is a number (3), current, draft, dev, or a version id.
    """


@versions.command("list")
@click.argument("dag_id")
@click.option("--deleted", is_flag=True, help="Include soft-deleted versions.")
@client_options
def list_cmd(dag_id: str, deleted: bool) -> None:
    """List a DAG's versions, newest first (* marks the current one).

    \b
    Example:
      pinflow versions list example_etl
    """
    with client() as api:
        rows = _all_versions(api, dag_id, deleted=deleted)
    emit_list(rows, VERSION_COLUMNS, title=f"Versions of {dag_id}")


@versions.command("show")
@click.argument("dag_id")
@click.argument("version")
@client_options
def show_cmd(dag_id: str, version: str) -> None:
    """Show one version with its definition (-o json for the whole spec).

    \b
    Examples:
      pinflow versions show example_etl current
      pinflow versions show example_etl 2 -o yaml
    """
    with client() as api:
        detail = api.get_workflow(resolve_version(api, dag_id, version)["id"])
    emit_record(detail, VERSION_FIELDS)


@versions.command("diff")
@click.argument("dag_id")
@click.argument("old")
@click.argument("new", default="current")
@client_options
def diff_cmd(dag_id: str, old: str, new: str) -> None:
    """Structural diff of two versions: tasks added, removed, changed; other fields.

    \b
    Examples:
      pinflow versions diff example_etl 1 2
      pinflow versions diff example_etl 1          # against the current version
    """
    from pinflow.cli.specdiff import diff_json_specs, diff_lines, diff_to_dict

    with client() as api:
        a, b = (api.get_workflow(resolve_version(api, dag_id, ref)["id"]) for ref in (old, new))
    diff = diff_json_specs(a["spec"], b["spec"])
    snapshots = {"from": a["snapshotDigest"], "to": b["snapshotDigest"]}
    if options().output != "table":
        out.out(to_text({**diff_to_dict(diff), "snapshot": snapshots}, options().output))
        return
    out.print(f"v{a['version']} ({a['status']}) -> v{b['version']} ({b['status']})")
    lines = diff_lines(diff)
    if snapshots["from"] != snapshots["to"]:
        lines.append(
            f"~ snapshot {short_digest(snapshots['from'])} -> {short_digest(snapshots['to'])}"
            + (" (the code bundle changed)" if diff.is_empty else "")
        )
    for line in lines:
        style = {"+": "green", "-": "red", "~": "yellow"}.get(line[:1], "")
        out.print(f"[{style}]{escape(line)}[/]" if style else escape(line))


def _act(dag_id: str, ref: str, action: str, body: Any = None) -> tuple[JSON, JSON]:
    with client() as api:
        version = resolve_version(api, dag_id, ref)
        return version, api.workflow_action(version["id"], action, body)


def _label(v: JSON) -> str:
    return f"{escape(v['dagId'])} v{v['version']} ({v['status']})"


@versions.command("create")
@click.argument("dag_id")
@click.argument("version", default="current")
@client_options
def create_cmd(dag_id: str, version: str) -> None:
    """Clone an active or deprecated version into a new draft (the seed's New Version).

    \b
    Example:
      pinflow versions create example_etl current
    """
    _, answer = _act(dag_id, version, "create-version")
    new = answer["newWorkflow"]
    emit_message(f"New draft version created: {_label(new)} id {new['id']}", raw=answer)


@versions.command("publish")
@click.argument("dag_id")
@click.argument("version", default="draft")
@click.option(
    "--deprecate-previous",
    is_flag=True,
    help="Also deprecate the version the draft was cloned from (else: the current one).",
)
@client_options
def publish_cmd(dag_id: str, version: str, deprecate_previous: bool) -> None:
    """Publish a draft (strict validation): it becomes active and current.

    \b
    Examples:
      pinflow versions publish example_etl draft
      pinflow versions publish example_etl draft --deprecate-previous
    """
    with client() as api:
        draft = resolve_version(api, dag_id, version)
        body = None
        if deprecate_previous:
            previous = draft.get("sourceWorkflowId") or _current_id(api, dag_id)
            body = {"deprecatePreviousVersionId": previous}
        answer = api.workflow_action(draft["id"], "publish", body)
    message = f"Published: {_label(answer['workflow'])}"
    if answer.get("deprecatedPreviousVersionId"):
        message += f"; deprecated {answer['deprecatedPreviousVersionId']}"
    elif answer.get("sourceStillActive"):
        message += (
            f"\nThe previous version is still active. Deprecate it with: pinflow versions "
            f"deprecate {escape(dag_id)} {answer['sourceWorkflowId']}"
        )
    emit_message(message, raw=answer)


def _current_id(api: PinflowClient, dag_id: str) -> str | None:
    current = _pick(_all_versions(api, dag_id, deleted=False), "current")
    return None if current is None else str(current["id"])


@versions.command("deprecate")
@click.argument("dag_id")
@click.argument("version")
@client_options
def deprecate_cmd(dag_id: str, version: str) -> None:
    """Deprecate an active version: no new runs; runs in flight finish.

    \b
    Example:
      pinflow versions deprecate example_etl 1
    """
    before, answer = _act(dag_id, version, "deprecate")
    emit_message(f"{answer['message']}: {escape(dag_id)} v{before['version']}", raw=answer)


@versions.command("revert")
@click.argument("dag_id")
@click.argument("version")
@click.option("--confirm", "confirm_name", required=True, help="The version's exact name.")
@client_options
def revert_cmd(dag_id: str, version: str, confirm_name: str) -> None:
    """Revert an active or deprecated version to draft (a last resort: prefer a new version).

    \b
    Example:
      pinflow versions revert example_etl 2 --confirm "Example: ETL through XComs"
    """
    _, answer = _act(dag_id, version, "revert-to-draft", {"confirmationName": confirm_name})
    emit_message(f"{answer['message']}: {_label(answer['workflow'])}", raw=answer)


@versions.command("set-current")
@click.argument("dag_id")
@click.argument("version")
@client_options
def set_current_cmd(dag_id: str, version: str) -> None:
    """Make an active version the current one (rollback, or roll forward).

    \b
    Example:
      pinflow versions set-current example_etl 1
    """
    _, answer = _act(dag_id, version, "set-current")
    emit_message(f"{answer['message']}: {_label(answer['workflow'])}", raw=answer)


@versions.command("delete")
@click.argument("dag_id")
@click.argument("version")
@click.option("--permanent", is_flag=True, help="Purge it (refused while it has runs in flight).")
@client_options
def delete_cmd(dag_id: str, version: str, permanent: bool) -> None:
    """Soft-delete a version (restorable), or purge it with --permanent.

    \b
    Examples:
      pinflow versions delete example_etl 1
      pinflow versions delete example_etl 1 --permanent
    """
    with client() as api:
        target = resolve_version(api, dag_id, version)
        answer = api.delete_workflow(target["id"], permanent=permanent)
    emit_message(f"{answer['message']}: {_label(target)}", raw=answer)


@versions.command("restore")
@click.argument("dag_id")
@click.argument("version")
@client_options
def restore_cmd(dag_id: str, version: str) -> None:
    """Restore a soft-deleted version.

    \b
    Example:
      pinflow versions restore example_etl 1
    """
    _, answer = _act(dag_id, version, "restore")
    emit_message(f"{answer['message']}: {_label(answer['workflow'])}", raw=answer)
