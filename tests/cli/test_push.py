"""GitOps from CI: compile -> push -> push again (a no-op that says so) -> push a changed DAG
with --deprecate-previous (the old version deprecated, the new one current); and compile
listing every problem with where it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli.inprocess import Cli, make_cli

from pinflow.store.db import Database

# The database plays no part: the CLI talks to the API; push itself is tested on both backends in
# tests/services.
pytestmark = pytest.mark.sqlite_enough

DAG = """
from pinflow import dag, task


@task
def extract() -> int:
    return 1
{extra}

@dag(dag_id="shop_orders")
def shop_orders() -> None:
    {body}


shop_orders()
"""
V1 = DAG.format(extra="", body="extract()")
V2 = DAG.format(extra="\n\n@task\ndef load(n: int) -> int:\n    return n\n", body="load(extract())")


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return make_cli(db, tmp_path, monkeypatch)


def _versions(cli: Cli) -> list[dict[str, object]]:
    rows = json.loads(cli("versions", "list", "shop_orders", "-o", "json").stdout)
    return sorted(rows, key=lambda r: int(str(r["version"])))


def _compile(cli: Cli, dags: Path, out: Path) -> str:
    """``dags compile`` writes spec, bundle and digest per DAG; returns the digest."""
    compiled = json.loads(
        cli("dags", "compile", str(dags), "--output-dir", str(out), "-o", "json").stdout
    )
    digest = (out / "shop_orders" / "digest").read_text().strip()
    assert compiled == [
        {
            "dag_id": "shop_orders",
            "digest": digest,
            "path": str(out / "shop_orders"),
            "source_file": "orders.py",
            "inputs": ["orders.py"],
        }
    ]
    assert json.loads((out / "shop_orders" / "spec.json").read_text())["dag_id"] == "shop_orders"
    assert (out / "shop_orders" / "bundle.zip").read_bytes()[:2] == b"PK"
    return digest


def test_compile_push_push_again_then_deprecate_previous(cli: Cli, tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "orders.py").write_text(V1)

    digest = _compile(cli, dags, tmp_path / "build")

    first = cli("dags", "push", str(dags)).stdout
    assert "shop_orders: created v1 (active)" in first
    assert digest[:12] in first
    again = cli("dags", "push", str(dags)).stdout
    assert "shop_orders: unchanged (already registered as v1 active, digest" in again
    assert len(_versions(cli)) == 1

    (dags / "orders.py").write_text(V2)
    changed = cli("dags", "push", str(dags), "--deprecate-previous").stdout
    assert "created v2 (active)" in changed
    assert "deprecated the previous version" in changed
    v1, v2 = _versions(cli)
    assert (v1["status"], v1["isCurrent"]) == ("deprecated", False)
    assert (v2["status"], v2["isCurrent"]) == ("active", True)
    assert v2["sourceWorkflowId"] == v1["id"]

    diff = cli("versions", "diff", "shop_orders", "1", "2").stdout
    assert "+ task load" in diff
    assert "+ dependency extract -> load" in diff
    events = json.loads(cli("audit", "list", "--dag", "shop_orders", "-o", "json").stdout)
    assert "workflow.deprecated" in {e["event"] for e in events["event_logs"]}


def test_push_json_output_says_noop(cli: Cli, tmp_path: Path) -> None:
    # A file's bundle is its whole folder: keep it away from the test's database.
    (tmp_path / "dags").mkdir()
    dag_file = tmp_path / "dags" / "orders.py"
    dag_file.write_text(V1)
    cli("dags", "push", str(dag_file))
    answers = json.loads(cli("dags", "push", str(dag_file), "-o", "json").stdout)
    assert [a["noop"] for a in answers] == [True]


SHARED = """
from helpers import double
from pinflow import dag, task


@task
def compute() -> int:
    return double(1)


@dag(dag_id="{dag_id}")
def {dag_id}() -> None:
    compute()


{dag_id}()
"""


def test_a_folder_push_says_per_dag_what_changed(cli: Cli, tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "helpers.py").write_text("def double(n: int) -> int:\n    return 2 * n\n")
    (dags / "uses_helper.py").write_text(SHARED.format(dag_id="uses_helper"))
    (dags / "orders.py").write_text(V1)
    (dags / "notes.txt").write_text("todo")
    inputs = cli("dags", "compile", str(dags), "--inputs", "--output-dir", str(tmp_path / "o"))
    assert "helpers.py, uses_helper.py" in inputs.stdout
    cli("dags", "push", str(dags))

    (dags / "notes.txt").write_text("done")
    again = cli("dags", "push", str(dags)).stdout
    assert again.count("none of its inputs changed") == 2

    (dags / "helpers.py").write_text("def double(n: int) -> int:\n    return n + n\n")
    changed = cli("dags", "push", str(dags)).stdout
    assert "uses_helper: created v2 (active)" in changed
    assert "because helpers.py changed" in changed
    assert "shop_orders: unchanged (already registered as v1 active" in changed
    [answer] = [
        a
        for a in json.loads(cli("dags", "push", str(dags), "-o", "json").stdout)
        if a["workflow"]["dagId"] == "uses_helper"
    ]
    assert (answer["noop"], answer["changed"]) == (True, [])


def test_compile_lists_every_problem_with_where(cli: Cli, tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "broken.py").write_text("from pinflow import dag\n\nx = (\n")
    (dags / "uncalled.py").write_text(
        "from pinflow import dag, task\n\n\n@task\ndef t() -> None:\n    pass\n\n\n"
        "@dag(dag_id='never')\ndef never() -> None:\n    t()\n"
    )
    result = cli("dags", "compile", str(dags), code=1)
    assert "2 problem(s) found" in result.stderr
    assert "dags/broken.py:3: SyntaxError" in result.stderr
    assert "dags/uncalled.py:9: @dag function 'never' is never called" in result.stderr


def test_compile_checks_as_publishing_would(cli: Cli, tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "cron.py").write_text(
        V1.replace('dag_id="shop_orders"', 'dag_id="c", schedule="daily"')
    )
    (dags / "ok.py").write_text(V1)
    result = cli("dags", "compile", str(dags), "--output-dir", str(tmp_path / "out"), code=1)
    assert "cron.py (dag 'c'): trigger.schedule: invalid cron expression 'daily'" in result.stderr
    assert not (tmp_path / "out").exists(), "nothing is written when a DAG has a problem"


def test_push_refuses_an_over_limit_bundle_before_uploading(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI applies the server's rules with its own settings: the server here (built with
    the default limits) would accept this push, so nothing registered means nothing was sent."""
    dags = tmp_path / "dags"
    dags.mkdir()
    declared = 'dag_id="shop_orders", bundle_files=["lookup.csv"]'
    (dags / "orders.py").write_text(V1.replace('dag_id="shop_orders"', declared))
    (dags / "lookup.csv").write_text("a,b\n" * 100)
    monkeypatch.setenv("PINFLOW_MAX_FILE_BYTES", "100")

    result = cli("dags", "push", str(dags), code=1)

    assert "file 'lookup.csv' is 400 bytes or more, over the limit of 100 bytes" in result.stderr
    assert "PINFLOW_MAX_FILE_BYTES" in result.stderr
    listed = json.loads(cli("dags", "list", "--all", "-o", "json").stdout)
    assert listed["dags"] == []
