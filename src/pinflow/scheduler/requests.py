"""Turning a started try into the runtime contract's ``TaskRequest``.

The scheduler never imports user code; it only makes sure the snapshot's code bundle can be
fetched by a worker (written once per digest as ``<snapshot cache>/<digest>.zip``, an atomic
rename away from readers) and says where: the task process extracts it into its own cache.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from pinflow.runtime.contract import TaskRequest
from pinflow.services.dispatch import Dispatch, bundle_bytes, log_path, staging_path
from pinflow.services.task_results import ClaimedTask
from pinflow.settings import Settings
from pinflow.store.db import Database


class BundleFiles:
    """Makes each snapshot's bundle available to local task processes, once per digest."""

    def __init__(self, db: Database, cache_dir: Path) -> None:
        self.db = db
        self.cache_dir = Path(cache_dir)
        self._uris: dict[str, str | None] = {}

    def uri(self, digest: str) -> str | None:
        """A ``file://`` URI of the bundle, or ``None`` for a snapshot without code."""
        if digest not in self._uris:
            self._uris[digest] = self._materialize(digest)
        return self._uris[digest]

    def _materialize(self, digest: str) -> str | None:
        path = self.cache_dir / f"{digest}.zip"
        if path.is_file():
            return path.as_uri()
        data = bundle_bytes(self.db, digest)
        if not data:
            return None
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{digest}.", suffix=".zip", dir=self.cache_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path.as_uri()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def try_paths(settings: Settings, task: ClaimedTask) -> tuple[Path, Path]:
    """The try's log file and the run's staging dir."""
    log = log_path(
        settings.logs_dir,
        task.dag_id,
        task.run_id,
        task.task_id,
        map_index=task.map_index,
        try_number=task.try_number,
    )
    return log, staging_path(settings.staging_dir, task.dag_id, task.run_id)


def build_request(
    dispatch: Dispatch, *, log_file: Path, staging_dir: Path, bundle_uri: str | None
) -> TaskRequest:
    task = dispatch.task
    return TaskRequest(
        ti_id=dispatch.ti_id,
        dag_id=dispatch.dag_id,
        run_id=dispatch.run_id,
        task_id=task.task_id,
        try_number=dispatch.try_number,
        snapshot_digest=dispatch.snapshot_digest,
        staging_dir=str(staging_dir),
        log_path=str(log_file),
        kind=task.kind,
        map_index=dispatch.map_index,
        callable=task.callable,
        bash_command=task.bash_command,
        http=task.http.model_dump(mode="json") if task.http is not None else None,
        args=dict(task.args),
        inputs=dispatch.inputs,
        mapped=dispatch.mapped,
        params=dispatch.params,
        conf=dispatch.conf,
        logical_date=_iso(dispatch.logical_date),
        data_interval_start=_iso(dispatch.data_interval_start),
        data_interval_end=_iso(dispatch.data_interval_end),
        run_type=dispatch.run_type,
        bundle_uri=bundle_uri,
        execution_timeout=dispatch.resolved.execution_timeout,
    )
