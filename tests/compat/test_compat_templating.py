"""Airflow's context, templates and callbacks, per construct: what the compiler puts in the
spec for the task process (``_runner``), and what the runner does with it in-process (no
database: reads over the channel are not made, or fail as outside a try)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2.exceptions
import pytest
from tests.compat.context_dag_files import CALLBACKS, CONTEXT_AND_XCOM
from tests.compat.test_compat_compile import compile_one, problems_of

from pinflow.compat.airflow import _macros as macros
from pinflow.compat.airflow._context import build_context, get_current_context
from pinflow.compat.airflow._options import EXTRAS
from pinflow.compat.airflow._resources import Variable
from pinflow.compat.airflow._runner import RUNNER, run
from pinflow.compat.airflow._templating import environment, render, render_template_fields
from pinflow.sdk.context import RUNNER_ARG, NoTaskContext, TaskContext, TaskInvocation, running
from pinflow.sdk.task_api import TaskApiUnavailable
from pinflow.spec.models import DagSpec, TaskSpec

CONTEXT = TaskContext(
    dag_id="etl",
    run_id="r1",
    task_id="t",
    map_index=-1,
    try_number=1,
    max_tries=0,
    logical_date="2024-03-01T00:00:00+00:00",
    data_interval_start="2024-03-01T00:00:00+00:00",
    data_interval_end="2024-03-02T00:00:00+00:00",
    params={"n": 2, "name": "x"},
)


def tasks_of(spec: DagSpec) -> dict[str, TaskSpec]:
    return {t.task_id: t for t in spec.tasks}


# --- what the compiler writes -----------------------------------------------------------------


def test_tasks_that_need_the_context_or_templates_name_the_runner(tmp_path: Path) -> None:
    tasks = tasks_of(compile_one(tmp_path, CONTEXT_AND_XCOM, "context_xcom"))
    assert tasks["push"].args == {RUNNER_ARG: RUNNER, EXTRAS: {"context": True}}
    assert tasks["pull"].args[EXTRAS]["templates_dict"]["week_later"] == (
        "{{ macros.ds_add(ds, 7) }}"
    )
    assert tasks["echo"].kind == "bash"
    assert tasks["echo"].bash_command is not None
    assert "{{ ds_nodash }}" in tasks["echo"].bash_command
    assert tasks["echo"].args[EXTRAS]["bash"]["env"] == {"WHO": "{{ var.value.bucket }}"}
    assert tasks["flow"].args == {
        "day": "{{ ds }}/{{ ti.task_id }}",
        RUNNER_ARG: RUNNER,
        EXTRAS: {"context": True, "templated": ["day"]},
    }


def test_a_task_without_context_templates_or_callbacks_keeps_its_plain_spec(
    tmp_path: Path,
) -> None:
    source = """
    from airflow.sdk import DAG, task
    from airflow.providers.standard.operators.bash import BashOperator

    with DAG("plain", schedule=None):
        @task
        def add(x, params=None, ds=None):
            return x + 1
        add(1) >> BashOperator(task_id="b", bash_command="echo $PINFLOW_RUN_ID")
    """
    tasks = tasks_of(compile_one(tmp_path, source, "plain_dag"))
    assert tasks["add"].args == {"x": 1}
    assert tasks["b"].args == {}
    assert tasks["b"].bash_command == "echo $PINFLOW_RUN_ID"


def test_callbacks_become_references_and_default_args_ones_reach_every_task(
    tmp_path: Path,
) -> None:
    tasks = tasks_of(compile_one(tmp_path, CALLBACKS, "callbacks_dag"))
    assert tasks["flaky"].args[EXTRAS]["callbacks"] == {
        "on_failure_callback": ["callbacks_dag:on_failure"],
        "on_retry_callback": ["callbacks_dag:on_retry"],
        "on_success_callback": ["callbacks_dag:on_success"],
    }
    assert tasks["doomed"].args[EXTRAS]["callbacks"] == {
        "on_failure_callback": ["callbacks_dag:on_failure"]
    }
    assert tasks["skipper"].args[RUNNER_ARG] == RUNNER


def test_render_template_as_native_obj_is_kept_for_the_tasks(tmp_path: Path) -> None:
    source = """
    from airflow.sdk import DAG, task

    with DAG("native", schedule=None, render_template_as_native_obj=True):
        @task
        def total(values):
            return sum(values)
        total("{{ [1, 2, params.n] }}")
    """
    (total,) = compile_one(tmp_path, source, "native_dag").tasks
    assert total.args[EXTRAS] == {"templated": ["values"], "native": True}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "    BashOperator(task_id='t', bash_command='run.sh', env={'X': '{{ ds }}'})",
            "a bash_command ending in .sh/.bash names a template file in Airflow",
        ),
        (
            "    def make():\n        def f(c):\n            pass\n        return f\n"
            "    BashOperator(task_id='t', bash_command='true', on_success_callback=make())",
            "on_success_callback=<function make.<locals>.f at ",
        ),
        (
            "    BashOperator(task_id='t', bash_command='true', default_args={})",
            "default_args={} cannot be honoured",
        ),
        (
            "    @task.bash(on_success_callback=print)\n    def b():\n        return 'echo'\n"
            "    b()",
            "callbacks are supported on @task functions, operators and the DAG's default_args",
        ),
    ],
    ids=["script-file-with-env", "local-callback", "operator-default-args", "bash-callback"],
)
def test_what_cannot_run_in_the_task_process_is_a_problem(
    tmp_path: Path, body: str, expected: str
) -> None:
    source = (
        "from airflow.sdk import DAG, task\n"
        "from airflow.providers.standard.operators.bash import BashOperator\n\n"
        f'with DAG("d", schedule=None):\n{body}\n'
    )
    [problem] = problems_of(tmp_path, source)
    assert expected in problem


# --- what the task process does ---------------------------------------------------------------


def test_the_context_has_airflows_keys_and_date_strings() -> None:
    context = build_context(CONTEXT, {})
    assert {k: context[k] for k in ("ds", "ds_nodash", "ts", "ts_nodash")} == {
        "ds": "2024-03-01",
        "ds_nodash": "20240301",
        "ts": "2024-03-01T00:00:00+00:00",
        "ts_nodash": "20240301T000000",
    }
    assert context["ts_nodash_with_tz"] == "20240301T000000+0000"
    assert context["task_instance_key_str"] == "etl__t__20240301"
    assert context["ti"] is context["task_instance"]
    assert (context["dag_run"].run_id, context["dag"].dag_id) == ("r1", "etl")
    assert context["data_interval_end"].isoformat() == "2024-03-02T00:00:00+00:00"
    no_date = build_context(TaskContext("etl", "r1", "t", -1, 1), {})
    assert no_date["ds"] is None
    assert no_date["logical_date"] is None


def test_macros_move_and_reformat_dates() -> None:
    assert macros.ds_add("2015-01-01", 5) == "2015-01-06"
    assert macros.ds_add("2015-01-06", -5) == "2015-01-01"
    assert macros.ds_format("2015-01-01", "%Y-%m-%d", "%m-%d-%y") == "01-01-15"


def test_templates_render_with_the_context_loops_and_params() -> None:
    context = build_context(CONTEXT, {})
    text = environment()
    assert render("{{ macros.ds_add(ds, 7) }}", context, text) == "2024-03-08"
    assert render("{% for i in range(2) %}{{ i }};{% endfor %}", context, text) == "0;1;"
    assert render({"a": ["{{ params.name }}", 3]}, context, text) == {"a": ["x", 3]}
    assert render("{{ params.n * 2 }}", context, text) == "4"
    assert render("{{ params.n * 2 }}", context, environment(native=True)) == 4


def test_a_misspelt_name_fails_and_the_sandbox_keeps_python_internals_out() -> None:
    context = build_context(CONTEXT, {})
    with pytest.raises(jinja2.exceptions.UndefinedError, match="'dss' is undefined"):
        render("{{ dss }}", context, environment())
    with pytest.raises(jinja2.exceptions.SecurityError):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", context, environment())


def test_the_runner_passes_the_context_and_rendered_arguments() -> None:
    seen: dict[str, Any] = {}

    def task(day: str, ti: Any = None, **context: Any) -> str:
        seen.update(ti=ti.task_id, current=get_current_context()["run_id"], keys=set(context))
        return day

    invocation = TaskInvocation(
        context=CONTEXT,
        kind="python",
        args={EXTRAS: {"templated": ["day"], "context": True}},
        function=task,
        kwargs={"day": "{{ ds_nodash }}", EXTRAS: {}},
    )
    with running(CONTEXT):
        assert run(invocation) == "20240301"
    assert seen["ti"] == "t"
    assert seen["current"] == "r1"
    assert {"ds", "dag_run", "macros", "var", "conn", "params"} <= seen["keys"]
    assert "ti" not in seen["keys"]  # a named parameter took it


def test_render_template_fields_renders_an_operators_fields_in_place() -> None:
    class Operator:
        template_fields = ("sql", "parameters")
        sql = "select * from t where day = '{{ ds }}'"
        parameters = {"limit": "{{ params.n }}"}

    task = Operator()
    rendered = render_template_fields(task, build_context(CONTEXT, {}))
    assert task.sql == "select * from t where day = '2024-03-01'"
    assert rendered == {"sql": task.sql, "parameters": {"limit": "2"}}


def test_outside_a_running_task_the_context_and_variables_say_so() -> None:
    with pytest.raises(NoTaskContext, match="there is no running task here"):
        get_current_context()
    with pytest.raises(TaskApiUnavailable, match="not a running try"):
        Variable.get("bucket", default_var="x")
