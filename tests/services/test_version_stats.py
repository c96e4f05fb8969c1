"""Per-version run statistics (issue #18, point 1) on a seeded history with known durations:
exact counts and percentiles, the same on SQLite and PostgreSQL (ADR 0024).

p50/p95 are continuous percentiles (``percentile_cont``, numpy's default): of the ten run
durations 1 s … 10 s, p50 = 5.5 s and p95 = 9 + 0.55 * (10 - 9) = 9.55 s.
"""

from __future__ import annotations

import pytest
from tests.support.history import PastRun, Try, seed

from pinflow.errors import NotFoundError
from pinflow.services.commands._push import register_snapshot
from pinflow.services.reads import VersionView, queries
from pinflow.services.reads import version_stats as stats
from pinflow.store.db import Database
from pinflow.testing import make_spec

TASKS = {"extract": [], "load": ["extract"]}


def publish(db: Database, command: str) -> VersionView:
    spec = make_spec("etl", TASKS, task_fields={"load": {"bash_command": command}})
    return register_snapshot(db, spec, b"", actor="alice").version


def v1_history() -> list[PastRun]:
    """Ten finished runs of 1 … 10 s (runs 3 and 7 failed), then one still running. load
    failed once before succeeding in runs 1 and 2 (two retries in all)."""
    runs = []
    for i in range(1, 11):
        load = [Try("failed", 0.5)] if i <= 2 else []
        tries = {"extract": [Try("success", i / 10)], "load": [*load, Try("success", i)]}
        runs.append(PastRun("failed" if i in (3, 7) else "success", i, tries))
    runs.append(PastRun("running", None, {"extract": [Try("success", 2.0)]}))
    return runs


@pytest.fixture
def versions(db: Database) -> tuple[VersionView, VersionView]:
    v1 = publish(db, "echo one")
    seed(db, v1, v1_history())
    v2 = publish(db, "echo two")
    fast = {"extract": [Try("success", 0.1)], "load": [Try("success", 0.5)]}
    seed(db, v2, [PastRun("success", 1.0, fast)] * 4, hour=100)
    return v1, v2


def test_runs_success_rate_and_percentiles(db: Database, versions: tuple[VersionView, ...]) -> None:
    v1, _ = versions
    got = stats.version_stats(db, v1.id)
    assert (got.runs, got.finished_runs, got.succeeded_runs, got.failed_runs) == (11, 10, 8, 2)
    assert got.success_rate == 0.8
    assert (got.p50_seconds, got.p95_seconds) == (5.5, 9.55)
    assert got.first_run_at is not None
    assert got.last_run_at is not None
    assert (got.last_run_at - got.first_run_at).total_seconds() == 10 * 3600


def test_per_task_tries_retries_failures_and_percentiles(
    db: Database, versions: tuple[VersionView, ...]
) -> None:
    v1, _ = versions
    tasks = {t.task_id: t for t in stats.version_stats(db, v1.id).tasks}
    assert list(tasks) == ["extract", "load"]
    extract, load = tasks["extract"], tasks["load"]
    # extract: 0.1 … 1.0 s in the finished runs, 2.0 s in the running one (11 tries).
    assert (extract.tries, extract.retries, extract.failures) == (11, 0, 0)
    assert (extract.p50_seconds, extract.p95_seconds) == (0.6, 1.5)
    # load: 0.5, 0.5, 1 … 10 s; p50 between ranks 5 and 6 (4, 5), p95 at 10.45 (9, 10).
    assert (load.tries, load.retries, load.failures) == (12, 2, 2)
    assert (load.p50_seconds, load.p95_seconds) == (4.5, 9.45)
    assert load.failure_rate == pytest.approx(2 / 12)


def test_versions_do_not_mix(db: Database, versions: tuple[VersionView, ...]) -> None:
    _, v2 = versions
    got = stats.version_stats(db, v2.id)
    assert (got.runs, got.finished_runs, got.success_rate) == (4, 4, 1.0)
    assert (got.p50_seconds, got.p95_seconds) == (1.0, 1.0)
    assert [(t.task_id, t.tries, t.retries, t.p95_seconds) for t in got.tasks] == [
        ("extract", 4, 0, 0.1),
        ("load", 4, 0, 0.5),
    ]


def test_empty_version(db: Database) -> None:
    v = publish(db, "echo once")
    got = stats.version_stats(db, v.id)
    assert (got.runs, got.finished_runs, got.success_rate) == (0, 0, None)
    assert (got.p50_seconds, got.p95_seconds, got.first_run_at, got.last_run_at) == (
        None,
        None,
        None,
        None,
    )
    assert got.tasks == []


def test_unknown_version_is_not_found(db: Database) -> None:
    with pytest.raises(NotFoundError):
        stats.version_stats(db, "00000000-0000-0000-0000-000000000000")


def test_comparison_deltas_and_summary(db: Database, versions: tuple[VersionView, ...]) -> None:
    v1, v2 = versions
    cmp = stats.compare(db, v2.id, v1.id)
    by_key = {(c.subject, c.figure): c for c in cmp.changes}
    p95 = by_key[("runs", "p95")]
    assert (p95.old, p95.new) == (9.55, 1.0)
    assert p95.delta == pytest.approx(-8.55)
    assert by_key[("runs", "failures")].text == "runs failures 20% → 0%"
    assert by_key[("load", "p95")].text == "load p95 9.4 s → 0.5 s"
    assert by_key[("load", "failures")].text == "load failures 17% → 0%"
    assert cmp.summary.startswith(f"v{v2.version} vs v{v1.version}: runs p50 5.5 s → 1.0 s")
    assert queries.get_version(db, v1.id).version == cmp.old.version.version
    unchanged = by_key[("extract", "failures")]
    assert (unchanged.text, unchanged.changed) == ("extract failures 0% → 0%", False)
    assert "extract failures" not in cmp.summary


def test_one_sample_is_every_percentile(db: Database) -> None:
    v = publish(db, "echo single")
    seed(db, v, [PastRun("failed", 2.5, {"load": [Try("failed", 0.25)]})])
    got = stats.version_stats(db, v.id)
    assert (got.success_rate, got.p50_seconds, got.p95_seconds) == (0.0, 2.5, 2.5)
    (load,) = got.tasks
    assert (load.tries, load.retries, load.failures, load.p50_seconds, load.p95_seconds) == (
        1,
        0,
        1,
        0.25,
        0.25,
    )
