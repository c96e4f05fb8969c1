"""The upstream values a task's ``inputs`` name (``get_inputs``), as the task receives them.
(One XCom's value by itself is ``reads.xcoms.value_of``.)

What executors call to claim, start, heartbeat and finish tries is in ``_claims``,
``_starts``, ``_heartbeats``, ``_reports`` and ``_steps``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pinflow.errors import NotFoundError
from pinflow.lifecycle.mapping import MISSING, upstream_output
from pinflow.runtime.artifacts import ArtifactStore
from pinflow.services import xcom_values
from pinflow.services.engine import _xcom_store as xcom_store
from pinflow.services.xcom_values import RETURN_VALUE
from pinflow.spec.models import TaskSpec, XComRef
from pinflow.store.db import Database
from pinflow.store.tables import TaskInstance

__all__ = ["RETURN_VALUE", "get_inputs"]


def get_inputs(
    db: Database,
    run_pk: int,
    inputs: Mapping[str, XComRef] | TaskSpec,
    *,
    artifacts: ArtifactStore | None = None,
) -> dict[str, Any]:
    """Upstream values for a task's ``inputs``, by argument name.

    A mapped upstream gives the list of its elements' values, in ``map_index`` order. As in
    Airflow, a missing ``return_value`` (the upstream was skipped, or returned nothing)
    resolves to ``None``; a missing value under another key is a ``NotFoundError``. Values in
    the artifact store are read from ``artifacts``.
    """
    refs = inputs.inputs if isinstance(inputs, TaskSpec) else inputs
    if not refs:
        return {}
    task_ids = sorted({ref.task_id for ref in refs.values()})
    with db.read() as s:
        outputs = xcom_store.outputs_by_index(s, run_pk, task_ids)
        stored: dict[tuple[str, str], dict[int, Any]] = {}
        for (task_id, key, map_index), value in outputs.items():
            stored.setdefault((task_id, key), {})[map_index] = value
        elements = _element_counts(s, run_pk, task_ids)
    values: dict[str, Any] = {}
    for name, ref in refs.items():
        count = elements.get(ref.task_id, 0)
        value = upstream_output(stored.get((ref.task_id, ref.key), {}), count, mapped=count > 0)
        if value is MISSING and ref.key != RETURN_VALUE:
            raise NotFoundError(f"No XCom {ref.key!r} of task {ref.task_id!r} for {name!r}.")
        what = f"XCom {ref.key!r} of task {ref.task_id!r}"
        values[name] = None if value is MISSING else xcom_values.load(artifacts, value, what)
    return values


def _element_counts(s: Session, run_pk: int, task_ids: list[str]) -> dict[str, int]:
    rows = s.execute(
        select(TaskInstance.task_id, func.max(TaskInstance.map_index) + 1)
        .where(TaskInstance.run_pk == run_pk, TaskInstance.task_id.in_(task_ids))
        .where(TaskInstance.map_index >= 0)
        .group_by(TaskInstance.task_id)
    )
    return {task_id: int(count) for task_id, count in rows}
