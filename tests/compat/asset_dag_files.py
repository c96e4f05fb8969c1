"""Airflow 3 DAG files with assets, as an Airflow user writes them (ADR 0037): producers with
``outlets``, consumers with ``schedule=[Asset(...)]``, ``&`` and ``|``."""

PRODUCERS = """
from airflow.sdk import DAG, Asset, task
from airflow.providers.standard.operators.bash import BashOperator

ORDERS = Asset("s3://sales/orders")
REFUNDS = Asset("s3://sales/refunds", extra={"team": "sales"})

with DAG("make_orders", schedule=None):
    @task(outlets=[ORDERS])
    def extract():
        return 1

    extract()

with DAG("make_refunds", schedule=None):
    BashOperator(task_id="export", bash_command="echo refunds", outlets=[REFUNDS])

with DAG("broken_orders", schedule=None):
    @task(task_id="extract", outlets=[ORDERS])
    def extract_or_fail():
        raise RuntimeError("the warehouse is down")

    extract_or_fail()
"""

CONSUMERS = """
from airflow.sdk import DAG, Asset, task
from airflow.datasets import Dataset

ORDERS = Asset("s3://sales/orders")
REFUNDS = Dataset("s3://sales/refunds")

with DAG("on_orders", schedule=[ORDERS]):
    @task
    def report(triggering_asset_events=None):
        (events,) = triggering_asset_events.values()
        return [ORDERS in triggering_asset_events, events[0].source_dag_id, events[0].extra]

    report()

with DAG("on_both", schedule=ORDERS & REFUNDS):
    @task
    def merge():
        return "merged"

    merge()

with DAG("on_either", schedule=(ORDERS | REFUNDS)):
    @task
    def notify():
        return "notified"

    notify()
"""
