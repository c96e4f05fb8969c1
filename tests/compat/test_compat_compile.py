"""Airflow 3 DAG files compiled by the normal compiler: the task ids, dependencies and
options Airflow would give, and a problem at file:line for what Pinflow cannot honour."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.compat.dag_files import (
    EXAMPLE_BASH_OPERATOR,
    EXAMPLE_BASH_OPERATOR_UNMODIFIED,
    EXAMPLE_TASK_GROUP,
    EXAMPLE_TASK_GROUP_DECORATOR,
    PYTHON_OPERATOR,
    TASKFLOW,
    TUTORIAL,
)

from pinflow.errors import InvalidInputError
from pinflow.sdk.compiler import compile_path
from pinflow.sdk.loader import resolve_callable
from pinflow.spec.models import DagSpec, TaskSpec, TriggerRule, XComRef


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).write_text(textwrap.dedent(source))
    return folder


def compile_one(tmp_path: Path, source: str, name: str = "airflow_dag") -> DagSpec:
    folder = write(tmp_path / "dags", {f"{name}.py": source})
    (compiled,) = compile_path(folder)
    return compiled.spec


def problems_of(tmp_path: Path, source: str, name: str = "airflow_dag") -> list[str]:
    folder = write(tmp_path / "dags", {f"{name}.py": source})
    with pytest.raises(InvalidInputError) as caught:
        compile_path(folder)
    return [str(problem) for problem in caught.value.problems]


def tasks_of(spec: DagSpec) -> dict[str, TaskSpec]:
    return {t.task_id: t for t in spec.tasks}


def edges(spec: DagSpec) -> set[tuple[str, str]]:
    return {(up, t.task_id) for t in spec.tasks for up in t.upstream_task_ids}


def test_the_tutorial_compiles_with_airflows_ids_edges_and_defaults(tmp_path: Path) -> None:
    spec = compile_one(tmp_path, TUTORIAL)
    assert spec.dag_id == "tutorial"
    # ``dag.doc_md = __doc__`` follows the description, as both are shown on the DAG's page.
    assert spec.description is not None
    assert spec.description.startswith("A simple tutorial DAG\n\n### Tutorial Documentation")
    assert spec.tags == ["example"]
    assert spec.trigger.schedule == "@daily"  # timedelta(days=1) from a midnight start_date
    assert spec.trigger.catchup is False
    assert (spec.default_args.retries, spec.default_args.retry_delay) == (1, 300.0)
    tasks = tasks_of(spec)
    assert list(tasks) == ["print_date", "sleep", "templated"]
    assert edges(spec) == {("print_date", "sleep"), ("print_date", "templated")}
    assert tasks["sleep"].retries == 3
    assert tasks["print_date"].retries is None  # the DAG's default_args apply
    assert tasks["print_date"].bash_command == "date +%Y"


def test_taskflow_tasks_defined_inside_the_dag_function_resolve_for_workers(
    tmp_path: Path,
) -> None:
    spec = compile_one(tmp_path, TASKFLOW, name="taskflow")
    tasks = tasks_of(spec)
    assert list(tasks) == ["extract", "transform", "load"]
    assert tasks["transform"].inputs == {"order_data_dict": XComRef(task_id="extract")}
    # order_summary["total_order_value"]: bound to the dict, the key read by the wrapper.
    assert tasks["load"].inputs == {"total_order_value": XComRef(task_id="transform")}
    selected = {"__airflow_output_keys__": {"total_order_value": "total_order_value"}}
    assert tasks["load"].args == selected
    assert tasks["extract"].callable == "taskflow:tutorial_taskflow_api.local_tasks.extract"
    assert spec.trigger.start_date is not None
    assert spec.trigger.timezone == "UTC"
    sys.path.insert(0, str(tmp_path / "dags"))
    try:
        extract = resolve_callable(tasks["extract"].callable or "")
        transform = resolve_callable(tasks["transform"].callable or "")
    finally:
        sys.path.remove(str(tmp_path / "dags"))
        sys.modules.pop("taskflow", None)
    assert transform(extract()) == {"total_order_value": pytest.approx(1236.7)}


def test_example_bash_operator_loop_edges_and_empty_operator(tmp_path: Path) -> None:
    spec = compile_one(tmp_path, EXAMPLE_BASH_OPERATOR)
    assert spec.trigger.schedule == "0 0 * * *"
    assert set(spec.params) == {"example_key"}
    assert edges(spec) == {
        ("run_after_loop", "run_this_last"),
        ("runme_0", "run_after_loop"),
        ("runme_1", "run_after_loop"),
        ("runme_2", "run_after_loop"),
        ("also_run_this", "run_this_last"),
        ("this_will_skip", "run_this_last"),
    }
    assert tasks_of(spec)["run_this_last"].kind == "bash"


def test_task_groups_prefix_ids_and_edges_to_a_group_reach_its_roots_and_leaves(
    tmp_path: Path,
) -> None:
    spec = compile_one(tmp_path, EXAMPLE_TASK_GROUP)
    assert [t.task_id for t in spec.tasks] == [
        "start",
        "section_1.task_1",
        "section_1.task_2",
        "section_1.task_3",
        "section_2.task_1",
        "section_2.inner_section_2.task_2",
        "section_2.inner_section_2.task_3",
        "section_2.inner_section_2.task_4",
        "end",
    ]
    inner = "section_2.inner_section_2"
    assert edges(spec) == {
        ("start", "section_1.task_1"),
        ("section_1.task_1", "section_1.task_2"),
        ("section_1.task_1", "section_1.task_3"),
        *{
            (leaf, root)
            for leaf in ("section_1.task_2", "section_1.task_3")
            for root in ("section_2.task_1", f"{inner}.task_2", f"{inner}.task_3")
        },
        (f"{inner}.task_2", f"{inner}.task_4"),
        (f"{inner}.task_3", f"{inner}.task_4"),
        ("section_2.task_1", "end"),
        (f"{inner}.task_4", "end"),
    }


def test_a_task_group_function_called_again_gets_a_suffixed_group_id(tmp_path: Path) -> None:
    spec = compile_one(tmp_path, EXAMPLE_TASK_GROUP_DECORATOR)
    groups = ["task_group_function", "task_group_function__1", "task_group_function__2"]
    assert [t.task_id for t in spec.tasks][:5] == [
        "task_start",
        "task_end",
        "task_group_function.task_1",
        "task_group_function.task_2",
        "task_group_function.task_3",
    ]
    assert tasks_of(spec)["task_group_function__2.task_1"].args == {"value": 2}
    assert {(up, down) for up, down in edges(spec) if up == "task_start"} == {
        ("task_start", f"{g}.task_1") for g in groups
    }
    assert {(up, down) for up, down in edges(spec) if down == "task_end"} == {
        (f"{g}.task_3", "task_end") for g in groups
    }


def test_group_default_args_apply_to_its_tasks_unless_they_set_their_own(
    tmp_path: Path,
) -> None:
    spec = compile_one(
        tmp_path,
        """
        from airflow.sdk import DAG, TaskGroup, task
        from airflow.providers.standard.operators.empty import EmptyOperator

        with DAG("grouped", schedule=None):
            with TaskGroup("g", default_args={"retries": 4, "pool": "slow"}):
                EmptyOperator(task_id="a")
                EmptyOperator(task_id="b", retries=1)

                @task
                def c():
                    return 1

                c()

                @task.bash
                def say():
                    return "echo hi"

                @task
                def numbers():
                    return [1, 2]

                @task
                def double(x):
                    return 2 * x

                say()
                double.expand(x=numbers())
            with TaskGroup("flat", prefix_group_id=False):
                EmptyOperator(task_id="d")
        """,
    )
    tasks = tasks_of(spec)
    assert (tasks["g.say"].kind, tasks["g.say"].bash_command) == ("bash", "echo hi")
    assert tasks["g.double"].expand == {"x": XComRef(task_id="g.numbers")}
    assert (tasks["g.a"].retries, tasks["g.a"].pool) == (4, "slow")
    assert (tasks["g.b"].retries, tasks["g.b"].pool) == (1, "slow")
    assert tasks["g.c"].retries == 4
    assert "d" in tasks


def test_python_operator_binds_op_args_and_op_kwargs_to_the_callable(tmp_path: Path) -> None:
    spec = compile_one(tmp_path, PYTHON_OPERATOR)
    tasks = tasks_of(spec)
    assert tasks["multiply"].callable == "airflow_dag:multiply"
    assert tasks["multiply"].args == {"a": 6, "b": 7, "factor": 2}
    assert tasks["report"].inputs == {"value": XComRef(task_id="multiply")}
    assert tasks["cleanup"].trigger_rule == TriggerRule.ALL_DONE
    assert edges(spec) == {
        ("multiply", "report"),
        ("report", "skip_me"),
        ("report", "fail_me"),
        ("skip_me", "cleanup"),
        ("fail_me", "cleanup"),
        ("skip_me", "after_skip"),  # through Label(...)
    }


def test_airflow_2_spellings_and_the_explicit_import_compile_alike(tmp_path: Path) -> None:
    airflow2 = """
        from datetime import datetime

        from airflow.decorators import dag, task
        from airflow.models.baseoperator import cross_downstream
        from airflow.operators.bash import BashOperator
        from airflow.operators.empty import EmptyOperator


        @dag(dag_id="two", start_date=datetime(2024, 1, 1), schedule="@hourly")
        def two():
            a = BashOperator(task_id="a", bash_command="echo a")
            b = EmptyOperator(task_id="b")
            c = EmptyOperator(task_id="c")
            d = EmptyOperator(task_id="d")
            cross_downstream([a, b], [c, d])


        two()
    """
    explicit = """
        from pinflow.compat.airflow.sdk import DAG
        from pinflow.compat.airflow.providers.standard.operators.empty import EmptyOperator

        with DAG("explicit", schedule=None):
            EmptyOperator(task_id="a") << EmptyOperator(task_id="b")
    """
    folder = write(tmp_path / "dags", {"two.py": airflow2, "explicit.py": explicit})
    specs = {c.spec.dag_id: c.spec for c in compile_path(folder)}
    assert edges(specs["two"]) == {("a", "c"), ("a", "d"), ("b", "c"), ("b", "d")}
    assert specs["two"].trigger.schedule == "@hourly"
    assert edges(specs["explicit"]) == {("b", "a")}


def test_a_start_dates_time_zone_becomes_the_dags(tmp_path: Path) -> None:
    spec = compile_one(
        tmp_path,
        """
        import pendulum
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.empty import EmptyOperator

        with DAG(
            "paris",
            schedule=pendulum.duration(hours=6),
            start_date=pendulum.datetime(2024, 3, 1, tz="Europe/Paris"),
        ):
            EmptyOperator(task_id="noop")
        """,
    )
    assert spec.trigger.timezone == "Europe/Paris"
    assert spec.trigger.schedule == "0 */6 * * *"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from airflow.sdk import DAG, AssetAlias\n",
            "dags/airflow_dag.py:1: UnsupportedAirflowName: airflow.sdk.AssetAlias is not "
            "supported by Pinflow's Airflow compatibility layer; use Asset objects named in the "
            "task's outlets and the DAG's schedule instead (see docs/migrating-from-airflow.md)",
        ),
        (
            "import os\nfrom airflow.sensors.bash import BashSensor\n",
            "dags/airflow_dag.py:2: UnsupportedAirflowModule: module 'airflow.sensors.bash' is not "
            "supported by Pinflow's Airflow compatibility layer (supported: airflow, ",
        ),
        (
            "from airflow.sdk import task\n\n@task.virtualenv\ndef ready():\n    return True\n",
            "dags/airflow_dag.py:3: UnsupportedArgument: @task.virtualenv is not supported; "
            "install the packages on the workers and use @task",
        ),
    ],
    ids=["unknown-name", "unknown-module", "task-virtualenv"],
)
def test_an_unsupported_construct_is_a_problem_at_its_line(
    tmp_path: Path, source: str, expected: str
) -> None:
    [problem] = problems_of(tmp_path, source)
    assert problem.startswith(expected)


def test_the_unmodified_example_bash_operator_keeps_its_dagrun_timeout(tmp_path: Path) -> None:
    spec = compile_one(tmp_path, EXAMPLE_BASH_OPERATOR_UNMODIFIED)
    assert spec.dagrun_timeout == 3600.0


def test_depends_on_past_and_wait_for_downstream(tmp_path: Path) -> None:
    source = (
        "from datetime import timedelta\n"
        "from airflow.sdk import DAG\n"
        "from airflow.providers.standard.operators.bash import BashOperator\n\n"
        "with DAG('d', schedule=None, default_args={'depends_on_past': True}):\n"
        "    BashOperator(task_id='a', bash_command='true')\n"
        "    BashOperator(task_id='b', bash_command='true', depends_on_past=False)\n"
    )
    spec = compile_one(tmp_path, source)
    assert spec.default_args.depends_on_past is True
    assert [spec.depends_on_past(t) for t in spec.tasks] == [True, False]
    [problem] = problems_of(
        tmp_path,
        source.replace("depends_on_past=False", "wait_for_downstream=True"),
        name="waits",
    )
    assert "wait_for_downstream=True cannot be honoured: not supported yet" in problem


DAG_HEAD = """
from airflow.sdk import DAG, BaseOperator, dag, task
from airflow.providers.standard.operators.bash import BashOperator

