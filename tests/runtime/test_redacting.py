"""A task process's output with its secrets masked: the redacting streams, the logging filter,
a bash command's stdout and stderr (``pinflow.runtime.redacting``, ``run_bash``)."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pinflow.runtime.channel import TaskChannel
from pinflow.runtime.operators import run_bash
from pinflow.runtime.redacting import RedactingFilter, RedactingWriter
from pinflow.spec.masking import MASK, MASKER, SecretsMasker

SECRET = "hunter22-secret"


@pytest.fixture
def masker() -> Iterator[SecretsMasker]:
    """The process-wide masker with ``SECRET`` registered, emptied again afterwards."""
    MASKER.clear()
    MASKER.add(SECRET)
    yield MASKER
    MASKER.clear()


def test_whole_lines_are_redacted_even_when_written_in_pieces(masker: SecretsMasker) -> None:
    inner = io.StringIO()
    out = RedactingWriter(inner, masker)
    print("password:", SECRET, file=out, end="")  # three writes: a partial line waits
    assert inner.getvalue() == ""
    out.write(" done\nnext ")
    assert inner.getvalue() == f"password: {MASK} done\n"


def test_a_secret_split_across_writes_is_masked(masker: SecretsMasker) -> None:
    inner = io.StringIO()
    out = RedactingWriter(inner, masker)
    out.write("pw=" + SECRET[:6])
    out.write(SECRET[6:] + "\n")
    out.write("tail " + SECRET)
    assert inner.getvalue() == f"pw={MASK}\n"
    out.flush()
    assert inner.getvalue() == f"pw={MASK}\ntail {MASK}"


def test_a_multi_line_secret_printed_whole_is_masked_line_by_line(masker: SecretsMasker) -> None:
    inner = io.StringIO()
    out = RedactingWriter(inner, masker)
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----"
    masker.add(key)
    print(key, file=out)
    assert inner.getvalue() == f"{MASK}\n{MASK}\n{MASK}\n"


def test_threads_printing_at_once_keep_their_lines_whole(masker: SecretsMasker) -> None:
    inner = io.StringIO()
    out = RedactingWriter(inner, masker)

    def chatter(n: int) -> None:
        for i in range(200):
            print("thread", n, "line", i, "pw", SECRET, file=out)

    threads = [threading.Thread(target=chatter, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.flush()
    lines = inner.getvalue().splitlines()
    assert len(lines) == 800
    assert SECRET not in inner.getvalue()
    assert inner.getvalue().count(MASK) == 800


def test_without_secrets_text_passes_straight_through() -> None:
    inner = io.StringIO()
    out = RedactingWriter(inner, SecretsMasker())
    out.write("partial")
    assert inner.getvalue() == "partial"


def test_print_and_tracebacks_through_the_writer(masker: SecretsMasker) -> None:
    inner = io.StringIO()
    out = RedactingWriter(inner, masker)
    print(f"connecting with {SECRET}", file=out)
    try:
        raise ValueError(f"login failed for {SECRET!r}")
    except ValueError:
        traceback.print_exc(file=out)
    out.flush()
    text = inner.getvalue()
    assert SECRET not in text
    assert f"connecting with {MASK}" in text
    assert f"ValueError: login failed for '{MASK}'" in text


def test_the_logging_filter_redacts_messages_arguments_and_tracebacks(
    masker: SecretsMasker,
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(masker))
    logger = logging.getLogger("pinflow.tests.redacting")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s in %s", SECRET, {"a": SECRET})
        try:
            raise RuntimeError(SECRET)
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert SECRET not in text
    assert f"token {MASK} in {{'a': '{MASK}'}}" in text
    assert f"RuntimeError: {MASK}" in text


def _streams(monkeypatch: pytest.MonkeyPatch) -> tuple[io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", RedactingWriter(out))
    monkeypatch.setattr(sys, "stderr", RedactingWriter(err))
    return out, err


def test_a_bash_commands_stdout_and_stderr_are_redacted(
    masker: SecretsMasker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out, err = _streams(monkeypatch)
    command = f"echo out {SECRET}; echo err {SECRET} >&2; echo last"
    assert run_bash(command, cwd=str(tmp_path)) == "last"
    assert out.getvalue() == f"out {MASK}\nlast\n"
    assert err.getvalue() == f"err {MASK}\n"


def test_without_secrets_bash_stderr_goes_to_the_fd_directly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    MASKER.clear()
    out, err = _streams(monkeypatch)
    assert run_bash("echo out; echo err >&2", cwd=str(tmp_path)) == "out"
    assert out.getvalue() == "out\n"
    assert err.getvalue() == ""  # not through Python: written by bash itself
    assert "err" in capfd.readouterr().err


class _Backend:
    """A try's answers from memory: one connection, two variables; keeps what it is given."""

    def __init__(self) -> None:
        self.kept: dict[str, Any] | None = None

    def variable(self, key: str) -> str:
        return {"api_token": "tok-abc123", "bucket": "s3://bucket"}[key]

    def connection(self, conn_id: str) -> Any:
        extra = json.dumps({"api_key": "key-in-extra", "region": "eu-west-1"})
        return {"conn_id": conn_id, "conn_type": "postgres", "password": SECRET, "extra": extra}

    def push_xcom(self, key: str, value: Any) -> None:
        raise AssertionError("not used")

    def pull_xcom(self, task_id: str, map_index: int, key: str) -> Any:
        raise AssertionError("not used")

    def rendered_fields(self, fields: dict[str, Any]) -> None:
        self.kept = fields


def test_the_channel_redacts_the_secrets_it_served_from_rendered_fields() -> None:
    """Defence in depth: whatever the task process masked, the channel masks what it served."""
    backend = _Backend()
    channel = TaskChannel(backend, "redacting")
    try:

        def ask(**request: Any) -> Any:
            return channel._answer(json.dumps(request).encode())

        assert ask(op="connection", conn_id="vault")["value"]["password"] == SECRET
        assert ask(op="variable", key="api_token") == {"ok": True, "value": "tok-abc123"}
        assert ask(op="variable", key="bucket") == {"ok": True, "value": "s3://bucket"}
        fields = {
            "bash_command": f"psql {SECRET} tok-abc123 key-in-extra s3://bucket eu-west-1",
            "env": {"PGPASSWORD": "anything", "X": [SECRET]},
        }
        assert ask(op="rendered_fields", fields=fields) == {"ok": True, "value": None}
    finally:
        channel.close()
    assert backend.kept == {
        "bash_command": f"psql {MASK} {MASK} {MASK} s3://bucket eu-west-1",
        "env": {"PGPASSWORD": MASK, "X": [MASK]},
    }
