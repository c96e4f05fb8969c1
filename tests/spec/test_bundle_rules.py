"""The rules a pushed bundle's entries follow (spec/bundle_rules.py), on crafted archives."""

from __future__ import annotations

import io
import stat
import warnings
import zipfile
from pathlib import Path

import pytest

from pinflow.errors import InvalidInputError
from pinflow.sdk.bundle import make_bundle
from pinflow.spec.bundle_rules import BundleLimits, check_bundle, check_spec_limits
from pinflow.spec.models import DagSpec, TaskSpec

SMALL = BundleLimits(max_bundle_bytes=1000, max_file_bytes=400, max_bundle_files=5)


def zipped(*entries: tuple[str | zipfile.ZipInfo, bytes], deflate: bool = False) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": on purpose
        with zipfile.ZipFile(buffer, "w", compression=method) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


def refusal(bundle: bytes, limits: BundleLimits = SMALL) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        check_bundle(bundle, limits)
    return caught.value


def test_a_good_bundle_passes(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "etl.py").write_text("x = 1\n")
    (tmp_path / "café.py").write_text("y = 2\n")
    check_bundle(make_bundle(tmp_path))
    check_bundle(zipped(("dags/", b""), ("dags/a.py", b"a = 1\n")), SMALL)
    check_bundle(b"")  # a spec without code


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.py", "zip-slip"),
        ("pkg/../../evil.py", "zip-slip"),
        ("/etc/evil.py", "absolute path"),
        ("C:/evil.py", "drive"),
        ("C:\\evil.py", "backslash"),
        ("..\\evil.py", "backslash"),
        ("\\\\server\\share\\evil.py", "backslash"),
        ("pkg/evil\n.py", "control character"),
        ("pkg/\x1b[31mred.py", "control character"),
    ],
)
def test_unsafe_names_are_refused_naming_the_entry(name: str, why: str) -> None:
    error = refusal(zipped(("ok.py", b""), (zipfile.ZipInfo(name), b"evil")))

    assert why in error.message
    assert "Remove or rename it" in error.message
    assert len(error.problems) == 1
    assert why in error.problems[0].message
    assert "\n" not in error.problems[0].location  # shown escaped, never raw


def test_a_symlink_is_refused() -> None:
    link = zipfile.ZipInfo("pkg/secrets.py")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    error = refusal(zipped((link, b"/home/pinflow/jwt_secret")))

    assert error.problems[0].location == "pkg/secrets.py"
    assert "symlink" in error.problems[0].message


def test_a_device_or_pipe_is_refused() -> None:
    fifo = zipfile.ZipInfo("pipe")
    fifo.create_system = 3
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    assert "not a regular file" in refusal(zipped((fifo, b""))).message


@pytest.mark.parametrize("again", ["etl.py", "./etl.py", ".//etl.py", "etl.py/"])
def test_a_duplicate_name_is_refused(again: str) -> None:
    error = refusal(zipped(("etl.py", b"x = 1"), (zipfile.ZipInfo(again), b"x = 2")))

    assert [(p.location, p.message) for p in error.problems] == [
        (again, "duplicate entry: the archive holds this name twice")
    ]


def _with_raw_name(raw: bytes, *, utf8_flag: bool) -> bytes:
    """An archive whose one entry's name is the bytes ``raw`` (patched in after writing)."""
    placeholder = b"X" * len(raw)
    data = zipped((placeholder.decode(), b"x = 1\n"))
    data = data.replace(placeholder, raw)
    if utf8_flag:  # general purpose flags follow the version fields in both headers
        local, central = b"PK\x03\x04\x14\x00", b"PK\x01\x02\x14\x03\x14\x00"
        data = data.replace(local + b"\x00\x00", local + b"\x00\x08")
        data = data.replace(central + b"\x00\x00", central + b"\x00\x08")
    return data


def test_a_name_marked_utf8_that_is_not_is_refused() -> None:
    error = refusal(_with_raw_name(b"\xffbad.py", utf8_flag=True))

    assert "not valid UTF-8" in error.message
    assert "\\xffbad.py" in error.message


