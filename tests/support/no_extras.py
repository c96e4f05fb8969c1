"""Run Python as the base install sees it: the optional extras' packages cannot be imported.

    python tests/support/no_extras.py -m pinflow.cli standalone --port 0
    python tests/support/no_extras.py -c "import pinflow.scheduler.loop"

The dev environment has every extra installed, so "the base install imports and starts without
them" can only be tested by hiding them: a meta-path finder refuses each of them with the
``ModuleNotFoundError`` a missing package raises. (CI also runs the README's first command in a
fresh virtualenv that really has only the base install: ``scripts/smoke.sh``.)
"""

from __future__ import annotations

import importlib.abc
import runpy
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

# The packages that only the extras in pyproject.toml install (with their submodules).
EXTRA_PACKAGES = frozenset(
    {
        "psycopg",
        "psycopg_binary",
        "psycopg2",
        "celery",
        "kombu",
        "fsspec",
        "s3fs",
        "prometheus_client",
        # The OpenTelemetry API comes with FastAPI; the SDK and exporters are the extra's.
        "opentelemetry.sdk",
        "opentelemetry.exporter",
    }
)


class HideExtras(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if any(fullname == p or fullname.startswith(p + ".") for p in EXTRA_PACKAGES):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def main(argv: list[str]) -> None:
    sys.meta_path.insert(0, HideExtras())
    if len(argv) >= 2 and argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif len(argv) >= 2 and argv[0] == "-c":
        sys.argv = ["-c", *argv[2:]]
        exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
    else:
        raise SystemExit("usage: no_extras.py -m MODULE [ARGS...] | -c CODE [ARGS...]")


if __name__ == "__main__":
    main(sys.argv[1:])
