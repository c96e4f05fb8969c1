"""Bash tasks: the last line a command prints becomes its XCom, as in Airflow."""

from __future__ import annotations

from pinflow import chain, dag, task


@dag(dag_id="example_bash", name="Example: bash tasks", tags=["example"])
def example_bash() -> None:
    hello = task.bash(task_id="hello", bash_command="echo hello from $(hostname)")
    stage = task.bash(
        task_id="stage", bash_command='echo "staged" > "$PINFLOW_STAGING_DIR/stage.txt" && echo ok'
    )
    check = task.bash(task_id="check", bash_command='cat "$PINFLOW_STAGING_DIR/stage.txt"')
    chain(hello, stage, check)


example_bash()
