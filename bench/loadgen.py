"""The API bench's load generator: a process of its own, so that the client's Python does not
share the server's GIL. Reads one job (JSON) on stdin, prints the figures (JSON) on stdout.

Job: ``url``, ``token``, ``method``, ``path``, ``body`` (for POST; ``{n}`` in ``dag_run_id``
becomes a unique number), ``requests`` (at most), ``seconds`` (at most), ``concurrency``
(threads, each with its own keep-alive connection), ``warmup`` (requests not counted).
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from typing import Any

import httpx


def worker(
    job: dict[str, Any], counter: itertools.count[int], out: dict[str, Any], *, counted: bool
) -> None:
    headers = {"Authorization": f"Bearer {job['token']}"}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = job["deadline"]
    with httpx.Client(base_url=job["url"], headers=headers, timeout=60) as client:
        while time.monotonic() < deadline and (n := next(counter)) < job["total"]:
            body = None
            if job["body"] is not None:
                body = {**job["body"], "dag_run_id": job["body"]["dag_run_id"].format(n=n)}
            started = time.perf_counter()
            answer = client.request(job["method"], job["path"], json=body)
            elapsed = time.perf_counter() - started
            if answer.is_success:
                if counted:
                    latencies.append(elapsed)
            else:
                key = str(answer.status_code)
                errors[key] = errors.get(key, 0) + 1
    with out["lock"]:
        out["latencies"] += latencies
        for key, count in errors.items():
            out["errors"][key] = out["errors"].get(key, 0) + count


def run(job: dict[str, Any]) -> dict[str, Any]:
    job = dict(job)
    out: dict[str, Any] = {"latencies": [], "errors": {}, "lock": threading.Lock()}
    # Warm-up first, on one connection, so that the measured window starts warm; numbers
    # from 0 in both (a POST's run id adds its own prefix to each).
    warm = {**job, "total": job["warmup"], "deadline": time.monotonic() + job["seconds"]}
    warm["body"] = job["body"] and {
        **job["body"],
        "dag_run_id": "warm_" + job["body"]["dag_run_id"],
    }
    worker(warm, itertools.count(), out, counted=False)
    job["total"] = job["requests"]
    job["deadline"] = time.monotonic() + job["seconds"]
    counter = itertools.count()
    threads = [
        threading.Thread(target=worker, args=(job, counter, out), kwargs={"counted": True})
        for _ in range(job["concurrency"])
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"latencies": out["latencies"], "errors": out["errors"], "elapsed": elapsed}


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
