"""Running a scheduler as a process: ``python -m pinflow.scheduler`` (``pinflow scheduler``).

``--until-idle`` exits once nothing is left to run (exit code 0; 1 if ``--timeout`` passed
first): what tests, benches and one-shot jobs use. Without it the scheduler runs until SIGTERM
or SIGINT, then stops gracefully (see ``Scheduler.stop``).
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading

from pinflow.errors import PinflowError
from pinflow.executors.base import load_executor
from pinflow.scheduler.loop import Scheduler
from pinflow.settings import Settings
from pinflow.store.db import Database


def main(argv: list[str] | None = None) -> int:
    """``python -m pinflow.scheduler [--db URL] [--home DIR] [--until-idle]``."""
    parser = argparse.ArgumentParser(prog="python -m pinflow.scheduler")
    parser.add_argument("--db", help="database URL (default: the settings')")
    parser.add_argument("--home", help="PINFLOW_HOME (default: the settings')")
    parser.add_argument("--until-idle", action="store_true", help="exit once nothing is left")
    parser.add_argument("--timeout", type=float, default=3600.0, help="with --until-idle")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Each transaction allocates thousands of short-lived objects: collect the young generation
    # less often (a process-wide choice, so made here and not in the library code).
    gc.set_threshold(20_000, 20, 20)
    overrides = {k: v for k, v in (("database_url", args.db), ("home", args.home)) if v}
    settings = Settings(**overrides)
    try:
        db = Database(settings.database_url)
        executor = load_executor(settings)
    except PinflowError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    scheduler = Scheduler(db, executor, settings)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()
        scheduler.wake()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        if args.until_idle:
            return 0 if scheduler.drain(args.timeout) else 1
        scheduler.run_forever(stop)
        return 0
    finally:
        scheduler.close()
        db.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