def test_a_non_ascii_name_not_marked_utf8_is_refused() -> None:
    error = refusal(_with_raw_name("café.py".encode(), utf8_flag=False))

    assert "not marked as UTF-8" in error.problems[0].message


def test_a_file_over_the_file_limit_is_refused_by_its_declared_size() -> None:
    error = refusal(zipped(("big.bin", b"0" * 401)))

    assert "'big.bin' is 401 bytes" in error.message
    assert "400 bytes per file (PINFLOW_MAX_FILE_BYTES)" in error.message


def test_a_bundle_over_the_total_limit_is_refused() -> None:
    error = refusal(zipped(*((f"f{i}.txt", b"0" * 300) for i in range(4))))

    assert "unpacks to 1200 bytes" in error.message
    assert "PINFLOW_MAX_BUNDLE_BYTES" in error.message


def test_too_many_files_are_refused() -> None:
    error = refusal(zipped(*((f"f{i}.py", b"") for i in range(6))))

    assert "6 entries, more than the limit of 5 (PINFLOW_MAX_BUNDLE_FILES)" in error.message


def test_a_zip_bomb_declaring_a_small_size_is_refused() -> None:
    """A megabyte of zeros deflates to about a kilobyte; the entry claims 10 bytes."""
    honest = zipped(("bomb.txt", b"\0" * 1_000_000), deflate=True)
    size = (1_000_000).to_bytes(4, "little")
    lying = honest.replace(size, (10).to_bytes(4, "little"))
    assert lying != honest

    error = refusal(lying, BundleLimits(max_bundle_bytes=10**9, max_file_bytes=100))

    assert "'bomb.txt' cannot be read" in error.message
    assert "damaged or truncated" in error.message


def test_an_honest_bomb_is_refused_by_its_declared_size_before_inflating() -> None:
    bomb = zipped(("bomb.txt", b"\0" * 1_000_000), deflate=True)
    assert len(bomb) < 5000

    assert "PINFLOW_MAX_FILE_BYTES" in refusal(bomb).message


def test_a_corrupted_entry_is_refused() -> None:
    data = bytearray(zipped(("etl.py", b"print('hello')\n")))
    data[data.index(b"hello")] = ord("j")  # the CRC no longer matches

    assert "'etl.py' cannot be read" in refusal(bytes(data)).message


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_truncated_archive_is_refused(cut: float) -> None:
    data = zipped(("etl.py", b"x = 1\n" * 50))

    assert "not a readable zip archive" in refusal(data[: int(len(data) * cut)]).message


def _spec(tasks: int, arg: str = "") -> DagSpec:
    return DagSpec(
        dag_id="big",
        tasks=[
            TaskSpec(task_id=f"t{i}", kind="bash", bash_command="true", args={"a": arg})
            for i in range(tasks)
        ],
    )


def test_spec_limits() -> None:
    limits = BundleLimits(max_tasks_per_dag=3, max_spec_bytes=2000)
    check_spec_limits(_spec(3), limits)

    with pytest.raises(InvalidInputError, match=r"4 tasks, more than the limit of 3 per DAG"):
        check_spec_limits(_spec(4), limits)
    with pytest.raises(InvalidInputError, match=r"over the limit of 2000 bytes \(PINFLOW_MAX_SPEC"):
        check_spec_limits(_spec(1, "x" * 2000), limits)


def test_a_spec_with_text_no_database_stores_is_refused() -> None:
    nul = DagSpec(dag_id="d", tasks=[TaskSpec(task_id="t", kind="bash", args={"k\x00": 1})])
    lone = DagSpec(dag_id="d", description="\udc00")

    with pytest.raises(InvalidInputError, match=r"NUL character \(\\u0000\) at tasks\[0\]\.args"):
        check_spec_limits(nul)
    with pytest.raises(InvalidInputError, match=r"not valid Unicode \(an unpaired surrogate"):
        check_spec_limits(lone)
