"""``compile_path``: DAG files -> specs + each DAG's code bundle -> content-addressed artifacts.

PATH is a DAG file (``.py``, ``.yaml``, ``.yml``, ``.json``) or a folder. The bundle root is
the folder (or the file's folder): its top-level DAG files are compiled and the packages beside
them are importable from them. Each DAG's bundle holds only its inputs (``pinflow.sdk.inputs``,
ADR 0041): its DAG file, the bundle modules it imports, the files it reads while loading, the
files its spec names and those it declares (``bundle_files=``), never hidden files,
``__pycache__``, bytecode or what ``.pinflowignore`` names. So a change to one DAG's files (or
to a ``notes.txt``) makes no new version of the others.

A Python file contributes the DAGs built while it is imported: a ``@dag`` function must be
*called* (``etl_dag = etl()``), as in Airflow. Problems from every file are collected before
failing, each located as ``dags/etl.py:12``.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType

from pinflow.compat.importer import install_airflow_imports
from pinflow.errors import InvalidInputError, Problem, format_problems
from pinflow.sdk import inputs
from pinflow.sdk.bundle import bundle_files, zip_files
from pinflow.sdk.dag import Collector, Dag, DagFunction, collecting
from pinflow.sdk.dag_options import DECLARED_BUNDLE_FILES
from pinflow.sdk.declarative import SPEC_SUFFIXES, load_spec_file
from pinflow.sdk.imports import (
    display_path,
    exception_problem,
    forget_bundle_modules,
    in_bundle,
    isolated_imports,
    top_level_names,
)
from pinflow.sdk.loader import resolve_callable
from pinflow.spec.canonical import snapshot_digest, spec_to_json
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

    ``source_file`` is the defining file's path relative to the bundle root (``etl.py``);
    ``inputs`` the bundle's file names (what the digest covers besides the spec);
    ``warnings`` what the compiler saw that may fail at run time (a file a task names that is
    not among the inputs).
    """

    spec: DagSpec
    bundle: bytes
    digest: str
    source_file: str
    inputs: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Found:
    spec: DagSpec
    source_file: str
    where: str
    inputs: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()


def compile_path(path: str | Path) -> list[CompiledDag]:
    """Compile a DAG file or folder; raise ``InvalidInputError`` listing every problem."""
    target = Path(path).resolve()
    files = _dag_files(target)
    root = target if target.is_dir() else target.parent
    shipped = dict(bundle_files(root))
    found, problems = _compile_files(root, files, shipped)
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
    compiled = []
    for f in found:
        spec = _with_requirements(f.spec, file_requirements)
        bundle = zip_files(root, [(name, shipped[name]) for name in f.inputs])
        digest = snapshot_digest(spec, bundle)
        compiled.append(
            CompiledDag(spec, bundle, digest, f.source_file, tuple(sorted(f.inputs)), f.warnings)
        )
    return compiled


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


def _compile_files(
    root: Path, files: list[Path], shipped: dict[str, Path]
) -> tuple[list[_Found], list[Problem]]:
    """Each file is imported with the bundle's modules forgotten first, as in a fresh process,
    so what it imports and opens while loading (and while its callables are checked) is its
    DAGs' inputs."""
    found: list[_Found] = []
    problems: list[Problem] = []
    install_airflow_imports()  # Airflow DAG files compile unmodified (docs/adr/0023)
    others = {f.resolve() for f in files if f.suffix == ".py"}
    DECLARED_BUNDLE_FILES.clear()  # filled again as each DAG file is imported afresh
    with isolated_imports(root), collecting(strict=True) as collector:
        names = top_level_names(root)
        for file in files:
            forget_bundle_modules(root, names)
            with inputs.recording() as opened:
                items, file_problems = _load_file(root, file, collector, others)
                checks, named = _callable_problems(root, items, shipped)
            loaded = inputs.names_in(root, opened, shipped) | inputs.module_files(root, shipped)
            if file.suffix != ".py":
                loaded.discard(file.relative_to(root).as_posix())  # its content is the spec
            problems += file_problems + checks
            for item, by_code in zip(items, named, strict=True):
                done, declared_problems = _with_inputs(item, loaded, by_code, shipped)
                found.append(done)
                problems += declared_problems
    return found, problems


