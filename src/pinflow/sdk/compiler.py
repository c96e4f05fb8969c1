"""``compile_path``: DAG files -> specs + one code bundle -> content-addressed artifacts.

PATH is a DAG file (``.py``, ``.yaml``, ``.yml``, ``.json``) or a folder. The bundle root is
the folder (or the file's folder): its top-level DAG files are compiled, the packages beside
them are importable from them, and all of it (minus hidden files, ``__pycache__`` and
bytecode) is zipped into the bundle that every DAG from the root shares.

A Python file contributes the DAGs built while it is imported: a ``@dag`` function must be
*called* (``etl_dag = etl()``), as in Airflow. Problems from every file are collected before
failing, each located as ``dags/etl.py:12``.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from pinflow.compat.importer import install_airflow_imports
from pinflow.errors import InvalidInputError, Problem, format_problems
from pinflow.sdk.bundle import make_bundle
from pinflow.sdk.dag import Collector, Dag, DagFunction, collecting
from pinflow.sdk.declarative import SPEC_SUFFIXES, load_spec_file
from pinflow.sdk.imports import display_path, exception_problem, in_bundle, isolated_imports
from pinflow.sdk.loader import resolve_callable
from pinflow.spec.canonical import snapshot_digest
from pinflow.spec.models import DagSpec
from pinflow.spec.requirements import (
    REQUIREMENTS_FILE,
    RequirementsError,
    normalize_requirement,
    normalize_requirements,
    parse_requirements_text,
)

DAG_FILE_SUFFIXES = (".py", *SPEC_SUFFIXES)


@dataclass(frozen=True)
class CompiledDag:
    """One DAG ready to push: spec, the bundle it runs from, and their digest.

    ``source_file`` is the defining file's path relative to the bundle root (``etl.py``).
    """

    spec: DagSpec
    bundle: bytes
    digest: str
    source_file: str


@dataclass(frozen=True)
class _Found:
    spec: DagSpec
    source_file: str
    where: str


def compile_path(path: str | Path) -> list[CompiledDag]:
    """Compile a DAG file or folder; raise ``InvalidInputError`` listing every problem."""
    target = Path(path).resolve()
    files = _dag_files(target)
    root = target if target.is_dir() else target.parent
    found, problems = _compile_files(root, files)
    problems += _duplicate_problems(found)
    file_requirements, requirement_problems = _requirements_file(root)
    problems += requirement_problems
    if not found and not problems:
        problems.append(
            Problem(
                display_path(root, target), "no DAG found (call @dag functions at module level)"
            )
        )
    if problems:
        problems = list(dict.fromkeys(problems))
        raise InvalidInputError(
            f"cannot compile {path}: {format_problems(problems)}", problems=problems
        )
    bundle = make_bundle(root)
    specs = [_with_requirements(f.spec, file_requirements) for f in found]
    return [
        CompiledDag(spec, bundle, snapshot_digest(spec, bundle), f.source_file)
        for spec, f in zip(specs, found, strict=True)
    ]


def _with_requirements(spec: DagSpec, from_file: list[str]) -> DagSpec:
    """A DAG's own ``requirements`` win; the bundle's ``requirements.txt`` is for the DAGs
    that declare none (ADR 0032)."""
    if spec.requirements or not from_file:
        return spec
    return spec.model_copy(update={"requirements": from_file})


def _requirements_file(root: Path) -> tuple[list[str], list[Problem]]:
    """The normalised requirements of ``requirements.txt`` at the bundle root (none: ``[]``),
    each problem located by its line."""
    path = root / REQUIREMENTS_FILE
    if not path.is_file():
        return [], []
    try:
        entries = parse_requirements_text(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(REQUIREMENTS_FILE, f"cannot read it: {exc}")]
    problems = []
    for line, entry in entries:
        try:
            normalize_requirement(entry)
        except RequirementsError as exc:
            problems.append(Problem(f"{REQUIREMENTS_FILE}:{line}", str(exc)))
    if problems:
        return [], problems
    try:
        return normalize_requirements(entry for _, entry in entries), []
    except RequirementsError as exc:
        return [], [Problem(REQUIREMENTS_FILE, str(exc))]


def _dag_files(target: Path) -> list[Path]:
    if not target.exists():
        raise InvalidInputError(
            f"{target} does not exist", problems=[Problem(str(target), "no such file or folder")]
        )
    if target.is_file():
        if target.suffix not in DAG_FILE_SUFFIXES:
            raise InvalidInputError(
                f"{target} is not a DAG file",
                problems=[Problem(str(target), f"expected one of {', '.join(DAG_FILE_SUFFIXES)}")],
            )
        return [target]
    return sorted(
        p
        for p in target.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix in DAG_FILE_SUFFIXES
    )


def _compile_files(root: Path, files: list[Path]) -> tuple[list[_Found], list[Problem]]:
    found: list[_Found] = []
    problems: list[Problem] = []
    install_airflow_imports()  # Airflow DAG files compile unmodified (docs/adr/0023)
    with isolated_imports(root), collecting(strict=True) as collector:
        for file in files:
            if file.suffix == ".py":
                start = len(collector.dags)
                problems += _import_dag_file(root, file, collector)
                found += [_found_dag(root, file, built) for built in collector.dags[start:]]
            else:
                specs, file_problems = load_spec_file(root, file)
                problems += file_problems
                source = file.relative_to(root).as_posix()
                found += [_Found(spec, source, display_path(root, file)) for spec in specs]
        problems += _callable_problems(root, found)
    return found, problems


def _import_dag_file(root: Path, file: Path, collector: Collector) -> list[Problem]:
    name = file.stem
    where = display_path(root, file)
    if not name.isidentifier():
        return [Problem(where, "the file name is not a module name (letters, digits and '_')")]
    if name in sys.stdlib_module_names:
        return [Problem(where, f"the file shadows the standard-library module {name!r}")]
    try:
        module = importlib.import_module(name)
    except (Exception, SystemExit) as exc:
        return [exception_problem(exc, root, file)]
    return _uncalled_dag_functions(root, module, collector)


def _uncalled_dag_functions(root: Path, module: ModuleType, collector: Collector) -> list[Problem]:
    problems = []
    for value in vars(module).values():
        if not isinstance(value, DagFunction) or collector.was_called(value):
            continue
        function = value.function
        if function.__module__ != module.__name__:
            continue
        code = function.__code__
        problems.append(
            Problem(
                display_path(root, code.co_filename, code.co_firstlineno),
                f"@dag function {function.__name__!r} is never called; add "
                f"`{function.__name__}()` at module level to register DAG {value.dag_id!r}",
            )
        )
    return problems


def _found_dag(root: Path, file: Path, built: Dag) -> _Found:
    if in_bundle(built.filename, root):
        source = Path(built.filename).resolve()
        where = display_path(root, source, built.line)
    else:
        source, where = file, display_path(root, file)
    return _Found(built.spec, source.relative_to(root).as_posix(), where)


def _callable_problems(root: Path, found: list[_Found]) -> list[Problem]:
    checked: dict[str, str | None] = {}
    problems = []
    for item in found:
        for task in item.spec.tasks:
            if task.kind != "python" or not task.callable:
                continue
            if task.callable not in checked:
                checked[task.callable] = _callable_problem(root, task.callable)
            message = checked[task.callable]
            if message:
                problems.append(Problem(item.where, f"task {task.task_id!r}: {message}"))
    return problems


# The Airflow layer's own sensors (``TimeDeltaSensor``...) run code that ships with Pinflow,
# which every worker has: not the bundle's (ADR 0036).
_SHIPPED = "pinflow.compat.airflow._sensors:"


def _callable_problem(root: Path, ref: str) -> str | None:
    """Why a worker could not import ``ref`` from the bundle, or ``None`` if it can."""
    try:
        resolve_callable(ref)
    except (Exception, SystemExit) as exc:
        return f"cannot load callable {ref!r}: {type(exc).__name__}: {exc}"
    if ref.startswith(_SHIPPED):
        return None
    module = sys.modules.get(ref.partition(":")[0])
    if not in_bundle(getattr(module, "__file__", None), root):
        return f"callable {ref!r} is not in the bundle; workers import task code only from it"
    return None


def _duplicate_problems(found: list[_Found]) -> list[Problem]:
    first: dict[str, _Found] = {}
    problems = []
    for item in found:
        earlier = first.setdefault(item.spec.dag_id, item)
        if earlier is not item:
            problems.append(
                Problem(
                    item.where, f"dag_id {item.spec.dag_id!r} is also defined at {earlier.where}"
                )
            )
    return problems
