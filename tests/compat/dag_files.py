"""Airflow 3 DAG files as an Airflow user writes them, shared by the compile and run tests.

They follow the shapes of Airflow's own tutorials and examples (``tutorial``,
``tutorial_taskflow_api``, ``example_bash_operator``, ``example_python_operator``), minus
what is tested elsewhere (``dagrun_timeout`` in ``run_dag_files``; templates are in
``context_dag_files``);
``TASKFLOW`` is Airflow's tutorial unmodified, and ``EXAMPLE_BASH_OPERATOR_UNMODIFIED``
is an example as Airflow ships it (its ``dagrun_timeout`` included).
"""

TUTORIAL = '''
"""
### Tutorial Documentation
The shape of Airflow's ``tutorial`` DAG.
"""
import textwrap
from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(
    "tutorial",
    default_args={
        "depends_on_past": False,
        "retries": 1,
        "retry_delay": timedelta(minutes=5),
    },
    description="A simple tutorial DAG",
    schedule=timedelta(days=1),
    start_date=datetime(2021, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    t1 = BashOperator(
        task_id="print_date",
        bash_command="date +%Y",
    )
    t2 = BashOperator(
        task_id="sleep",
        depends_on_past=False,
        bash_command="sleep 0.1",
        retries=3,
    )
    t1.doc_md = textwrap.dedent(
        """\\
    #### Task Documentation
    You can document your task using the attributes `doc_md` (markdown).
    """
    )
    dag.doc_md = __doc__
    t3 = BashOperator(
        task_id="templated",
        depends_on_past=False,
        bash_command="echo templated",
    )
    t1 >> [t2, t3]
'''

TASKFLOW = '''
import json

import pendulum

from airflow.sdk import dag, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example"],
)
def tutorial_taskflow_api():
    """
    ### TaskFlow API Tutorial Documentation
    This is a simple data pipeline example which demonstrates the use of
    the TaskFlow API using three simple tasks for Extract, Transform, and Load.
    """

    @task()
    def extract():
        """
        #### Extract task
        A simple Extract task to get data ready for the rest of the data
        pipeline. In this case, getting data is simulated by reading from a
        hardcoded JSON string.
        """
        data_string = '{"1001": 301.27, "1002": 433.21, "1003": 502.22}'

        order_data_dict = json.loads(data_string)
        return order_data_dict

    @task(multiple_outputs=True)
    def transform(order_data_dict: dict):
        """
        #### Transform task
        A simple Transform task which takes in the collection of order data and
        computes the total order value.
        """
        total_order_value = 0

        for value in order_data_dict.values():
            total_order_value += value

        return {"total_order_value": total_order_value}

    @task()
    def load(total_order_value: float):
        """
        #### Load task
        A simple Load task which takes in the result of the Transform task and
        instead of saving it to end user review, just prints it out.
        """

        print(f"Total order value is: {total_order_value:.2f}")

    order_data = extract()
    order_summary = transform(order_data)
    load(order_summary["total_order_value"])


tutorial_taskflow_api()
'''

EXAMPLE_BASH_OPERATOR = """
from __future__ import annotations

import pendulum

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(
    dag_id="example_bash_operator",
    schedule="0 0 * * *",
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "example2"],
    params={"example_key": "example_value"},
) as dag:
    run_this_last = EmptyOperator(
        task_id="run_this_last",
    )

    # [START howto_operator_bash]
    run_this = BashOperator(
        task_id="run_after_loop",
        bash_command="echo https://airflow.apache.org/",
    )
    # [END howto_operator_bash]

    run_this >> run_this_last

    for i in range(3):
        task = BashOperator(
            task_id=f"runme_{i}",
            bash_command=f'echo "runme_{i}" && sleep 0.1',
        )
        task >> run_this

    also_run_this = BashOperator(
        task_id="also_run_this",
        bash_command='echo "ti_key=$PINFLOW_TASK_ID"',
    )
    also_run_this >> run_this_last

    this_will_skip = BashOperator(
        task_id="this_will_skip",
        bash_command='echo "hello world"; exit 99;',
        dag=dag,
    )
    this_will_skip >> run_this_last
"""

