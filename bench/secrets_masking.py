"""The secrets masker's cost in a task process (ADR 0034): a bash command's output copied to
the log through the redacting streams, with and without secrets registered, and the
redaction of one log line.

With secrets, stderr is piped through the task process too (without, bash writes it to the
log itself), and every line is matched against the registered values.

    .venv/bin/python bench/secrets_masking.py
    .venv/bin/python bench/secrets_masking.py --lines 200000 --secrets 20
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time

from pinflow.runtime.operators import run_bash
from pinflow.runtime.redacting import redacting
from pinflow.spec.masking import MASKER


def _bash(lines: int, log: str) -> float:
    """Seconds for a bash command printing ``lines`` lines to stdout and to stderr."""
    command = f"for i in $(seq {lines}); do echo line $i of the output; echo err $i >&2; done"
    saved = sys.stdout, sys.stderr, os.dup(1), os.dup(2)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = redacting(io.TextIOWrapper(open(1, "wb", closefd=False)))  # noqa: SIM115
    sys.stderr = redacting(io.TextIOWrapper(open(2, "wb", closefd=False)))  # noqa: SIM115
    try:
        started = time.perf_counter()
        run_bash(command, cwd=tempfile.gettempdir())
        return time.perf_counter() - started
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[2], 1)
        os.dup2(saved[3], 2)
        sys.stdout, sys.stderr = saved[0], saved[1]


def _redact_line(iterations: int) -> float:
    """Microseconds to redact one typical log line."""
    line = "[2024-03-01T00:00:00.000+00:00] INFO connecting to db.internal:5432 as etl\n"
    started = time.perf_counter()
    for _ in range(iterations):
        MASKER.redact_text(line)
    return (time.perf_counter() - started) / iterations * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50000)
    parser.add_argument("--secrets", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = os.path.join(folder, "try.log")
        MASKER.clear()
        plain = _bash(args.lines, log)
        for n in range(args.secrets):
            MASKER.add(f"secret-value-{n:04d}-{os.urandom(4).hex()}")
        masked = _bash(args.lines, log)
        per_line = _redact_line(100000)
        MASKER.clear()
    print(f"bash lines (stdout + stderr each): {args.lines}")
    print(f"secrets registered: {args.secrets} (x quoted forms)")
    print(f"no secrets (stderr straight to the log): {plain * 1000:.0f} ms")
    print(f"with secrets (both streams redacted):   {masked * 1000:.0f} ms")
    print(f"overhead: {(masked / plain - 1) * 100:+.0f}%")
    print(f"redact one log line: {per_line:.2f} µs")


if __name__ == "__main__":
    main()
