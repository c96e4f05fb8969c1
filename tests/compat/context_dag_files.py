"""Airflow 3 DAG files that use the task context, XComs by key, Jinja templates, Variables,
Connections and callbacks, as Airflow's docs write them (shared by the compile and run
tests)."""

CONTEXT_AND_XCOM = '''
"""
### Context, XComs and templates
Reads the context, pushes XComs by key, templates bash commands.
"""
from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, BaseHook, Connection, Variable, get_current_context, task


def push(**context):
    ti = context["ti"]
    ti.xcom_push(key="rows", value=42)
    return {
        "ds": context["ds"],
        "ds_nodash": context["ds_nodash"],
        "ts": context["ts"],
        "run_id": context["run_id"],
        "dag_run": context["dag_run"].run_id,
        "task": context["task"].task_id,
        "dag": context["dag"].dag_id,
        "logical_date": context["logical_date"].isoformat(),
        "week_later": context["macros"].ds_add(context["ds"], 7),
        "params": context["params"],
        "try_number": context["try_number"],
    }


def pull(ti, templates_dict, **kwargs):
    current = get_current_context()
    return {
        "rows": ti.xcom_pull(task_ids="push", key="rows"),
        "whole": ti.xcom_pull(task_ids="push")["ds"],
        "many": ti.xcom_pull(task_ids=["push", "push"], key="rows"),
        "missing": ti.xcom_pull(task_ids="push", key="nope", default="none"),
        "templates": templates_dict,
        "same_ti": current["ti"].task_id,
        "in_kwargs": sorted(k for k in ("ds", "dag_run", "macros", "var", "conn") if k in kwargs),
        "bucket": Variable.get("bucket"),
        "limits": Variable.get("limits", deserialize_json=True),
        "fallback": Variable.get("nope", default_var="fallback"),
        "host": BaseHook.get_connection("warehouse").host,
        "login": Connection.get("warehouse").login,
    }


with DAG(
    "context_xcom",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    params={"greeting": "hi"},
) as dag:
    pushed = PythonOperator(task_id="push", python_callable=push)
    pulled = PythonOperator(
        task_id="pull",
        python_callable=pull,
        templates_dict={
            "week_later": "{{ macros.ds_add(ds, 7) }}",
            "greeting": "{{ params.greeting }}",
            "bucket": "{{ var.value.bucket }}",
            "host": "{{ conn.warehouse.host }}",
        },
    )
    echo = BashOperator(
        task_id="echo",
        bash_command="echo {{ ti.xcom_pull('push', key='rows') }}-{{ ds_nodash }}-"
        "{{ params.greeting }}-$WHO",
        env={"WHO": "{{ var.value.bucket }}"},
    )
    loop = BashOperator(
        task_id="loop",
        bash_command="{% for i in range(3) %}echo {{ macros.ds_add(ds, i) }}; {% endfor %}",
    )

    @task
    def flow(day, **context):
        return [day, context["ti"].xcom_pull(task_ids="push", key="rows")]

    pushed >> [pulled, echo, loop, flow("{{ ds }}/{{ ti.task_id }}")]
'''

CALLBACKS = """
from datetime import datetime, timedelta

from airflow.exceptions import AirflowSkipException
from airflow.sdk import dag, task


def said(name):
    def callback(context):
        ti = context["ti"]
        error = context.get("exception")
        print(f"CALLBACK {name} {ti.task_id} try {ti.try_number} {error!r}", flush=True)
    return callback


on_success = said("success")
on_failure = said("failure")
on_retry = said("retry")
on_skipped = said("skipped")
on_execute = said("execute")
for f, n in ((on_success, "on_success"), (on_failure, "on_failure"), (on_retry, "on_retry"),
             (on_skipped, "on_skipped"), (on_execute, "on_execute")):
    f.__qualname__ = f.__name__ = n


@dag(
    schedule=None,
    start_date=datetime(2024, 1, 1),
    default_args={"on_failure_callback": on_failure, "retry_delay": timedelta(0)},
)
def callbacks():
    @task(retries=1, on_retry_callback=on_retry, on_success_callback=[on_success])
    def flaky(ti=None):
        if ti.try_number == 1:
            raise ValueError("first try fails")
        return "ok"

    @task
    def doomed():
        raise RuntimeError("always fails")

    @task(on_skipped_callback=on_skipped, on_execute_callback=on_execute)
    def skipper():
        raise AirflowSkipException("nothing to do")

    flaky()
    doomed()
    skipper()


callbacks()
"""

# The secrets masker: a connection's password and a sensitive variable templated into a bash
# command and its env, printed, logged and raised by Python tasks.
SECRETS = """
import logging
from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, BaseHook, Variable


def leak():
    conn = BaseHook.get_connection("vault")
    print("the password is", conn.password)
    print("the uri is", conn.get_uri())
    print("the api key is", conn.extra_dejson["api_key"], "in", conn.extra_dejson)
    logging.getLogger("leak").warning("the token is %s", Variable.get("api_token"))
    return "leaked nothing"


def doomed():
    raise ValueError(f"cannot log in with {BaseHook.get_connection('vault').password!r}")


def takes(pw):
    print("given", pw)


with DAG("masked_secrets", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    BashOperator(
        task_id="templated",
        bash_command="echo pw={{ conn.vault.password }} token={{ var.value.api_token }}; "
        "echo env=$PGPASSWORD >&2; echo done",
        env={"PGPASSWORD": "{{ conn.vault.password }}", "WHO": "{{ var.value.bucket }}"},
    )
    PythonOperator(task_id="leak", python_callable=leak)
    PythonOperator(task_id="doomed", python_callable=doomed)
    PythonOperator(
        task_id="kwargs", python_callable=takes, op_kwargs={"pw": "{{ conn.vault.password }}"}
    )
"""
