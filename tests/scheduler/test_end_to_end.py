"""DAG files compiled with the SDK, pushed, triggered and run by the real scheduler and the
local executor (real processes), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.scheduler.helpers import (
    DRAIN_TIMEOUT,
    push_dag,
    run,
    run_state,
    task_instances,
    tries_of,
)

from pinflow.runtime.paths import staging_path
from pinflow.scheduler.loop import Scheduler
from pinflow.services.commands._clear import clear_task_instances
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.settings import Settings
from pinflow.store.db import Database

ETL = """
    import json
    import os
    from pathlib import Path

    from pinflow import dag, task


    @task
    def extract():
        return [{"id": 1, "amount": 10}, {"id": 2, "amount": 32}]


    @task
    def transform(rows):
        return {"total": sum(r["amount"] for r in rows), "count": len(rows)}


    @task
    def load(summary):
        out = Path(os.environ["PINFLOW_STAGING_DIR"]) / "summary.json"
        out.write_text(json.dumps(summary))
        print("loaded", summary)
        return str(out)


    @dag(dag_id="etl")
    def etl():
        load(transform(extract()))


    etl()
"""


def test_etl_passes_data_through_xcoms(
    db: Database, scheduler: Scheduler, settings: Settings, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "etl", ETL)
    assert run(db, scheduler, "etl") == "success"
    tis = task_instances(db, "etl", "r1")
    run_pk = tis["extract"].run_pk
    assert get_xcom(db, run_pk, "transform") == {"total": 42, "count": 2}
    staged = Path(get_xcom(db, run_pk, "load"))
    assert staged.parent == staging_path(settings.staging_dir, "etl", "r1")
    assert json.loads(staged.read_text()) == {"total": 42, "count": 2}
    (load_try,) = tries_of(db, tis["load"].id)
    assert load_try.log_path is not None
    assert "loaded {'total': 42, 'count': 2}" in Path(load_try.log_path).read_text()


RETRIES = """
    import os
    from pathlib import Path

    from pinflow import dag, task


    @task(retries=3, retry_delay=0)
    def flaky():
        marker = Path(os.environ["PINFLOW_STAGING_DIR"]) / "attempts"
        with marker.open("a") as out:
            out.write(f"{os.getpid()}\\n")
        attempts = len(marker.read_text().splitlines())
        if attempts < 3:
            raise RuntimeError(f"attempt {attempts} fails")
        return attempts


    @dag(dag_id="retries")
    def retries():
        flaky()


    retries()
"""


def test_retries_succeed_on_the_third_try(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "retries", RETRIES)
    assert run(db, scheduler, "retries") == "success"
    ti = task_instances(db, "retries", "r1")["flaky"]
    assert (ti.state, ti.try_number) == ("success", 3)
    tries = tries_of(db, ti.id)
    assert [t.state for t in tries] == ["up_for_retry", "up_for_retry", "success"]
    assert tries[0].error == "RuntimeError: attempt 1 fails"
    assert get_xcom(db, ti.run_pk, "flaky") == 3
    assert len({t.log_path for t in tries}) == 3  # one log per try


FAIL_FAST = """
    import time

    from pinflow import dag, task


    @task
    def bad():
        raise RuntimeError("bad data")


    @task
    def slow():
        time.sleep(1.0)
        return "slow done"


    @task
    def after(value):
        return value


    @dag(dag_id="strategy", error_strategy="{strategy}")
    def strategy():
        bad()
        after(slow())


    strategy()
"""


@pytest.mark.parametrize(
    ("strategy", "after_state"), [("fail_fast", "upstream_failed"), ("continue", "success")]
)
def test_error_strategy(
    db: Database, scheduler: Scheduler, tmp_path: Path, strategy: str, after_state: str
) -> None:
    push_dag(db, tmp_path / "dags", "strategy", FAIL_FAST.replace("{strategy}", strategy))
    assert run(db, scheduler, "strategy") == "failed"
    states = {t: ti.state for t, ti in task_instances(db, "strategy", "r1").items()}
    # The running branch finishes normally; only what had not started is stopped.
    assert states == {"bad": "failed", "slow": "success", "after": after_state}


FAN_OUT = """
    from pinflow import dag, task


    @task
    def start():
        return 10


    @task
    def square(n, i):
        return i * i + n


    @task
    def total(**parts):
        return sum(parts.values())


    @dag(dag_id="fan", max_active_tasks=16)
    def fan():
        n = start()
        parts = {f"p{i}": square.override(task_id=f"square_{i}")(n, i) for i in range(10)}
        total(**parts)


    fan()
