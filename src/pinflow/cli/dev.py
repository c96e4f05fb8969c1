"""``pinflow dev PATH``: the hot-reload loop. Each save compiles PATH and pushes its DAGs in
``dev`` mode: the DAG's dev draft moves to the new snapshot and becomes the current version,
so "fix the DAG, clear the failed task, watch it pass" works from the terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import click
from rich.markup import escape

from pinflow.cli.common import client, client_options, err, print_problems
from pinflow.cli.shipping import push_compiled
from pinflow.client import ClientError, PinflowClient
from pinflow.errors import InvalidInputError
from pinflow.spec.models import DagSpec


def _stamp() -> str:
    return f"[dim]{datetime.now().strftime('%H:%M:%S')}[/]"


def _file_of(location: str) -> str:
    """``dags/etl.py:12`` -> ``dags/etl.py`` (a problem's location, without its line)."""
    head, sep, tail = location.rpartition(":")
    return head if sep and tail.isdigit() else location


def _errors_by_file(path: Path, exc: InvalidInputError) -> dict[str, str]:
    """Each broken file (as the problems name it) and its full message."""
    by_file: dict[str, list[str]] = {}
    for p in exc.problems:
        by_file.setdefault(_file_of(p.location) or str(path), []).append(str(p))
    if not by_file:
        by_file[str(path)] = [exc.message]
    return {f: "\n".join(lines) for f, lines in by_file.items()}


@dataclass
class Watched:
    """What ``pinflow dev`` remembers across saves: the files reported as broken, and the
    project and DAG of each file that compiled (an import error is its project's, ADR 0017;
    a file that never compiled is reported in the default project)."""

    reported: set[str] = field(default_factory=set)
    owners: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def owner(self, filename: str) -> tuple[str, str | None]:
        return self.owners.get(filename, (DEFAULT_PROJECT, None))


DEFAULT_PROJECT: str = DagSpec.model_fields["project"].default


def _tell_server(
    api: PinflowClient, path: Path, errors: dict[str, str], fine: set[str], watched: Watched
) -> None:
    """Report each broken file and clear each one that compiles now; a refusal only warns."""
    try:
        for filename, message in errors.items():
            project, dag_id = watched.owner(filename)
            api.report_import_error(
                filename, message, bundle_name=str(path), project=project, dag_id=dag_id
            )
        for filename in sorted(fine - set(errors)):
            project, dag_id = watched.owner(filename)
            api.clear_import_error(filename, project=project, dag_id=dag_id)
    except ClientError as exc:
        err.print(f"{_stamp()} [yellow]import errors not updated on the server[/]")
        print_problems(exc.message, exc.problems, exc.hint)


def sync(api: PinflowClient, path: Path, watched: Watched | None = None) -> bool:
    """Compile and push once; report the outcome. Returns whether everything was pushed.

    Compile errors also go to the server as import errors, one per file; ``watched`` holds
    the files reported so far (across calls), which are cleared once they compile.
    """
    from pinflow.sdk.compiler import compile_path
    from pinflow.spec.validation import check_spec

    watched = Watched() if watched is None else watched
    reported = watched.reported
    root = (path if path.is_dir() else path.parent).resolve()
    try:
        compiled = compile_path(path)
    except InvalidInputError as exc:
        listed = [{"location": p.location, "message": p.message} for p in exc.problems]
        err.print(f"{_stamp()} [red]compile failed[/] (reported to the server as import errors)")
        print_problems(
            f"{len(listed) or 1} problem(s) in {path}", listed or [{"message": exc.message}]
        )
        errors = _errors_by_file(path, exc)
        _tell_server(api, path, errors, set(reported), watched)
        reported.clear()
        reported.update(errors)
        return False
    compiled_files = {f"{root.name}/{item.source_file}" for item in compiled}
    for item in compiled:
        watched.owners[f"{root.name}/{item.source_file}"] = (item.spec.project, item.spec.dag_id)
    _tell_server(api, path, {}, reported | compiled_files, watched)
    reported.clear()
    for item in compiled:
        for problem in check_spec(item.spec):
            where = f"{item.source_file} ({item.spec.dag_id})"
            err.print(f"{_stamp()} [yellow]warning[/] {escape(where)}: {escape(str(problem))}")
    try:
        pushed = push_compiled(api, compiled, mode="dev")
    except ClientError as exc:
        err.print(f"{_stamp()} [red]push failed[/]")
        print_problems(exc.message, exc.problems, exc.hint)
        return False
    for done in pushed:
        err.print(f"{_stamp()} {done.line}")
    return True


@click.command("dev")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@client_options
def dev(path: Path) -> None:
    """Watch PATH and push every save as the DAG's dev snapshot (hot reload).

    Each save compiles PATH (a DAG file or folder); the DAG's dev draft moves to the new
    snapshot and becomes current, so new runs and cleared tasks run the code you just saved.
    Compile errors are shown here and on the server (Airflow's import errors, in the API and
    the UI) and nothing is pushed until they are fixed; the next good save clears them.
    Ctrl-C stops.

    \b
    Example (fix the DAG, clear the failed task, watch it pass):
      pinflow dev dags/my_dag.py                          # terminal 1
      pinflow dags trigger my_dag --wait                  # terminal 2: a task fails
      # ...fix the code and save: terminal 1 shows the new snapshot
      pinflow tasks clear my_dag <run_id> <task> --wait   # re-runs on the fix
    """
    import watchfiles

    root = path if path.is_dir() else path.parent
    with client() as api:
        err.print(f"Watching {root} (pushing to {api.url}); Ctrl-C stops.")
        watched = Watched()
        sync(api, path, watched)
        try:
            for _changes in watchfiles.watch(root, debounce=200, raise_interrupt=True):
                sync(api, path, watched)
        except KeyboardInterrupt:
            err.print("Stopped watching.")
