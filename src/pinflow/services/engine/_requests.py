"""A try's ``TaskRequest``: what a task process needs to run it (``docs/runtime-contract.md``).

One builder for both ways a try runs: the local executor's (``scheduler.requests``) and a
remote worker's (``_remote_tries``, through the execution API). They differ only in what
they read of the run and where the code bundle is fetched from, which the caller passes as
``run_fields``; everything the task itself decides (its kind, arguments, inputs, limits) is
built here, so a DAG behaves the same on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from pinflow.runtime.contract import TaskRequest
from pinflow.runtime.staging import run_staging_uri
from pinflow.services.engine._dispatch import resolve_arguments, task_definition
from pinflow.services.engine._xcom_store import request_arguments
from pinflow.settings import Settings
from pinflow.store.db import Database


def task_request(
    source: Database | Session,
    settings: Settings,
    *,
    ti_id: int,
    dag_id: str,
    run_id: str,
    run_pk: int,
    task_id: str,
    map_index: int,
    try_number: int,
    snapshot_digest: str,
    staging_dir: str,
    log_path: str,
    run_fields: Mapping[str, Any],
) -> TaskRequest:
    """The request of try ``try_number`` of a task instance; ``run_fields``: ``params``,
    ``conf``, ``logical_date``, ``data_interval_start``/``_end``, ``run_type``,
    ``bundle_uri``. ``source``: where to read what is not known yet (the snapshot's spec, the
    upstream values): the caller's session, or a read of its own when it must."""
    definition = task_definition(source, snapshot_digest, task_id)
    task = definition.task
    arguments = request_arguments(*resolve_arguments(source, run_pk, task, map_index))
    return TaskRequest(
        ti_id=ti_id,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        try_number=try_number,
        snapshot_digest=snapshot_digest,
        staging_dir=staging_dir,
        log_path=log_path,
        kind=task.kind,
        max_tries=definition.resolved.retries,
        map_index=map_index,
        callable=task.callable,
        bash_command=task.bash_command,
        http=task.http.model_dump(mode="json") if task.http is not None else None,
        args=dict(task.args),
        inputs=arguments.inputs,
        mapped=arguments.mapped,
        execution_timeout=definition.resolved.execution_timeout,
        stored_inputs=arguments.stored,
        artifacts_uri=settings.artifacts_uri,
        staging_uri=_staging_uri(settings, dag_id, run_id),
        requirements=list(definition.requirements),
        sensor=task.sensor.model_dump(mode="json") if task.sensor is not None else None,
        xcom_db_limit=settings.xcom_db_limit,
        xcom_max_size=settings.xcom_max_size,
        **run_fields,
    )


def _staging_uri(settings: Settings, dag_id: str, run_id: str) -> str | None:
    """Where the run's staging dir lives between tries: on the shared store when there is one
    (``<shared_store_url>/staging/<dag_id>/<run_id>``); ``None`` when it is only local."""
    if not settings.shared_store_url:
        return None
    return run_staging_uri(settings.shared_store_url, dag_id, run_id)
