"""The code bundle: deterministic bytes, safe extraction, and running code from it."""

from __future__ import annotations

import io
import os
import stat
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinflow.errors import InvalidInputError
from pinflow.sdk.bundle import extract_bundle, make_bundle
from pinflow.sdk.compiler import compile_path
from pinflow.sdk.loader import resolve_callable


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write(
        tmp_path / "dags",
        {
            "etl.py": "x = 1\n",
            "pkg/__init__.py": "",
            "pkg/data/lookup.csv": "a,b\n",
            "pkg/__pycache__/mod.cpython-311.pyc": "junk",
            "stale.pyc": "junk",
            ".env": "SECRET=1",
            ".git/config": "[core]",
            ".venv/lib/site.py": "",
        },
    )


def names(bundle: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(bundle)).namelist()


def test_the_bundle_holds_code_and_package_data_but_no_junk(root: Path) -> None:
    assert names(make_bundle(root)) == ["etl.py", "pkg/__init__.py", "pkg/data/lookup.csv"]


def test_same_files_give_the_same_bytes_whatever_their_times_and_modes(root: Path) -> None:
    first = make_bundle(root)
    os.utime(root / "etl.py", (1_000_000_000, 1_000_000_000))
    (root / "etl.py").chmod(0o755)

    assert make_bundle(root) == first
    for info in zipfile.ZipFile(io.BytesIO(first)).infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644


def test_a_content_change_changes_the_bytes(root: Path) -> None:
    first = make_bundle(root)
    (root / "etl.py").write_text("x = 2\n")

    assert make_bundle(root) != first


def test_the_bundle_has_a_size_limit(root: Path) -> None:
    with pytest.raises(InvalidInputError, match="larger than 5 bytes"):
        make_bundle(root, max_bytes=5)


def test_extract_round_trips(root: Path, tmp_path: Path) -> None:
    extract_bundle(make_bundle(root), tmp_path / "out")

    assert (tmp_path / "out" / "pkg" / "data" / "lookup.csv").read_text() == "a,b\n"
    assert (tmp_path / "out" / "etl.py").read_text() == "x = 1\n"


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil.py", "pkg/../../evil.py", "C:/x.py"])
def test_extract_refuses_entries_outside_the_destination(tmp_path: Path, name: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.py", "")
        archive.writestr(zipfile.ZipInfo(name), "evil")

    with pytest.raises(InvalidInputError, match="unsafe paths") as caught:
        extract_bundle(buffer.getvalue(), tmp_path / "out")

    assert [p.location for p in caught.value.problems] == [name]
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.py").exists()


def test_extract_refuses_what_is_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a zip archive"):
        extract_bundle(b"not a zip", tmp_path)


@pytest.fixture
def clean_imports() -> Iterator[None]:
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.split(".")[0] in {"etl", "pkg"}:
            del sys.modules[name]


@pytest.mark.usefixtures("clean_imports")
def test_a_worker_resolves_task_callables_from_the_extracted_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write(
        tmp_path / "dags",
        {
            "etl.py": """
                from pinflow import dag, task
                from pkg.sub.steps import Steps, double


                @task
                def extract() -> list[int]:
                    return [1, 2]


                @dag
                def etl():
                    Steps.total(double(extract()))


                etl()
            """,
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "",
            "pkg/sub/steps.py": """
                from pinflow import task


                @task
                def double(values: list[int]) -> list[int]:
                    return [v * 2 for v in values]


                class Steps:
                    @staticmethod
                    @task
                    def total(values: list[int]) -> int:
                        return sum(values)
            """,
        },
    )
    [compiled] = compile_path(source)
    refs = [t.callable for t in compiled.spec.tasks]
    assert refs == ["etl:extract", "pkg.sub.steps:double", "pkg.sub.steps:Steps.total"]

    worker_dir = tmp_path / "worker"
    extract_bundle(compiled.bundle, worker_dir)
    monkeypatch.syspath_prepend(str(worker_dir))
    functions = [resolve_callable(ref) for ref in refs if ref]

    value: object = None
    for function in functions:
        value = function() if value is None else function(value)
    assert value == 6
    assert all(f.__module__ in {"etl", "pkg.sub.steps"} for f in functions)
    assert sys.modules["etl"].__file__ == str(worker_dir / "etl.py")


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("no_colon", ValueError, "must be 'module:qualname'"),
        ("mod:outer.<locals>.fn", ValueError, "must be 'module:qualname'"),
        ("json:no_such_function", ImportError, "'no_such_function' not found in 'json'"),
        ("no_such_module_xyz:fn", ImportError, "No module named 'no_such_module_xyz'"),
        ("sys:maxsize", TypeError, "is a int, not a function"),
    ],
)
def test_resolve_callable_errors(ref: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        resolve_callable(ref)


def test_extract_refuses_a_bundle_that_unpacks_too_large(root: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unpacks to more than 5 bytes"):
        extract_bundle(make_bundle(root), tmp_path / "out", max_bytes=5)


def test_extract_refuses_a_symlink_a_stored_bundle_may_hold(tmp_path: Path) -> None:
    """Defence in depth: a bundle stored before the push-time rules is checked again."""
    link = zipfile.ZipInfo("pkg/secret.py")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(link, "/etc/passwd")

    with pytest.raises(InvalidInputError, match="symlink"):
        extract_bundle(buffer.getvalue(), tmp_path / "out")
    assert not (tmp_path / "out").exists()