with DAG("d", schedule=None):
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "    BashOperator(task_id='t', bash_command='true', on_failure_callback=lambda c: 1)",
            "UnsupportedArgument: BashOperator 't': on_failure_callback=<function <lambda> at ",
        ),
        (
            "    BashOperator(task_id='t', bash_command='scripts/run.sh')",
            "a bash_command ending in .sh/.bash names a template file in Airflow",
        ),
        (
            "    BashOperator(task_id='t', bash_command='true', priority_weight=5)",
            "UnsupportedArgument: BashOperator 't': priority_weight=5 cannot be honoured: "
            "Pinflow does not order ready tasks by priority",
        ),
        (
            "    BashOperator(task_id='t', bash_command='true', email_on_failure=True)",
            "email_on_failure=True cannot be honoured: e-mail is not sent by Pinflow",
        ),
        (
            "    class Mine(BaseOperator):\n        pass\n    Mine(task_id='mine')",
            "UnsupportedArgument: Mine 'mine': a BaseOperator subclass must define "
            "execute(self, context), or write the task as a @task function",
        ),
        (
            "    @task\n    def t():\n        return [1]\n    @task\n    def u(x):\n"
            "        return x\n    u(t()[0])",
            "ValueError: XComArg only supports str lookup, received int",
        ),
        (
            "    @task(multiple_outputs=True)\n    def t():\n        return {'k': [1]}\n"
            "    @task\n    def u(x):\n        return x\n    u.expand(x=t()['k'])",
            "UnsupportedArgument: output of task 't'['k'] can be a task argument, not a "
            "partial()/expand() argument, yet",
        ),
        (
            "    pass\n@dag(schedule=None, on_failure_callback=lambda context: 1)\n"
            "def cb():\n    pass",
            "UnsupportedArgument: @dag 'cb': on_failure_callback=<function <lambda> at ",
        ),
        (
            "    pass\n@dag(schedule=None)\ndef with_params(value: int = 1):\n    pass",
            "UnsupportedArgument: @dag 'with_params': parameters of a @dag function are DAG "
            "params in Airflow, which is not supported yet",
        ),
        (
            "    from airflow.providers.standard.operators.empty import EmptyOperator\n"
            "    EmptyOperator.partial(task_id='t').expand(doc=['a', 'b'])",
            "UnsupportedArgument: EmptyOperator.partial().expand() is not supported yet",
        ),
        (
            "    @task\n    def t():\n        return 1\n    t.override(task_id='u', sla=5)()",
            "sla=5 cannot be honoured: SLAs are not supported; use execution_timeout",
        ),
    ],
    ids=[
        "callback-lambda",
        "script-file",
        "priority-weight",
        "email",
        "custom-operator",
        "index-by-int",
        "index-in-expand",
        "dag-callback",
        "dag-params",
        "operator-expand",
        "override",
    ],
)
def test_unsupported_arguments_are_problems_naming_them(
    tmp_path: Path, body: str, expected: str
) -> None:
    [problem] = problems_of(tmp_path, DAG_HEAD + body + "\n")
    assert problem.startswith("dags/airflow_dag.py:"), problem
    assert expected in problem


