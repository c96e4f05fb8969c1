"""Decorator options: DAG settings, params, default_args, bash/http tasks, and validation."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from pinflow import Param, dag, task
from pinflow.spec.models import ErrorStrategy, ParamSpec, ParamType, TriggerRule


@task
def noop() -> None:
    return None


def test_dag_options_become_the_spec() -> None:
    @dag(
        "etl",
        name=" Nightly ETL ",
        schedule="0 3 * * *",
        timezone="Europe/Paris",
        start_date=date(2024, 1, 1),
        end_date=datetime(2025, 1, 1, 12),
        catchup=True,
        max_catchup_runs=5,
        tags=["finance", "nightly", "finance"],
        owner="data-team",
        project="analytics",
        workflow_set="reports",
        error_strategy="fail_fast",
        max_active_runs=2,
        max_active_tasks=8,
    )
    def etl_pipeline() -> None:
        """Loads the warehouse."""
        noop()

    spec = etl_pipeline().spec

    assert spec.dag_id == "etl"
    assert spec.name == "Nightly ETL"
    assert spec.description == "Loads the warehouse."
    assert spec.trigger.schedule == "0 3 * * *"
    assert spec.trigger.timezone == "Europe/Paris"
    assert spec.trigger.start_date == datetime(2024, 1, 1)
    assert spec.trigger.end_date == datetime(2025, 1, 1, 12)
    assert spec.trigger.catchup is True
    assert spec.trigger.max_catchup_runs == 5
    assert spec.tags == ["finance", "nightly"]
    assert spec.owner == "data-team"
    assert spec.project == "analytics"
    assert spec.workflow_set == "reports"
    assert spec.error_strategy is ErrorStrategy.FAIL_FAST
    assert (spec.max_active_runs, spec.max_active_tasks) == (2, 8)


def test_bare_dag_uses_the_function_name_and_defaults() -> None:
    @dag
    def simple() -> None:
        noop()

    spec = simple().spec

    assert spec.dag_id == "simple"
    assert spec.trigger.schedule is None
    assert spec.trigger.timezone == "UTC"
    assert spec.error_strategy is ErrorStrategy.CONTINUE
    assert simple.dag_id == "simple"


def test_default_args_accept_timedeltas_and_seconds() -> None:
    @dag(
        default_args={
            "owner": "ops",
            "retries": 2,
            "retry_delay": timedelta(minutes=2),
            "retry_exponential_backoff": True,
            "max_retry_delay": 600,
            "execution_timeout": timedelta(hours=1),
            "trigger_rule": "all_done",
            "pool": "etl",
        }
    )
    def with_defaults() -> None:
        noop()

    spec = with_defaults().spec
    d = spec.default_args

    assert spec.owner == "ops"
    assert (d.retries, d.retry_delay, d.retry_exponential_backoff) == (2, 120.0, True)
    assert (d.max_retry_delay, d.execution_timeout) == (600.0, 3600.0)
    assert d.trigger_rule is TriggerRule.ALL_DONE
    assert d.pool == "etl"


def test_an_explicit_owner_wins_over_default_args() -> None:
    @dag(owner="me", default_args={"owner": "ops"})
    def owned() -> None:
        noop()

    assert owned().spec.owner == "me"


def test_params_from_param_objects_and_plain_defaults() -> None:
    @dag(
        params={
            "limit": 10,
            "ratio": 0.5,
            "dry_run": False,
            "regions": ["eu"],
            "mode": Param("full", enum=["full", "delta"], description="how much"),
            "day": Param(type=str),
            "size": Param(5, type="integer", minimum=1, maximum=10),
        }
    )
    def with_params() -> None:
        noop()

    params = with_params().spec.params

    assert params["limit"] == ParamSpec(type=ParamType.INTEGER, default=10)
    assert params["ratio"].type is ParamType.NUMBER
    assert params["dry_run"].type is ParamType.BOOLEAN
    assert params["regions"] == ParamSpec(type=ParamType.ARRAY, default=["eu"])
    assert params["mode"] == ParamSpec(
        default="full", enum=["full", "delta"], description="how much"
    )
    assert params["day"] == ParamSpec(type=ParamType.STRING, required=True)
    assert params["size"] == ParamSpec(type=ParamType.INTEGER, default=5, minimum=1, maximum=10)


@pytest.mark.parametrize(
    ("param", "error", "message"),
    [
        (Param("x", type=int), TypeError, "is not of type 'integer'"),
        (Param("z", enum=["x", "y"]), ValueError, "is not one of"),
        (Param(1, type="float"), ValueError, "unknown type 'float'"),
        (Param("a", minimum=1), ValueError, "only apply to integer and number"),
        (Param(5, minimum=6, maximum=1), ValueError, "greater than maximum"),
        (Param({1: 2}), TypeError, "JSON keys are str"),
    ],
)
def test_bad_params_are_refused_naming_dag_and_param(
    param: Param, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=rf"@dag '.*bad_params' param 'p'.*{message}"):

        @dag(params={"p": param})
        def bad_params() -> None:
            pass


def test_bash_decorator_calls_the_function_at_compile_time() -> None:
    @task.bash(retries=1)
    def greet(name: str = "world") -> str:
        return f"echo hello {name}"

    @dag
    def bash_dag() -> None:
        greet()
        greet("pinflow")
        greet.override(task_id="shout")(name="all")

    tasks = {t.task_id: t for t in bash_dag().spec.tasks}

    assert tasks["greet"].kind == "bash"
    assert tasks["greet"].callable is None
    assert tasks["greet"].bash_command == "echo hello world"
    assert tasks["greet__1"].bash_command == "echo hello pinflow"
    assert tasks["shout"].bash_command == "echo hello all"
    assert tasks["greet"].retries == 1
    assert greet("unit") == "echo hello unit"


def test_bash_decorator_refuses_task_outputs_and_non_strings() -> None:
    @task.bash
    def echo(value: Any) -> str:
        return f"echo {value}"

    @task.bash
    def broken() -> str:
        return None  # type: ignore[return-value]

    @dag
    def needs_runtime_value() -> None:
        echo(noop())

    @dag
    def returns_none() -> None:
        broken()

    with pytest.raises(TypeError, match="argument 0 is the output of task 'noop'"):
        needs_runtime_value()
    with pytest.raises(TypeError, match=r"@task.bash 'test_.*broken' must return the bash command"):
        returns_none()
    with pytest.raises(TypeError, match="cannot be mapped"):
        echo.partial()


def test_bash_and_http_operators() -> None:
    @dag
    def operators() -> None:
        ping = task.http(
            task_id="ping",
            url="https://example.com/health",
            method="post",
            headers={"Accept": "application/json"},
            body={"hello": ["world"]},
            expected_status=200,
            timeout=timedelta(seconds=5),
            retries=2,
        )
        hello = task.bash(task_id="hello", bash_command="echo hi", trigger_rule="all_done")
        ping >> hello

    tasks = {t.task_id: t for t in operators().spec.tasks}
    http = tasks["ping"].http

    assert tasks["ping"].kind == "http"
    assert http is not None
    assert (http.method, http.url, http.timeout) == ("POST", "https://example.com/health", 5.0)
    assert http.headers == {"Accept": "application/json"}
    assert http.body == {"hello": ["world"]}
    assert http.expected_status == [200]
    assert tasks["ping"].retries == 2
    assert tasks["hello"].bash_command == "echo hi"
    assert tasks["hello"].trigger_rule is TriggerRule.ALL_DONE
    assert tasks["hello"].depends_on == ["ping"]


def test_operators_refuse_duplicates_bad_values_and_being_outside_a_dag() -> None:
    @dag
    def twice() -> None:
        task.bash(task_id="x", bash_command="true")
        task.bash(task_id="x", bash_command="true")

    @dag
    def bad_method() -> None:
        task.http(task_id="x", url="https://e.org", method="FETCH")

    with pytest.raises(ValueError, match="task id 'x' is used twice"):
        twice()
    with pytest.raises(ValueError, match=r"task\.http 'x': method"):
        bad_method()
    with pytest.raises(RuntimeError, match="inside a @dag"):
        task.bash(task_id="x", bash_command="true")
    with pytest.raises(TypeError, match="not both"):
        task.bash(noop.function, bash_command="true")  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"retries": "3"}, TypeError, "retries must be an int, got str"),
        ({"retries": -1}, ValueError, "retries must be >= 0"),
        ({"retry_delay": "5m"}, TypeError, "retry_delay must be a timedelta or a number"),
        ({"execution_timeout": 0}, ValueError, "execution_timeout must be > 0"),
        ({"trigger_rule": "sometimes"}, ValueError, "unknown trigger_rule 'sometimes'"),
        ({"retires": 3}, ValueError, "unknown option 'retires' \\(did you mean 'retries'\\?\\)"),
        ({"task_id": "has space"}, ValueError, "is not a valid id"),
        ({"pool_slots": 0}, ValueError, "pool_slots must be >= 1"),
        ({"retry_exponential_backoff": 1}, TypeError, "must be a bool"),
    ],
)
def test_bad_task_options_name_the_function(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    decorator = task(**options)
    with pytest.raises(error, match=rf"@task '.*my_function': .*{message}"):

        @decorator
        def my_function() -> None:
            pass


def test_override_checks_options_too() -> None:
    with pytest.raises(TypeError, match="@task 'noop': pool must be a str"):
        noop.override(pool=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"schedule": 5}, TypeError, "schedule must be a str"),
        ({"timezone": "Mars/Olympus"}, ValueError, "unknown timezone"),
        ({"start_date": "2024-01-01"}, TypeError, "start_date must be a datetime or date"),
        ({"error_strategy": "explode"}, ValueError, "unknown error_strategy"),
        ({"tags": "finance"}, TypeError, "tags must be a list of str"),
        ({"max_active_runs": 0}, ValueError, "max_active_runs must be >= 1"),
        ({"default_args": {"email": "x@y.z"}}, ValueError, "default_args: unknown option 'email'"),
        ({"default_args": {"retry_delay": None}}, TypeError, "retry_delay must be a timedelta"),
        ({"shedule": "@daily"}, ValueError, "did you mean 'schedule'"),
        ({"dag_id": "no spaces"}, ValueError, "is not a valid id"),
        ({"name": "x" * 501}, ValueError, "name: String should have at most 500 characters"),
    ],
)
def test_bad_dag_options_name_the_function(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    decorator = dag(**options)
    with pytest.raises(error, match=rf"@dag '.*my_dag'.*{message}"):

        @decorator
        def my_dag() -> None:
            pass


@pytest.mark.parametrize("decorator", [task, task.bash, dag])
def test_decorating_something_that_is_not_a_function_is_refused(decorator: Any) -> None:
    with pytest.raises(TypeError, match="decorates a function, got int"):
        decorator(42)
    with pytest.raises(TypeError, match="decorates a function, got str"):
        decorator()("extract")


def test_decorating_twice_and_async_functions_are_refused() -> None:
    with pytest.raises(TypeError, match="applied twice"):
        task(noop)

    async def fetch() -> None:
        pass

    with pytest.raises(TypeError, match="async functions are not supported"):
        task(fetch)


def test_dag_id_given_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="dag_id is given twice"):
        dag("a", dag_id="b")


def test_dagrun_timeout_and_depends_on_past_are_pinflow_options_too() -> None:
    @task(depends_on_past=False)
    def free() -> None:
        return None

    @dag(dagrun_timeout=timedelta(minutes=5), default_args={"depends_on_past": True})
    def guarded() -> None:
        noop()
        free()

    spec = guarded().spec
    assert spec.dagrun_timeout == 300.0
    assert [spec.depends_on_past(t) for t in spec.tasks] == [True, False]

    @dag
    def plain() -> None:
        noop()

    dumped = plain().spec.model_dump(mode="json")  # not in the digest at their defaults
    assert "dagrun_timeout" not in dumped
    assert "depends_on_past" not in dumped["default_args"]
    assert "depends_on_past" not in dumped["tasks"][0]
    with pytest.raises(ValueError, match="dagrun_timeout must be > 0 seconds"):
        dag(dagrun_timeout=0)(plain.function)
