"""The runtime contract: what a worker needs to run one task, and what it reports back.

The scheduler builds a ``TaskRequest`` from the database; an executor carries it to a worker
process (a pipe for the local executor, a broker message for Celery) and brings back exactly
one ``TaskResult`` per request. Both are plain JSON so that any transport works, and nothing
in them refers to the control plane: a worker never opens the metadata database. The
``Executor`` protocol, the scheduler's side of the seam, is ``pinflow.executors.base``.

``docs/runtime-contract.md`` is the prose version of this module.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple, Self, TypeVar

CONTRACT_VERSION = 1
# The defaults of the XCom limits (``Settings.xcom_db_limit``, ``Settings.xcom_max_size``).
XCOM_DB_LIMIT = 64 * 1024
XCOM_MAX_SIZE = 256 * 1024 * 1024

T = TypeVar("T")


class SkipTask(Exception):  # noqa: N818 - named like Airflow's AirflowSkipException's intent
    """Raise inside a task to end it as ``skipped`` (Airflow's ``AirflowSkipException``)."""


class SensorTimeout(Exception):  # noqa: N818 - Airflow's AirflowSensorTimeout's intent
    """A sensor poked past its ``timeout``: the try fails without retrying (or is skipped
    with ``soft_fail``), as Airflow's ``AirflowSensorTimeout`` (ADR 0036)."""


class RescheduleTask(Exception):  # noqa: N818 - a signal, not an error
    """A sensor in ``reschedule`` mode poked and is not done: its process ends, the task waits
    ``up_for_reschedule`` with no slot until its next poke is due."""


class DeferTask(Exception):  # noqa: N818 - a signal, not an error
    """A sensor hands its wait to the scheduler: ``trigger`` says what it waits for (a moment,
    ``{"kind": "time", "at": ISO 8601}``, or a file, ``{"kind": "file", "path": ...}``); the
    task is ``deferred``, with no process and no slot, until the scheduler sees it hold."""

    def __init__(self, trigger: dict[str, Any], message: str = "") -> None:
        super().__init__(message or f"deferred until {trigger}")
        self.trigger = trigger


# What a sensor's try reports instead of an ending (``TaskResult.sensor``).
SENSOR_OUTCOMES = ("reschedule", "defer", "timeout")


class TaskKey(NamedTuple):
    """One try of one task instance: the unit an executor runs and reports on."""

    ti_id: int
    try_number: int


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {sorted(unknown)}")
    return cls(**data)


@dataclass(frozen=True)
class StoredInput:
    """Part of an argument's value that the worker reads from the artifact store.

    ``uri``, ``size`` and ``sha256`` name the artifact and what it must be when read.
    ``element``: the argument takes that element of the stored list, not the whole value (a
    mapped task's element of a large upstream list). ``position``: the value goes at that
    index of the argument's list, which the request carries with a ``None`` there (a mapped
    upstream's outputs, some of them large), instead of being the whole argument.
    """

    uri: str
    size: int
    sha256: str
    element: int | None = None
    position: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TaskRequest:
    """Everything one try of one task needs, resolved by the scheduler.

    ``inputs`` are the upstream XCom values bound to arguments; ``mapped`` the element of the
    expanded upstream list for a mapped task instance (``map_index`` >= 0). The worker calls a
    Python task as ``callable(**args, **inputs, **mapped)``, after loading ``stored_inputs``:
    the arguments of ``inputs`` and ``mapped`` whose value, or part of it, is too large for the
    database and was left in the artifact store at ``artifacts_uri``. ``bundle_uri`` says where
    the code bundle can be fetched when the worker's cache has no ``snapshot_digest`` yet
    (``file://`` for the local executor); ``None`` means the snapshot has no code.

    The task's return value travels back in ``TaskResult.value`` when its JSON is at most
    ``xcom_db_limit`` bytes; a larger one (up to ``xcom_max_size``) is written to the artifact
    store and only its reference travels. Without ``artifacts_uri`` every value travels inline.

    ``staging_dir`` is the run's staging dir on the worker's machine (the task's working
    directory). ``staging_uri``, set when the installation has a shared store
    (``shared_store_url``), is where that directory lives between tries, for workers that share
    no disk: the worker pulls it into ``staging_dir`` before the try and pushes it back after
    (``pinflow.runtime.staging.attached``). ``None``: ``staging_dir`` is all there is.

    ``task_api`` is the path of the try's own channel (a Unix socket its supervisor serves
    while the try runs): how the task reads variables and connections and pushes XComs
    (``pinflow.sdk.Variable``, ``Connection``, ``xcom_push``), with the supervisor's token,
    which the task never sees. ``None``: this executor offers no channel.

    ``requirements`` are the version's normalised PEP 508 requirements: when there are any,
    the task runs in a fresh interpreter of the environment built for them, not in a fork
    of the warm one (``pinflow.runtime.env_task``; ADR 0032).

    ``max_tries``: the task's retries; a failed try with ``try_number <= max_tries`` is
    retried (what an ``on_retry_callback`` needs to know inside the try).

    ``sensor``: the task's ``SensorSpec`` as JSON when it is a sensor (the process pokes,
    ``pinflow.runtime.sensors``); ``None`` for every other task.
    """

    ti_id: int
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    snapshot_digest: str
    staging_dir: str
    log_path: str
    kind: str = "python"
    max_tries: int = 0
    map_index: int = -1
    callable: str | None = None
    bash_command: str | None = None
    http: dict[str, Any] | None = None
    args: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    mapped: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    conf: dict[str, Any] = field(default_factory=dict)
    logical_date: str | None = None
    data_interval_start: str | None = None
    data_interval_end: str | None = None
    run_type: str = "manual"
    # an asset_triggered run's events (``uri``, ``extra``, ``source_*``, ``timestamp``)
    triggering_asset_events: list[dict[str, Any]] = field(default_factory=list)
    bundle_uri: str | None = None
    execution_timeout: float | None = None
    stored_inputs: dict[str, list[StoredInput]] = field(default_factory=dict)
    artifacts_uri: str | None = None
    staging_uri: str | None = None
    task_api: str | None = None
    requirements: list[str] = field(default_factory=list)
    sensor: dict[str, Any] | None = None
    xcom_db_limit: int = XCOM_DB_LIMIT
    xcom_max_size: int = XCOM_MAX_SIZE
    contract_version: int = CONTRACT_VERSION

    @property
    def key(self) -> TaskKey:
        return TaskKey(self.ti_id, self.try_number)

    @property
    def label(self) -> str:
        suffix = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}/{self.run_id}/{self.task_id}{suffix} try {self.try_number}"

    @property
    def idempotency_key(self) -> str:
        """The same for every try of this task instance (retries, interruptions, clears) and
        different for every other: what a task's side effects are keyed by so that running
        it again does not repeat them (a try runs at least once; see ADR 0022)."""
        return f"{self.dag_id}/{self.run_id}/{self.task_id}/{self.map_index}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data. Shallow (the field values are JSON data already; ``asdict``'s deep
        copy cost more than the rest of a dispatch): don't mutate what it shares."""
        data = dict(self.__dict__)
        if self.stored_inputs:
            data["stored_inputs"] = {
                name: [asdict(part) for part in parts] for name, parts in self.stored_inputs.items()
            }
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        stored = data.get("stored_inputs")
        if stored:
            parts = {name: [StoredInput.from_dict(p) for p in ps] for name, ps in stored.items()}
            data = {**data, "stored_inputs": parts}
        return _from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one try: exactly one per ``TaskRequest``.

    ``value`` is the task's JSON return value (the XCom) when ``success``; ``error`` a one-line
    summary when not (the full traceback is in the try's log). ``exit_code`` is the process's
    or the bash command's; ``duration`` is wall seconds inside the worker.

    A return value above the request's ``xcom_db_limit`` is in the artifact store instead:
    ``value`` is ``None`` and ``value_uri``, ``value_size`` (bytes of JSON) and
    ``value_sha256`` say where and what it is; ``value_length`` is its length when it is a
    list (what ``expand`` needs, so that the scheduler never reads the artifact).

    ``interrupted``: the try did not fail on its own; the infrastructure ended it (its executor
    or worker stopped, its supervisor died, its process was killed by a signal nobody in Pinflow
    sent). Such a try is retried at once without spending one of the task's retries
    (``docs/adr/0022-interrupted-tries.md``).

    ``sensor``: a sensor's try that did not end: ``"reschedule"`` (poked, not done),
    ``"defer"`` (waits on ``trigger``, which the scheduler checks) or ``"timeout"`` (poked
    past its timeout); ``success`` is ``False`` for them. ``None`` for every other try.
    """

    ti_id: int
    try_number: int
    success: bool
    value: Any = None
    error: str | None = None
    exit_code: int | None = None
    duration: float = 0.0
    skipped: bool = False
    pid: int | None = None
    value_uri: str | None = None
    value_size: int | None = None
    value_sha256: str | None = None
    value_length: int | None = None
    interrupted: bool = False
    sensor: str | None = None
    trigger: dict[str, Any] | None = None

    @property
    def key(self) -> TaskKey:
        return TaskKey(self.ti_id, self.try_number)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (shallow, as ``TaskRequest.to_dict``)."""
        return dict(self.__dict__)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return _from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        return cls.from_dict(json.loads(text))

    @classmethod
    def failure(cls, key: TaskKey, error: str, **extra: Any) -> Self:
        return cls(ti_id=key.ti_id, try_number=key.try_number, success=False, error=error, **extra)


@dataclass(frozen=True)
class RunCallbackRequest:
    """What the process that calls a run's end callbacks needs (ADR 0044), written by the
    scheduler (``pinflow.scheduler.callbacks``) on that process's stdin and read by
    ``pinflow.runtime.run_callbacks``.

    ``kind`` is ``on_success`` or ``on_failure``; ``refs`` the callbacks' import references;
    ``runner`` the reference of the callable that calls them all instead of calling each with
    ``pinflow.sdk.RunEnd`` (the Airflow layer's, which builds Airflow's context), or ``None``.
    ``snapshot_digest``, ``bundle_uri`` and ``requirements`` are as in ``TaskRequest``;
    ``env_config`` is ``pinflow.runtime.envs.EnvConfig`` as JSON (where environments are
    built). ``end``: ``RunEnd``'s fields, as JSON.
    """

    kind: str
    refs: list[str]
    runner: str | None
    snapshot_digest: str
    bundle_uri: str | None
    requirements: list[str]
    env_config: str
    end: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        return _from_dict(cls, json.loads(text))
