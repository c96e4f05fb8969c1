"""``.pinflowignore`` patterns (gitignore-style) and ``bundle_files=`` globs (ADR 0041)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinflow.sdk.bundle import bundle_files
from pinflow.sdk.dag import dag
from pinflow.sdk.ignore import glob_names, parse_ignore

RULES = parse_ignore(
    """
    # comments and blank lines are skipped

    *.log
    /build/
    docs/**/draft.md
    secrets/
    !secrets/README
    """.replace("    ", "")
)


@pytest.mark.parametrize(
    ("name", "ignored"),
    [
        ("run.log", True),
        ("deep/in/run.log", True),
        ("build/x.py", True),
        ("src/build/x.py", False),  # anchored at the root
        ("build", False),  # a trailing / matches folders only
        ("docs/a/b/draft.md", True),
        ("docs/draft.md", True),
        ("secrets/key.pem", True),
        ("secrets/README", True),  # as in git: a file in an ignored folder stays ignored
        ("etl.py", False),
    ],
)
def test_ignore_patterns_follow_gitignore(name: str, ignored: bool) -> None:
    assert RULES.ignores(name) is ignored


def test_negation_re_includes_when_the_folder_itself_is_not_ignored() -> None:
    rules = parse_ignore("*.csv\n!keep.csv\n")
    assert rules.ignores("a.csv")
    assert not rules.ignores("data/keep.csv")


def test_ignored_files_are_never_part_of_the_bundle(tmp_path: Path) -> None:
    for name in ("etl.py", "scratch/big.bin", "run.log", ".pinflowignore"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / ".pinflowignore").write_text("scratch/\n*.log\n")
    assert [name for name, _ in bundle_files(tmp_path)] == ["etl.py"]


def test_bundle_files_globs_are_anchored_and_take_folders() -> None:
    names = ["data/a.csv", "data/sub/b.csv", "other/data/c.csv", "conf/x.yaml"]
    assert glob_names("data/*.csv", names) == ["data/a.csv"]
    assert glob_names("data/**/*.csv", names) == ["data/a.csv", "data/sub/b.csv"]
    assert glob_names("conf/", names) == ["conf/x.yaml"]
    assert glob_names("missing/*", names) == []


@pytest.mark.parametrize("bad", ["data/*.csv", ["../up.csv"], ["/abs.csv"], [""], [3]])
def test_bundle_files_must_be_relative_paths(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="bundle_files"):
        dag(dag_id="x", bundle_files=bad)(lambda: None)  # type: ignore[arg-type]
