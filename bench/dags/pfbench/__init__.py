"""Tasks shared by the bench DAGs (a package beside the DAG files, so it is in the bundle)."""

from __future__ import annotations

import os
import time

from pinflow import task

MARKS_FILE = "marks"


def _mark(kind: str) -> None:
    """Append ``<kind> <task_id> <map_index> <time>`` to the run's marks file.

    The marks give the task-to-task latency as a user sees it (end of one task's code to the
    start of the next one's), which the database's start/end stamps only bound.
    """
    line = (
        f"{kind} {os.environ['PINFLOW_TASK_ID']} {os.environ.get('PINFLOW_MAP_INDEX', '-1')} "
        f"{time.time():.6f}\n"
    )
    fd = os.open(
        os.path.join(os.environ["PINFLOW_STAGING_DIR"], MARKS_FILE),
        os.O_WRONLY | os.O_APPEND | os.O_CREAT,
        0o644,
    )
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@task
def noop() -> None:
    """Does nothing: what the scheduler and the executor cost, and nothing else."""


@task
def marked() -> None:
    """A no-op that marks its start and end (two small appends to the staging dir)."""
    _mark("start")
    _mark("end")


@task
def items(count: int = 100) -> list[int]:
    _mark("start")
    _mark("end")
    return list(range(count))


@task
def mapped(item: int) -> int:
    _mark("start")
    _mark("end")
    return item


@task
def join(values: list[int]) -> int:
    _mark("start")
    _mark("end")
    return len(values)


@task
def numbers(count: int = 100) -> list[int]:
    """As ``items``, without the marks: a fan-out that is orchestration only."""
    return list(range(count))


@task
def echo(item: int) -> int:
    return item


@task
def count_of(values: list[int]) -> int:
    return len(values)
