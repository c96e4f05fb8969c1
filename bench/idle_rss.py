"""Idle memory (issue #3) and CPU (issue #11): ``pinflow standalone`` at rest, every process.

Starts ``python -m pinflow.cli standalone`` on a fresh home (SQLite, the example DAGs loaded,
as a new user starts it), waits until its API answers, lets start-up settle (``--settle``),
measures the CPU the whole tree uses over ``--idle`` seconds at rest, then
sums the memory of its whole process tree (the standalone process, the executor's zygote and
its spare task process) from ``/proc``: RSS, which the target is stated in (shared pages
counted once per process), and PSS (shared pages split between the processes that share
them: what the tree really occupies). Stops it with SIGINT, as Ctrl-C does.

    .venv/bin/python bench/idle_rss.py
    .venv/bin/python bench/idle_rss.py --idle 30 --no-examples
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from common import print_machine

TARGET_MB = 250.0
AIRFLOW_MB = 1300.0  # issue #3: Airflow idles at 1.3 GB
START_TIMEOUT = 60.0
IDLE_CPU_TARGET = 0.01  # issue #11: at rest, at most 1% of a core


@dataclass(frozen=True)
class Proc:
    pid: int
    name: str
    rss_kb: int
    pss_kb: int


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(root: int) -> list[tuple[int, int]]:
    """``(pid, depth)`` of ``root`` and its descendants."""
    tree = children_of()
    found, todo = [], [(root, 0)]
    while todo:
        pid, depth = todo.pop()
        found.append((pid, depth))
        todo += [(child, depth + 1) for child in tree.get(pid, [])]
    return found


def _kb(text: str, field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


NAMES = ("standalone (API + scheduler)", "executor's zygote", "task process (the spare)")


def describe(pid: int, depth: int) -> Proc | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:  # it exited meanwhile
        return None
    name = NAMES[depth] if depth < len(NAMES) else "other descendant"
    return Proc(pid, name, _kb(status, "VmRSS"), _kb(rollup, "Pss"))


def wait_ready(process: subprocess.Popen[str]) -> str:
    """The URL from the banner, once the API answers its health check."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    url = ""
    for line in process.stdout:
        if line.strip().startswith("URL:"):
            url = line.split("URL:", 1)[1].strip()
        if line.startswith("Press Ctrl-C") or time.monotonic() > deadline:
            break
    if not url:
        raise RuntimeError("standalone did not print its URL")
    while httpx.get(f"{url}/api/v2/monitor/health", timeout=5).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("standalone did not become healthy")
        time.sleep(0.1)
    return url


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of ``pids`` (their own, not their children's), from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def measure(args: argparse.Namespace, home: Path) -> tuple[list[Proc], float, int, float]:
    command = [sys.executable, "-m", "pinflow.cli", "standalone", "--port", "0"]
    command += ["--home", str(home), *(["--no-examples"] if args.no_examples else [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINFLOW_")}
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        wait_ready(process)
        ready_after = time.monotonic() - started
        # Start-up is not rest: the first sweeps, the spares' warm-up and the first health
        # checks run in the first seconds. Measure from when they are done.
        time.sleep(args.settle)
        cpu_before = cpu_seconds([pid for pid, _ in process_tree(process.pid)])
        time.sleep(args.idle)
        tree = process_tree(process.pid)
        idle_cpu = (cpu_seconds([pid for pid, _ in tree]) - cpu_before) / args.idle
        procs = [p for pid, depth in tree if (p := describe(pid, depth)) is not None]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)  # reads what it still prints, so it never blocks
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    return procs, ready_after, process.returncode, idle_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=30.0, help="seconds measured at rest")
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds after ready before measuring"
    )
    parser.add_argument("--no-examples", action="store_true", help="do not load example DAGs")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pinflow-idle-"))
    try:
        print("Pinflow standalone at rest (issue #3)")
        print_machine("sqlite")
        procs, ready_after, code, idle_cpu = measure(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"\nready (API healthy) {ready_after:.2f} s after start; settled {args.settle:.0f} s, "
        f"then measured at rest for {args.idle:.0f} s:"
    )
    print(f"  {'pid':>7}  {'process':<30} {'RSS MB':>8} {'PSS MB':>8}")
    for p in procs:
        print(f"  {p.pid:>7}  {p.name:<30} {p.rss_kb / 1024:>8.1f} {p.pss_kb / 1024:>8.1f}")
    rss = sum(p.rss_kb for p in procs) / 1024
    pss = sum(p.pss_kb for p in procs) / 1024
    print(f"  {'':>7}  {'total':<30} {rss:>8.1f} {pss:>8.1f}")
    verdict = "met" if rss <= TARGET_MB else f"MISSED by {rss - TARGET_MB:.0f} MB"
    print(f"  target: RSS <= {TARGET_MB:.0f} MB: {verdict}; Airflow idles at {AIRFLOW_MB:.0f} MB")
    cpu_verdict = "met" if idle_cpu <= IDLE_CPU_TARGET else "MISSED"
    print(
        f"  CPU while idle: {idle_cpu * 100:.2f}% of a core (the whole tree); "
        f"target <= {IDLE_CPU_TARGET * 100:.0f}% (issue #11): {cpu_verdict}"
    )
    time.sleep(0.5)  # the zygote's children go with it: give the kernel a moment
    left = [p.pid for p in procs if alive(p.pid)]
    print(f"  stopped with SIGINT: exit code {code}; still running after: {left or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