def test_a_schedule_timedelta_that_fits_no_cron_expression_is_a_problem(tmp_path: Path) -> None:
    [problem] = problems_of(
        tmp_path,
        """
        from datetime import datetime, timedelta
        from airflow.sdk import DAG

        with DAG("d", schedule=timedelta(minutes=7), start_date=datetime(2024, 1, 1)):
            pass
        """,
    )
    assert "schedule=datetime.timedelta(seconds=420) does not line up with a cron" in problem


def test_a_task_function_defined_again_in_a_dag_body_gets_its_own_reference(
    tmp_path: Path,
) -> None:
    spec = compile_one(
        tmp_path,
        """
        from airflow.sdk import dag, task

        @dag(schedule=None)
        def looped():
            def group(n):
                @task(task_id=f"step_{n}")
                def step(m=n):
                    return m
                return step()

            group(1) >> group(2)

        looped()
        """,
        name="looped_dag",
    )
    tasks = tasks_of(spec)
    assert tasks["step_1"].callable == "looped_dag:looped.local_tasks.group.step"
    assert tasks["step_2"].callable == "looped_dag:looped.local_tasks.group.step__1"
    assert edges(spec) == {("step_1", "step_2")}
    sys.path.insert(0, str(tmp_path / "dags"))
    try:
        assert resolve_callable(tasks["step_2"].callable or "")() == 2
    finally:
        sys.path.remove(str(tmp_path / "dags"))
        sys.modules.pop("looped_dag", None)


