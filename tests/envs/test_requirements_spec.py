"""A version's requirements: PEP 508, normalised, part of the spec and of the digest (ADR 0032)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from pinflow.errors import InvalidInputError
from pinflow.lifecycle.diff import diff_specs
from pinflow.sdk.compiler import compile_path
from pinflow.spec.canonical import snapshot_digest, spec_from_json, spec_to_dict, spec_to_json
from pinflow.spec.models import DagSpec, TaskSpec
from pinflow.spec.requirements import (
    RequirementsError,
    normalize_requirements,
    parse_requirements_text,
)

DAG = """
    from pinflow import dag, task


    @task
    def report():
        import pfdemo

        return pfdemo.__version__


    @dag(dag_id="pinned"{options})
    def pinned():
        report()


    pinned()
"""


def _folder(root: Path, options: str = "", requirements_txt: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pinned.py").write_text(textwrap.dedent(DAG.format(options=options)))
    if requirements_txt is not None:
        (root / "requirements.txt").write_text(textwrap.dedent(requirements_txt))
    return root


def _problems(path: Path) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        compile_path(path)
    return [str(problem) for problem in caught.value.problems]


def _spec(**fields: object) -> DagSpec:
    return DagSpec.model_validate({"dag_id": "d", "tasks": [TaskSpec(task_id="t")], **fields})


def test_requirements_are_normalised_deduplicated_and_sorted() -> None:
    got = normalize_requirements(
        ["Requests[socks,Security] >= 2, <3", "PFDemo == 1.0", "pfdemo==1.0", "x; os_name=='nt'"]
    )
    assert got == ["pfdemo==1.0", "requests[security,socks]<3,>=2", 'x; os_name == "nt"']


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["pandas = 2"], "is not a PEP 508 requirement"),
        (["  "], "must not be blank"),
        (["-r other.txt"], "PINFLOW_PIP_ARGS"),
        (["pfdemo==1.0", "PFDemo==2.0"], "pfdemo is required twice"),
        (["pinflow==0.1"], "provided by the worker"),
        ("pfdemo==1.0", "a list of strings"),
        ([3], "must be a string"),
    ],
)
def test_bad_requirements_are_refused_saying_what_to_do(items: object, message: str) -> None:
    with pytest.raises(RequirementsError, match=message):
        normalize_requirements(items)  # type: ignore[arg-type]


def test_the_spec_normalises_and_round_trips_its_requirements() -> None:
    spec = _spec(requirements=["PFDemo==1.0"])
    assert spec.requirements == ["pfdemo==1.0"]
    assert spec_from_json(spec_to_json(spec)) == spec
    with pytest.raises(ValidationError, match="not a PEP 508 requirement"):
        _spec(requirements=["pfdemo >>> 1"])


def test_the_digest_changes_with_the_requirements_and_only_then() -> None:
    plain = _spec()
    v1 = _spec(requirements=["pfdemo==1.0"])
    v2 = _spec(requirements=["pfdemo==2.0"])
    digests = {snapshot_digest(s, b"code") for s in (plain, v1, v2)}
    assert len(digests) == 3
    assert snapshot_digest(_spec(requirements=["PFDemo == 1.0"]), b"code") == snapshot_digest(
        v1, b"code"
    )
    # A DAG without requirements keeps the document (and digest) it had before the field.
    assert "requirements" not in spec_to_dict(plain)
    assert spec_to_dict(v1)["requirements"] == ["pfdemo==1.0"]


def test_the_dag_decorator_takes_requirements(tmp_path: Path) -> None:
    (compiled,) = compile_path(_folder(tmp_path, ', requirements=["PFDemo==1.0"]'))
    assert compiled.spec.requirements == ["pfdemo==1.0"]
    (other,) = compile_path(_folder(tmp_path / "v2", ', requirements=["pfdemo==2.0"]'))
    assert other.digest != compiled.digest


def test_a_bad_requirement_in_the_decorator_is_a_compile_problem(tmp_path: Path) -> None:
    (problem,) = _problems(_folder(tmp_path, ', requirements=["pandas = 2"]'))
    assert "pinned.py" in problem
    assert "is not a PEP 508 requirement" in problem


def test_requirements_txt_next_to_the_dag_applies_when_it_declares_none(tmp_path: Path) -> None:
    text = """
        # pinned for the report
        PFDemo==1.0  # the demo package
        other \\
            >=2
    """
    (compiled,) = compile_path(_folder(tmp_path, requirements_txt=text))
    assert compiled.spec.requirements == ["other>=2", "pfdemo==1.0"]
    (own,) = compile_path(
        _folder(tmp_path / "own", ', requirements=["pfdemo==2.0"]', requirements_txt=text)
    )
    assert own.spec.requirements == ["pfdemo==2.0"]  # the DAG's own list wins


def test_a_bad_line_of_requirements_txt_is_located(tmp_path: Path) -> None:
    problems = _problems(_folder(tmp_path, requirements_txt="pfdemo==1.0\n--hash=sha256:00\n"))
    assert problems == [
        "requirements.txt:2: '--hash=sha256:00' is a pip option, not a requirement; give pip "
        "options to the installation (PINFLOW_PIP_ARGS), list only PEP 508 requirements"
    ]


def test_requirements_txt_lines_are_joined_and_comments_dropped() -> None:
    text = "# top\n\na==1 # pinned\nb \\\n  >=2\n#c==3\n"
    assert parse_requirements_text(text) == [(3, "a==1"), (4, "b    >=2")]


def test_declarative_specs_take_requirements(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(
        "dag_id: d\nrequirements: [PFDemo==1.0]\ntasks:\n  - task_id: t\n    kind: bash\n"
        "    bash_command: 'true'\n"
    )
    (compiled,) = compile_path(tmp_path / "d.yaml")
    assert compiled.spec.requirements == ["pfdemo==1.0"]


def test_airflow_dags_take_requirements_too(tmp_path: Path) -> None:
    (tmp_path / "af.py").write_text(
        textwrap.dedent(
            """
            from airflow.sdk import DAG
            from airflow.providers.standard.operators.bash import BashOperator

            with DAG("af", schedule=None, requirements=["PFDemo==1.0"]):
                BashOperator(task_id="t", bash_command="true")
            """
        )
    )
    (compiled,) = compile_path(tmp_path)
    assert compiled.spec.requirements == ["pfdemo==1.0"]


def test_the_version_diff_lists_requirements_entry_by_entry() -> None:
    diff = diff_specs(
        _spec(requirements=["pfdemo==1.0", "six"]), _spec(requirements=["pfdemo==2.0", "six"])
    )
    assert diff.requirements_added == ("pfdemo==2.0",)
    assert diff.requirements_removed == ("pfdemo==1.0",)
    assert diff.dag_changes == ()
    assert not diff.is_empty
