"""Turning a started try into the runtime contract's ``TaskRequest``.

The scheduler never imports user code; it only makes sure the snapshot's code bundle can be
fetched by a worker (written once per digest as ``<snapshot cache>/<digest>.zip``, an atomic
rename away from readers) and says where: the task process extracts it into its own cache.

What does not change is remembered (a run's context, which runs have their staging dir
recorded), so that a task without upstream values needs no read at all between its start and
its submission.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Any

from pinflow.lifecycle.states import RunType
from pinflow.runtime.contract import TaskRequest
from pinflow.runtime.paths import log_path, staging_path
from pinflow.runtime.private import private_dirs
from pinflow.services.engine import (
    ClaimedTask,
    DispatchRecord,
    RunContext,
    StartedTask,
    assets,
    bundle_bytes,
    record_dispatches,
    run_context,
    task_request,
)
from pinflow.settings import Settings
from pinflow.store.db import Database

_REMEMBERED_RUNS = 4096
# Where tries log is recorded in batches: at most this many, at most this late (seconds).
RECORD_BATCH = 64
RECORD_DELAY = 0.25


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
        private_dirs(self.cache_dir)
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


class RequestBuilder:
    """Builds requests for one scheduler, remembering what never changes."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.bundles = BundleFiles(db, settings.snapshot_cache_dir)
        self._runs: OrderedDict[int, RunContext] = OrderedDict()
        self._staging: dict[int, str] = {}  # of the remembered runs
        self._staged: set[int] = set()
        self._pending: list[DispatchRecord] = []
        self._pending_since = 0.0

    def build(self, claimed: ClaimedTask, started: StartedTask) -> TaskRequest:
        run = self._run(claimed.run_pk)
        return task_request(
            self.db,
            self.settings,
            ti_id=claimed.ti_id,
            dag_id=claimed.dag_id,
            run_id=claimed.run_id,
            run_pk=claimed.run_pk,
            task_id=claimed.task_id,
            map_index=claimed.map_index,
            try_number=started.try_number,
            snapshot_digest=started.snapshot_digest,
            staging_dir=self._staging_dir(claimed.run_pk, run),
            log_path=str(self.log_file(claimed, started.try_number)),
            run_fields={
                "params": claimed.params,
                "conf": claimed.conf,
                "logical_date": _iso(run.logical_date),
                "data_interval_start": _iso(run.data_interval_start),
                "data_interval_end": _iso(run.data_interval_end),
                "run_type": run.run_type,
                "triggering_asset_events": self._asset_events(claimed.run_pk, run.run_type),
                "bundle_uri": self.bundles.uri(started.snapshot_digest),
            },
        )

    def _asset_events(self, run_pk: int, run_type: str) -> list[dict[str, Any]]:
        if run_type != RunType.ASSET_TRIGGERED:
            return []
        with self.db.read() as s:
            return assets.triggering_events(s, run_pk)

    def log_file(self, claimed: ClaimedTask, try_number: int) -> Path:
        return log_path(
            self.settings.logs_dir,
            claimed.dag_id,
            claimed.run_id,
            claimed.task_id,
            map_index=claimed.map_index,
            try_number=try_number,
        )

    def record(self, claimed: ClaimedTask, request: TaskRequest) -> None:
        """Queue the try's log file (and the run's staging dir, once per run) for recording."""
        first = claimed.run_pk not in self._staged
        self._pending.append(
            DispatchRecord(
                claimed.ti_id,
                request.try_number,
                Path(request.log_path),
                run_pk=claimed.run_pk if first else None,
                staging_dir=request.staging_dir if first else None,
            )
        )
        self._pending_since = self._pending_since or time.monotonic()
        self._staged.add(claimed.run_pk)
        if len(self._staged) > _REMEMBERED_RUNS:
            self._staged.clear()

    def flush(self, *, force: bool = True) -> None:
        """Write the queued records: now (``force``), or once the oldest waited long enough.

        Batched, because a transaction per try is a millisecond the scheduler would otherwise
        spend while the next result is waiting for it.
        """
        if not self._pending:
            return
        waited = time.monotonic() - self._pending_since
        if not force and waited < RECORD_DELAY and len(self._pending) < RECORD_BATCH:
            return
        pending, self._pending, self._pending_since = self._pending, [], 0.0
        record_dispatches(self.db, pending)

    def _staging_dir(self, run_pk: int, run: RunContext) -> str:
        path = self._staging.get(run_pk)
        if path is None:
            path = str(staging_path(self.settings.staging_dir, run.dag_id, run.run_id))
            self._staging[run_pk] = path
        return path

    def _run(self, run_pk: int) -> RunContext:
        run = self._runs.get(run_pk)
        if run is None:
            run = self._runs[run_pk] = run_context(self.db, run_pk)
            if len(self._runs) > _REMEMBERED_RUNS:
                forgotten, _ = self._runs.popitem(last=False)
                self._staging.pop(forgotten, None)
        return run