def _load_file(
    root: Path, file: Path, collector: Collector, others: set[Path]
) -> tuple[list[_Found], list[Problem]]:
    if file.suffix != ".py":
        specs, problems = load_spec_file(root, file)
        source = file.relative_to(root).as_posix()
        return [_Found(spec, source, display_path(root, file)) for spec in specs], problems
    start = len(collector.dags)
    problems = _import_dag_file(root, file, collector)
    own = file.resolve()
    built = [
        b
        for b in collector.dags[start:]
        # a DAG file imported by this one: its DAGs are found when it is compiled itself
        if Path(b.filename).resolve() == own or Path(b.filename).resolve() not in others
    ]
    return [_found_dag(root, file, b) for b in built], problems


def _with_inputs(
    item: _Found, loaded: set[str], by_code: set[str], shipped: dict[str, Path]
) -> tuple[_Found, list[Problem]]:
    """The item with its inputs, warnings, and the problems of its ``bundle_files=``."""
    patterns = DECLARED_BUNDLE_FILES.get(item.spec.dag_id, ())
    declared, empty = inputs.declared(patterns, shipped)
    named = inputs.named_in_spec(spec_to_json(item.spec), shipped)
    own = {item.source_file} if item.source_file.endswith(".py") else set()
    found = inputs.with_packages(loaded | declared | named | (own & shipped.keys()), shipped)
    warnings = tuple(
        f"dag {item.spec.dag_id!r}: a task names {name!r}, which is not among the DAG's inputs "
        f"and so not in its snapshot: if a task opens it at run time, declare it with "
        f"bundle_files=[{name!r}] on the DAG (or read it while the DAG file loads)"
        for name in sorted(by_code - found)
    )
    problems = [
        Problem(
            item.where,
            f"bundle_files pattern {pattern!r} matches no file in the bundle folder "
            "(paths are relative to it; hidden and .pinflowignore'd files are never shipped)",
        )
        for pattern in empty
    ]
    return _Found(item.spec, item.source_file, item.where, frozenset(found), warnings), problems


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


def _callable_problems(
    root: Path, found: list[_Found], shipped: Collection[str]
) -> tuple[list[Problem], list[set[str]]]:
    """Problems of the items' python callables, and for each item the bundle files its task
    functions name in their string constants (what they may open at run time)."""
    checked: dict[str, str | None] = {}
    problems = []
    named: list[set[str]] = []
    for item in found:
        names: set[str] = set()
        for task in item.spec.tasks:
            if task.kind != "python" or not task.callable:
                continue
            if task.callable not in checked:
                checked[task.callable] = _callable_problem(root, task.callable)
            message = checked[task.callable]
            if message:
                problems.append(Problem(item.where, f"task {task.task_id!r}: {message}"))
            else:
                names |= _named_by_callable(task.callable, shipped)
        named.append(names)
    return problems, named


def _named_by_callable(ref: str, shipped: Collection[str]) -> set[str]:
    """The files the task function names; the bundle modules it imports in its body are
    imported now (inside the recording), so they and their imports are inputs too."""
    code = getattr(resolve_callable(ref), "__code__", None)
    if code is None:
        return set()
    for name in sorted(inputs.imported_by_code(code)):
        if name.partition(".")[0] in _top_level_modules(shipped):
            with contextlib.suppress(Exception):  # the task would fail the same way
                importlib.import_module(name)
    return inputs.named_by_code(code, shipped)


def _top_level_modules(shipped: Collection[str]) -> set[str]:
    return {
        PurePosixPath(name).parts[0].removesuffix(".py") for name in shipped if name.endswith(".py")
    }


def _callable_problem(root: Path, ref: str) -> str | None:
    """Why a worker could not import ``ref`` from the bundle, or ``None`` if it can."""
    try:
        resolve_callable(ref)
    except (Exception, SystemExit) as exc:
        return f"cannot load callable {ref!r}: {type(exc).__name__}: {exc}"
    module_name = ref.partition(":")[0]
    if module_name.startswith("pinflow."):
        # Pinflow's own task code (a mapped classic operator's, the Airflow layer's sensors,
        # ADR 0036/0039): every worker has it, it is not the bundle's.
        return None
    module = sys.modules.get(module_name)
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
