"""``pinflow dev PATH``: the hot-reload loop. Each save compiles PATH and pushes its DAGs in
``dev`` mode: the DAG's dev draft moves to the new snapshot and becomes the current version,
so "fix the DAG, clear the failed task, watch it pass" works from the terminal."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from rich.markup import escape

from pinflow.cli.common import client, client_options, err, print_problems
from pinflow.cli.shipping import push_compiled
from pinflow.client import ClientError, PinflowClient
from pinflow.errors import InvalidInputError

NO_IMPORT_ERRORS = (
    "(shown here only: the server has no endpoint that records import errors from dev mode)"
)


def _stamp() -> str:
    return f"[dim]{datetime.now().strftime('%H:%M:%S')}[/]"


def sync(api: PinflowClient, path: Path) -> bool:
    """Compile and push once; report the outcome. Returns whether everything was pushed."""
    from pinflow.sdk.compiler import compile_path
    from pinflow.spec.validation import check_spec

    try:
        compiled = compile_path(path)
    except InvalidInputError as exc:
        listed = [{"location": p.location, "message": p.message} for p in exc.problems]
        err.print(f"{_stamp()} [red]compile failed[/] {NO_IMPORT_ERRORS}")
        print_problems(
            f"{len(listed) or 1} problem(s) in {path}", listed or [{"message": exc.message}]
        )
        return False
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
    Compile errors are shown here and nothing is pushed until they are fixed. Ctrl-C stops.

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
        sync(api, path)
        try:
            for _changes in watchfiles.watch(root, debounce=200, raise_interrupt=True):
                sync(api, path)
        except KeyboardInterrupt:
            err.print("Stopped watching.")