EXAMPLE_BASH_OPERATOR_UNMODIFIED = """
import datetime

import pendulum

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(
    dag_id="example_bash_operator",
    schedule="0 0 * * *",
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    dagrun_timeout=datetime.timedelta(minutes=60),
    tags=["example", "example2"],
) as dag:
    also_run_this = BashOperator(task_id="also_run_this", bash_command="echo hi")
"""

PYTHON_OPERATOR = """
import pendulum

from airflow.exceptions import AirflowFailException, AirflowSkipException
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Label, chain, task
from airflow.utils.trigger_rule import TriggerRule


def multiply(a, b, factor=1):
    return a * b * factor


def skip_me():
    raise AirflowSkipException("nothing to do today")


def fail_me():
    raise AirflowFailException("bad input, no point retrying")


with DAG(
    dag_id="example_python_operator",
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0},
) as dag:
    product = PythonOperator(
        task_id="multiply", python_callable=multiply, op_args=[6, 7], op_kwargs={"factor": 2}
    )

    @task(task_id="report")
    def report(value):
        return f"the product is {value}"

    skipped = PythonOperator(task_id="skip_me", python_callable=skip_me)
    failed = PythonOperator(task_id="fail_me", python_callable=fail_me)
    after_skip = EmptyOperator(task_id="after_skip")
    cleanup = EmptyOperator(task_id="cleanup", trigger_rule=TriggerRule.ALL_DONE)

    reported = report(product.output)
    skipped >> Label("skipped upstream") >> after_skip
    chain(reported, [skipped, failed], cleanup)
"""

EXAMPLE_TASK_GROUP = """
import pendulum

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TaskGroup

with DAG(
    dag_id="example_task_group",
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example"],
) as dag:
    start = EmptyOperator(task_id="start")

    with TaskGroup("section_1", tooltip="Tasks for section_1") as section_1:
        task_1 = EmptyOperator(task_id="task_1")
        task_2 = BashOperator(task_id="task_2", bash_command="echo 1")
        task_3 = EmptyOperator(task_id="task_3")

        task_1 >> [task_2, task_3]

    with TaskGroup("section_2", tooltip="Tasks for section_2") as section_2:
        task_1 = EmptyOperator(task_id="task_1")

        with TaskGroup("inner_section_2", tooltip="Tasks for inner_section2") as inner_section_2:
            task_2 = BashOperator(task_id="task_2", bash_command="echo 1")
            task_3 = EmptyOperator(task_id="task_3")
            task_4 = EmptyOperator(task_id="task_4")

            [task_2, task_3] >> task_4

    end = EmptyOperator(task_id="end")

    start >> section_1 >> section_2 >> end
"""

EXAMPLE_TASK_GROUP_DECORATOR = """
import pendulum

from airflow.sdk import dag, task, task_group


@task
def task_start():
    return "[Task_start]"


@task
def task_1(value: int) -> str:
    return f"[ Task1 {value} ]"


@task
def task_2(value: str) -> str:
    return f"[ Task2 {value} ]"


@task
def task_3(value: str) -> str:
    print(f"[ Task3 {value} ]")
    return value


@task
def task_end() -> None:
    print("[ Task_End  ]")


@task_group
def task_group_function(value: int) -> None:
    task_3(task_2(task_1(value)))


@dag(start_date=pendulum.datetime(2021, 1, 1, tz="UTC"), catchup=False, schedule=None)
def example_task_group_decorator():
    start_task = task_start()
    end_task = task_end()
    for i in range(3):
        current_task_group = task_group_function(i)
        start_task >> current_task_group >> end_task


example_task_group_decorator()
"""
