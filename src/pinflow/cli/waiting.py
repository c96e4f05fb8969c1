"""Waiting for a run with a live display of its tasks finishing, and following a task's log."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from pinflow.cli.common import ExitCode, err
from pinflow.cli.output import styled
from pinflow.client import JSON, PinflowClient

POLL_SECONDS = 0.2
FINISHED_RUN = ("success", "failed")
FINISHED_TASK = ("success", "failed", "skipped", "upstream_failed", "removed")
NO_LOG_YET = "*** No log file"
MARKS = {"success": "[green]✓[/]", "skipped": "[magenta]-[/]", "removed": "[dim]x[/]"}


def task_label(ti: dict[str, Any]) -> str:
    index = ti.get("map_index", -1)
    return f"{ti['task_id']}[{index}]" if index is not None and index >= 0 else str(ti["task_id"])


def _announce(ti: dict[str, Any], state: str) -> None:
    mark = MARKS.get(state, "[red]✗[/]" if state in FINISHED_TASK else "[yellow]…[/]")
    tries = f" (try {ti.get('try_number')})" if (ti.get("try_number") or 0) > 1 else ""
    err.print(f"  {mark} {escape(task_label(ti))} {styled(state)}{tries}")


class RunWatcher:
    """Polls one run and its task instances; reports each task's change of state once."""

    def __init__(self, client: PinflowClient, dag_id: str, run_id: str) -> None:
        self.client, self.dag_id, self.run_id = client, dag_id, run_id
        self.seen: dict[str, tuple[str, int]] = {}

    def poll(self) -> tuple[JSON, list[dict[str, Any]]]:
        run = self.client.get_run(self.dag_id, self.run_id)
        tis = self.client.list_task_instances(self.dag_id, self.run_id)["task_instances"]
        for ti in tis:
            state = ti.get("state") or "none"
            key, now = task_label(ti), (state, int(ti.get("try_number") or 0))
            if self.seen.get(key) != now and (state in FINISHED_TASK or state in _WAITING):
                _announce(ti, state)
            self.seen[key] = now
        return run, tis


# Announced too: a task waiting with no process (a retry's delay, a sensor's wait).
_WAITING = frozenset({"up_for_retry", "up_for_reschedule", "deferred"})


def wait_for_run(
    client: PinflowClient,
    dag_id: str,
    run_id: str,
    *,
    timeout: float,
    on_poll: Callable[[JSON], None] | None = None,
) -> tuple[JSON, ExitCode]:
    """Poll until the run finishes or ``timeout`` passes; tasks are reported as they finish.

    Returns the last run seen and the exit code: OK (success), FAILURE (failed), TIMEOUT.
    """
    watcher = RunWatcher(client, dag_id, run_id)
    deadline = time.monotonic() + timeout
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        bar = progress.add_task(f"{dag_id} / {run_id}", total=None)
        while True:
            run, tis = watcher.poll()
            done = sum(1 for ti in tis if (ti.get("state") or "none") in FINISHED_TASK)
            state = str(run.get("state"))
            progress.update(bar, total=len(tis) or None, completed=done, description=state)
            if on_poll is not None:
                on_poll(run)
            if state in FINISHED_RUN:
                return run, ExitCode.OK if state == "success" else ExitCode.FAILURE
            if time.monotonic() >= deadline:
                return run, ExitCode.TIMEOUT
            time.sleep(POLL_SECONDS)


def follow_log(
    client: PinflowClient,
    ref: tuple[str, str, str, int],
    try_number: int,
    *,
    follow: bool,
    timeout: float,
    emit: Callable[[str], None],
) -> bool:
    """Print the try's log; with ``follow``, keep printing new lines until the try ends.

    Returns ``False`` when ``timeout`` passed while still following.
    """
    dag_id, run_id, task_id, map_index = ref
    printed, deadline = 0, time.monotonic() + timeout
    while True:
        ti = client.get_task_instance(dag_id, run_id, task_id, map_index) if follow else {}
        same_try = int(ti.get("try_number") or 0) == try_number
        live = follow and same_try and ti.get("state") in ("queued", "running", "scheduled")
        lines = client.get_log(dag_id, run_id, task_id, try_number, map_index=map_index)
        if live and lines and lines[0].startswith(NO_LOG_YET):
            lines = []  # the try has not written its log yet: not a line to print
        for line in lines[printed:]:
            emit(line)
        printed = max(printed, len(lines))
        if not live:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
