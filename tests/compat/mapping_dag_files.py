"""Airflow 3 DAG files using dynamic task mapping (ADR 0039), as their users write them: the
shapes of Airflow's "Dynamic Task Mapping" documentation, kept tiny."""

MAPPING = """
import pendulum

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, task


@task
def add_one(x: int):
    return x + 1


@task
def sum_it(values):
    total = sum(values)
    print(f"Total was {total}")
    return total


@task
def add(x: int, y: int):
    return x + y


@task
def pair(entry):
    key, value = entry
    return f"{key}={value}"


@task
def numbers():
    return [10, 20]


@task
def kwargs_source():
    return [{"x": 1, "y": 2}, {"x": 3, "y": 4}]


@task
def push_files(ti=None):
    ti.xcom_push(key="files", value=["a.csv", "b.csv"])
    return "pushed"


@task
def shout(name):
    return name.upper()


@task
def never(x):
    return x


def double(v, map_index=None):
    return {"double": v * 2, "map_index": map_index}


with DAG(
    "mapping",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
):
    # Airflow's docs: add_one.expand(x=[1, 2, 3]) -> sum_it prints "Total was 9"
    sum_it(add_one.expand(x=[1, 2, 3]))
    add.override(task_id="cross").expand(x=[1, 2], y=[10, 20, 30])
    ten_twenty = numbers()
    add.override(task_id="mixed").partial(y=100).expand(x=ten_twenty)
    add.override(task_id="ordered").expand(y=ten_twenty, x=[1, 2])
    pair.expand(entry={"a": 1, "b": 2})
    add.override(task_id="kwargs_literal").expand_kwargs([{"x": 1, "y": 2}, {"x": 5, "y": 5}])
    add.override(task_id="kwargs_upstream").expand_kwargs(kwargs_source())
    never.expand(x=[])
    shout.expand(name=push_files()["files"])
    BashOperator.partial(task_id="bash_commands").expand(bash_command=["echo one", "echo two"])
    BashOperator.partial(
        task_id="bash_env", bash_command='echo "$WHO {{ ti.map_index }}"'
    ).expand(env=[{"WHO": "ada"}, {"WHO": "bob"}])
    PythonOperator.partial(task_id="py_args", python_callable=double).expand(op_args=[[1], [2]])
    PythonOperator.partial(task_id="py_kwargs", python_callable=double).expand_kwargs(
        [{"op_kwargs": {"v": 3}}, {"op_kwargs": {"v": 4}}]
    )
"""

MAPPING_FAILURES = """
import pendulum

from airflow.sdk import DAG, task


@task
def mixed_elements():
    return [{"x": 1}, 5, None]


@task
def show(x):
    return x


@task
def add_one(x):
    return x + 1


with DAG(
    "mapping_failures",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
):
    show.expand_kwargs(mixed_elements())
    add_one.expand(x=[1, 2, 3, 4])
"""
