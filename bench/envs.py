"""Per-version environments (issue #18, point 4; ADR 0032): what they cost.

Prints, on a fresh environment cache and local wheels (offline, as the tests build them):

- the cold build of one environment (``python -m venv`` + pip/uv installing one small wheel);
- finding a built environment again (what every later try pays before its interpreter);
- a try end to end through the local executor (zygote, task process, result), a no-op bash
  task, without requirements (forked from the warm interpreter) and with them (the same fork,
  then ``execve`` of the environment's Python): the per-try price of a fresh interpreter.

No database and no scheduler: the executor is driven directly, so the figures are the
executor's own. Nothing asserts a time; read the load average printed first.

    .venv/bin/python bench/envs.py            # ~30 s; --tries N --builds N
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine
from tests.support.wheels import write_wheel

from pinflow.executors.local import LocalExecutor
from pinflow.runtime.contract import TaskRequest
from pinflow.runtime.envs import EnvConfig, ensure_env


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.2f} ms, max {max(values) * 1000:.1f} ms"


def _tries(executor: LocalExecutor, root: Path, requirements: list[str], n: int) -> list[float]:
    walls = []
    for i in range(n):
        request = TaskRequest(
            ti_id=i + (10_000 if requirements else 0),
            dag_id="bench",
            run_id="r",
            task_id="t",
            try_number=1,
            snapshot_digest="0" * 64,
            staging_dir=str(root / "staging"),
            log_path=str(root / "logs" / f"{i}-{len(requirements)}.log"),
            kind="bash",
            bash_command="true",
            requirements=requirements,
        )
        started = time.perf_counter()
        executor.submit(request)
        results = []
        while not results:
            results = executor.poll(60)
        walls.append(time.perf_counter() - started)
        assert results[0].success, results[0]
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--builds", type=int, default=3)
    args = parser.parse_args()
    print("machine:", machine())
    with tempfile.TemporaryDirectory(prefix="pinflow-bench-envs-") as tmp:
        root = Path(tmp)
        wheels = root / "wheels"
        write_wheel(wheels, "pfdemo", "1.0")
        pip_args = ("--no-index", "--find-links", str(wheels))
        builds = []
        for n in range(args.builds):
            config = EnvConfig(venv_dir=root / f"venvs{n}", pip_args=pip_args)
            started = time.perf_counter()
            ensure_env(config, ["pfdemo==1.0"])
            builds.append(time.perf_counter() - started)
        print(f"cold build (venv + install of 1 wheel), {args.builds}x: {_ms(builds)}")
        config = EnvConfig(venv_dir=root / "venvs0", pip_args=pip_args)
        lookups = []
        for _ in range(200):
            started = time.perf_counter()
            ensure_env(config, ["pfdemo==1.0"])
            lookups.append(time.perf_counter() - started)
        print(f"finding a built environment, 200x: {_ms(lookups)}")
        executor = LocalExecutor(snapshot_cache_dir=root / "snapshots", parallelism=1, envs=config)
        executor.start()
        try:
            _tries(executor, root, [], 3)  # warm-up
            forked = _tries(executor, root, [], args.tries)
            in_env = _tries(executor, root, ["pfdemo==1.0"], args.tries)
        finally:
            executor.stop()
        print(f"no-op try, forked from the warm interpreter, {args.tries}x: {_ms(forked)}")
        print(f"no-op try, in its environment's fresh Python, {args.tries}x: {_ms(in_env)}")


if __name__ == "__main__":
    main()