"""


def test_a_one_to_ten_to_one_fan_out(db: Database, scheduler: Scheduler, tmp_path: Path) -> None:
    push_dag(db, tmp_path / "dags", "fan", FAN_OUT)
    assert run(db, scheduler, "fan") == "success"
    tis = task_instances(db, "fan", "r1")
    assert len(tis) == 12
    assert {ti.state for ti in tis.values()} == {"success"}
    assert get_xcom(db, tis["total"].run_pk, "total") == sum(i * i + 10 for i in range(10))


PROCESS_DEATHS = """
    import os
    import signal
    import time
    from pathlib import Path

    from pinflow import dag, task


    @task(retries=1, retry_delay=0)
    def fragile():
        marker = Path(os.environ["PINFLOW_STAGING_DIR"]) / "fragile"
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return "survived"


    @task(execution_timeout=0.5)
    def hang():
        time.sleep(30)


    @task
    def bash_done():
        pass


    @dag(dag_id="deaths")
    def deaths():
        fragile()
        hang()
        task.bash(task_id="shell", bash_command='echo "hello from $PINFLOW_DAG_ID"')
        task.bash(task_id="shell_fails", bash_command="echo nope >&2; exit 4")


    deaths()
"""


def test_killed_timed_out_and_shell_tasks(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "deaths", PROCESS_DEATHS)
    assert run(db, scheduler, "deaths") == "failed"
    tis = task_instances(db, "deaths", "r1")
    fragile = tries_of(db, tis["fragile"].id)
    assert [t.state for t in fragile] == ["up_for_retry", "success"]
    # A SIGKILL that Pinflow did not send is an interruption (here self-inflicted: the bound,
    # PINFLOW_MAX_INTERRUPTIONS, keeps such a task from looping); a timeout is a failure.
    assert fragile[0].error == (
        "interrupted: the task process killed by signal SIGKILL (retried at once; no retry spent)"
    )
    assert [t.interrupted for t in fragile] == [True, False]
    (hang,) = tries_of(db, tis["hang"].id)
    assert (hang.state, hang.error, hang.interrupted) == (
        "failed",
        "execution timeout after 0.5s",
        False,
    )
    assert tis["shell"].state == "success"
    assert get_xcom(db, tis["shell"].run_pk, "shell") == "hello from deaths"
    (shell_fails,) = tries_of(db, tis["shell_fails"].id)
    assert (shell_fails.state, shell_fails.error) == ("failed", "bash command exited with code 4")
    assert shell_fails.log_path is not None
    assert "nope" in Path(shell_fails.log_path).read_text()


SEED_V1 = """
    import os
    from pathlib import Path

    from pinflow import dag, task


    @task
    def stage():
        Path(os.environ["PINFLOW_STAGING_DIR"], "input.txt").write_text("42")
        return "staged"


    @task
    def consume(_):
        {body}


    @dag(dag_id="seed")
    def seed():
        consume(stage())


    seed()
"""


def test_a_task_fixed_in_v2_is_cleared_and_passes_reusing_the_staging_dir(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    v1 = push_dag(
        db, tmp_path / "dags", "seed", SEED_V1.replace("{body}", "raise ValueError('v1 bug')")
    )
    assert run(db, scheduler, "seed") == "failed"
    fixed = 'return int(Path(os.environ["PINFLOW_STAGING_DIR"], "input.txt").read_text())'
    v2 = push_dag(db, tmp_path / "dags", "seed", SEED_V1.replace("{body}", fixed))
    assert v2.digest != v1.digest

    clear_task_instances(db, "seed", actor="alice", task_ids=["consume"], dag_run_id="r1")
    scheduler.wake()
    assert scheduler.drain(DRAIN_TIMEOUT)
    assert run_state(db, "seed", "r1") == "success"
    tis = task_instances(db, "seed", "r1")
    assert tis["stage"].try_number == 1  # the upstream was not re-run
    consume = tries_of(db, tis["consume"].id)
    assert [(t.state, t.snapshot_digest) for t in consume] == [
        ("failed", v1.digest),
        ("success", v2.digest),
    ]
    assert get_xcom(db, tis["consume"].run_pk, "consume") == 42
