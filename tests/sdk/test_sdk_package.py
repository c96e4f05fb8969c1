"""The top-level package: lazy SDK re-exports and the SDK's import boundary."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import pinflow
from pinflow import sdk


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


def test_the_authoring_api_is_re_exported_from_pinflow() -> None:
    assert pinflow.__version__ == "0.1.0"
    assert (pinflow.dag, pinflow.task, pinflow.chain, pinflow.Param) == (
        sdk.dag,
        sdk.task,
        sdk.chain,
        sdk.Param,
    )
    assert {"dag", "task", "chain", "Param"} <= set(dir(pinflow))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = pinflow.nope


def test_other_subpackages_do_not_import_the_sdk() -> None:
    out = run_python(
        """
        import sys
        import pinflow.spec.canonical
        print("pinflow.sdk" in sys.modules)
        from pinflow import dag, task, chain, Param
        print("pinflow.sdk" in sys.modules)
        """
    )

    assert out.split() == ["False", "True"]


def test_the_sdk_imports_nothing_of_the_control_plane() -> None:
    out = run_python(
        """
        import sys
        import pinflow.sdk.compiler, pinflow.sdk.loader, pinflow.sdk.bundle
        layers = ("lifecycle", "store", "services", "scheduler", "executors", "api", "ui", "cli")
        loaded = [m.split(".") for m in sys.modules if m.startswith("pinflow.")]
        print(sorted(".".join(m) for m in loaded if m[1] in layers))
        print(sorted(m for m in ("sqlalchemy", "fastapi", "celery", "yaml") if m in sys.modules))
        """
    )

    assert out.splitlines() == ["[]", "[]"]
