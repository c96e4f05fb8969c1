"""The idempotency key a task's side effects are keyed by: the same for every try of a task
instance, different for every other task instance (issue #19, point 6)."""

from __future__ import annotations

from pathlib import Path

from tests.scheduler.helpers import (
    DRAIN_TIMEOUT,
    make_settings,
    push_dag,
    run_state,
    running_scheduler,
)

from pinflow.services.commands._runs import trigger_run
from pinflow.store.db import Database

KEYED = """
    import os

    from pinflow import dag, task

    OUT = {out!r}


    def note(line):
        with open(OUT, "a") as out:
            out.write(line + "\\n")


    @task(retries=1, retry_delay=0)
    def flaky(idempotency_key, try_number):
        note(f"flaky {{try_number}} {{idempotency_key}}")
        if try_number == 1:
            raise RuntimeError("first try fails")
        return [1, 2]


    @task
    def each(x, idempotency_key):
        note(f"each {{x}} {{idempotency_key}}")


    @dag(dag_id="keyed")
    def keyed():
        each.expand(x=flaky())
        task.bash(task_id="shell", bash_command=f"echo shell $PINFLOW_IDEMPOTENCY_KEY >> {{OUT}}")


    keyed()
"""


def test_the_idempotency_key_is_stable_across_tries_and_unique_per_task_instance(
    db: Database, tmp_path: Path
) -> None:
    out = tmp_path / "keys.log"
    settings = make_settings(db, tmp_path / "home")
    push_dag(db, tmp_path / "dags", "keyed", KEYED.format(out=str(out)))
    trigger_run(db, dag_id="keyed", run_id="r1", actor="tester")
    with running_scheduler(db, settings) as scheduler:
        assert scheduler.drain(DRAIN_TIMEOUT)
    assert run_state(db, "keyed", "r1") == "success"

    lines = sorted(line.split(" ", 2) for line in out.read_text().splitlines())
    assert lines == [
        ["each", "1", "keyed/r1/each/0"],
        ["each", "2", "keyed/r1/each/1"],
        ["flaky", "1", "keyed/r1/flaky/-1"],  # the failed try and its retry: one key
        ["flaky", "2", "keyed/r1/flaky/-1"],
        ["shell", "keyed/r1/shell/-1"],
    ]