def run_python(code: str, path: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_a_real_airflow_and_a_real_pendulum_win_over_the_aliases(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "airflow").mkdir(parents=True)
    (real / "airflow" / "__init__.py").write_text("REAL = 'airflow'\n")
    (real / "pendulum.py").write_text("REAL = 'pendulum'\n")
    out = run_python(
        """
        from pinflow.compat.importer import install_airflow_imports
        print(install_airflow_imports())
        import airflow, pendulum
        print(airflow.REAL, pendulum.REAL)
        """,
        real,
    )
    assert out.splitlines() == ["False", "airflow pendulum"]
    # Installed first, then a real one comes on the path (a bundle's own package): it wins.
    out = run_python(
        f"""
        import sys
        from pinflow.compat.importer import install_airflow_imports
        print(install_airflow_imports())
        sys.path.insert(0, {str(real)!r})
        import airflow, pendulum
        print(airflow.REAL, pendulum.REAL)
        """,
        tmp_path,
    )
    assert out.splitlines() == ["True", "airflow pendulum"]


def test_without_airflow_the_alias_is_one_module_with_the_compat_one(tmp_path: Path) -> None:
    out = run_python(
        """
        from pinflow.compat.importer import install_airflow_imports
        print(install_airflow_imports(), install_airflow_imports())
        import airflow.sdk, pendulum
        import pinflow.compat.airflow.sdk as compat
        print(airflow.sdk is compat, airflow.sdk.DAG is compat.DAG, pendulum.__name__)
        """,
        tmp_path,
    )
    assert out.splitlines() == ["True True", "True True pinflow.compat.pendulum"]


def test_labels_sit_on_edges_in_either_direction_and_in_chain(tmp_path: Path) -> None:
    spec = compile_one(
        tmp_path,
        """
        from airflow.sdk import DAG, Label, chain, task
        from airflow.providers.standard.operators.empty import EmptyOperator

        @task
        def check():
            return True

        with DAG("labels", schedule=None):
            checked = check()
            ok = EmptyOperator(task_id="ok")
            report = EmptyOperator(task_id="report")
            done = EmptyOperator(task_id="done")
            checked >> Label("data is valid") >> ok
            report << Label("always") << ok
            chain(report, Label("then"), done)
            [ok, report] >> Label("fan in") >> done
        """,
    )
    assert edges(spec) == {("check", "ok"), ("ok", "report"), ("report", "done"), ("ok", "done")}


def test_a_python_operator_callable_defined_in_the_dag_function_is_importable(
    tmp_path: Path,
) -> None:
    spec = compile_one(
        tmp_path,
        """
        from airflow.sdk import dag
        from airflow.providers.standard.operators.python import PythonOperator

        @dag(schedule=None)
        def inner_callables():
            def add_one(x):
                return x + 1

            PythonOperator(task_id="add", python_callable=add_one, op_args=[41])

        inner_callables()
        """,
        name="inner_mod",
    )
    (add,) = spec.tasks
    assert (add.callable, add.args) == ("inner_mod:inner_callables.local_tasks.add_one", {"x": 41})
    sys.path.insert(0, str(tmp_path / "dags"))
    try:
        assert resolve_callable(add.callable or "")(**add.args) == 42
    finally:
        sys.path.remove(str(tmp_path / "dags"))
        sys.modules.pop("inner_mod", None)


def test_the_pendulum_subset_returns_standard_library_values() -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from pinflow.compat import pendulum

    assert pendulum.datetime(2024, 5, 6, 7, tz="Europe/Paris") == datetime(
        2024, 5, 6, 7, tzinfo=ZoneInfo("Europe/Paris")
    )
    assert pendulum.datetime(2024, 1, 1).tzinfo == ZoneInfo("UTC")
    assert pendulum.duration(days=1, hours=2) == timedelta(days=1, hours=2)
    assert pendulum.now().tzinfo == ZoneInfo("UTC")
    assert abs(pendulum.now() - datetime.now(UTC)) < timedelta(minutes=1)
    assert pendulum.today().hour == 0
    with pytest.raises(ImportError, match=r"pendulum\.parse is not supported .*fromisoformat"):
        pendulum.parse  # noqa: B018 - the attribute access is what is tested


def test_module_level_multiple_outputs_tasks_and_dict_annotations(tmp_path: Path) -> None:
    spec = compile_one(
        tmp_path,
        """
        from airflow.sdk import DAG, TaskGroup, task
        from airflow.providers.standard.operators.empty import EmptyOperator

        @task
        def split(text: str) -> dict[str, str]:
            first, _, rest = text.partition(" ")
            return {"first": first, "rest": rest}

        @task
        def shout(word: str, suffix: str = "!"):
            return word.upper() + suffix

        with DAG("outputs", schedule=None):
            parts = split("hello big world")
            with TaskGroup("g") as g:
                EmptyOperator(task_id="a")
            shout(parts["first"]) >> [g, EmptyOperator(task_id="b")]
        """,
        name="outputs_mod",
    )
    tasks = tasks_of(spec)
    assert tasks["shout"].callable == "outputs_mod:shout.selecting"
    assert edges(spec) == {("split", "shout"), ("shout", "g.a"), ("shout", "b")}
    sys.path.insert(0, str(tmp_path / "dags"))
    try:
        shout = resolve_callable(tasks["shout"].callable or "")
        split = resolve_callable(tasks["split"].callable or "")
    finally:
        sys.path.remove(str(tmp_path / "dags"))
        sys.modules.pop("outputs_mod", None)
    assert shout(word=split("hello big world"), **tasks["shout"].args) == "HELLO!"
    with pytest.raises(KeyError, match="reads key 'first' of an upstream output"):
        shout(word={"other": 1}, **tasks["shout"].args)


def test_airflow_params_compile_to_dag_params(tmp_path: Path) -> None:
    spec = compile_one(
        tmp_path,
        """
        from airflow.models.param import Param
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.empty import EmptyOperator

        with DAG(
            "with_params",
            schedule=None,
            params={"n": Param(3, type="integer", minimum=1), "name": "world"},
        ):
            EmptyOperator(task_id="noop")
        """,
    )
    assert (spec.params["n"].default, spec.params["n"].minimum) == (3, 1)
    assert spec.params["name"].default == "world"


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("None", None),
        ('"@once"', "@once"),
        ('"@daily"', "@daily"),
        ('"*/5 * * * *"', "*/5 * * * *"),
        ("timedelta(hours=6)", "0 */6 * * *"),
    ],
)
def test_every_kind_of_time_schedule_compiles_to_the_trigger(
    tmp_path: Path, schedule: str, expected: str | None
) -> None:
    spec = compile_one(
        tmp_path,
        f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.empty import EmptyOperator

        with DAG("timed", schedule={schedule}, start_date=datetime(2024, 1, 1)):
            EmptyOperator(task_id="noop")
        """,
    )
    assert (spec.trigger.schedule, spec.trigger.assets) == (expected, None)


def test_schedules_on_assets_compile_to_conditions(tmp_path: Path) -> None:
    spec = compile_one(
        tmp_path,
        """
        from airflow.sdk import DAG, Asset, AssetAll, AssetAny, task

        A, B, C = Asset("s3://b/a"), Asset("b", group="g", extra={"k": 1}), Asset(uri="S3://b/c")
        with DAG("on_assets", schedule=AssetAny(A, AssetAll(B, C)) | [A][0]):
            @task(outlets=[A], inlets=[B])
            def t():
                return 1
            t()
        """,
    )
    assert spec.trigger.schedule is None
    assert spec.trigger.assets is not None
    assert spec.trigger.assets.describe() == "((s3://b/a | (b & s3://b/c)) | s3://b/a)"
    (task,) = spec.tasks
    assert [a.uri for a in task.outlets] == ["s3://b/a"]
    assert [(a.name, a.group, a.extra) for a in task.inlets] == [("b", "g", {"k": 1})]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('Asset("airflow://x")', "reserved"),
        ('Asset("x", watchers=[1])', "asset watchers are not supported"),
        ("[1, 2]", "a list schedules on assets"),
    ],
)
def test_asset_mistakes_are_problems_at_their_line(
    tmp_path: Path, line: str, expected: str
) -> None:
    source = f"from airflow.sdk import DAG, Asset\n\nwith DAG('d', schedule={line}):\n    pass\n"
    [problem] = problems_of(tmp_path, source)
    assert problem.startswith("dags/airflow_dag.py:3: ")
    assert expected in problem
