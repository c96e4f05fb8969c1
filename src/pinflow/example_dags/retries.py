"""A flaky task that succeeds on its third try: retries with a (short) exponential backoff."""

from __future__ import annotations

from datetime import timedelta

from pinflow import dag, task


@task(retries=3, retry_delay=timedelta(seconds=0.2), retry_exponential_backoff=True)
def flaky(try_number: int | None = None) -> str:
    if (try_number or 1) < 3:
        raise RuntimeError(f"transient failure on try {try_number}")
    return f"succeeded on try {try_number}"


@dag(
    dag_id="example_retries",
    name="Example: retries that succeed on the third try",
    tags=["example"],
)
def example_retries() -> None:
    flaky()


example_retries()
