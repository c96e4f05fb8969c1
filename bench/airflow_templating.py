"""Issue #15's templating cost inside a task process: what an Airflow task that uses the
runner (ADR 0034) pays before its code runs, in-process, without a channel (no variable or
XCom reads: those are one channel round trip each, measured by the channel tests' benches).

Per iteration: build Airflow's context from a ``TaskContext``, then render a templated
``bash_command`` with ``{{ ds }}``, ``macros.ds_add`` and a ``{% for %}`` loop, and a small
``templates_dict``, in the sandbox (a fresh template each time, as a task process does).

    .venv/bin/python bench/airflow_templating.py
    .venv/bin/python bench/airflow_templating.py --iterations 5000
"""

from __future__ import annotations

import argparse
import statistics
import time

from pinflow.compat.airflow._context import build_context
from pinflow.compat.airflow._templating import environment, render
from pinflow.sdk.context import TaskContext

COMMAND = "{% for i in range(5) %}echo {{ ds }} {{ macros.ds_add(ds, i) }}; {% endfor %}"
TEMPLATES = {"week_later": "{{ macros.ds_add(ds, 7) }}", "who": "{{ params.who }}", "n": 3}
CONTEXT = TaskContext(
    dag_id="bench",
    run_id="r1",
    task_id="t",
    map_index=-1,
    try_number=1,
    logical_date="2024-03-01T00:00:00+00:00",
    params={"who": "bench"},
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    env = environment()
    timings = []
    for _ in range(args.iterations):
        started = time.perf_counter()
        context = build_context(CONTEXT, {})
        render(COMMAND, context, env)
        render(TEMPLATES, context, env)
        timings.append(time.perf_counter() - started)
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"iterations: {args.iterations}")
    print(f"context + render, median: {statistics.median(timings) * 1e3:.3f} ms")
    print(f"context + render, p99:    {p99 * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
