"""The DAG specification: plain, frozen data that every other layer reads.

A spec is what a DAG file (Python SDK) or a YAML/JSON document compiles to. It survives a
round trip ``spec -> canonical JSON -> spec`` unchanged, and its canonical JSON (together with
the code bundle) is what a snapshot digest is computed from.

Parsing is deliberately *lenient about the graph*: a draft may reference a task that does not
exist yet, or name a cron expression that is still being typed. Those problems are reported by
``pinflow.spec.validation`` (strict for publish). Parsing is strict about *types*: a retry count
must be an integer, a trigger rule must be one Airflow knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from pinflow.spec.assets import AssetCondition, AssetSpec
from pinflow.spec.requirements import normalize_requirements

SCHEMA_VERSION: Final = 1

ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
Identifier = Annotated[str, Field(min_length=1, max_length=250, pattern=ID_PATTERN)]

KNOWN_TASK_KINDS = ("python", "bash", "http")

# Upper bounds keep numbers storable in a 32-bit column and sane for a scheduler.
MAX_RETRIES = 1000
MAX_SECONDS = 366 * 24 * 3600.0
MAX_COUNT = 100_000

DEFAULT_QUEUE: Final = "default"  # Airflow's ``[operators] default_queue``


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# A queue is a broker's name (a Celery queue), not one of Pinflow's ids: any text but blank,
# no longer than the column that stores it.
QueueName = Annotated[str, Field(min_length=1, max_length=250), AfterValidator(_not_blank)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ErrorStrategy(StrEnum):
    """What a run does when a task fails for good.

    ``continue``: independent branches keep running; the run fails at the end.
    ``fail_fast``: nothing new starts; tasks not yet started are marked ``upstream_failed``.
    """

    CONTINUE = "continue"
    FAIL_FAST = "fail_fast"


class TriggerRule(StrEnum):
    """Airflow's trigger rules, with Airflow's semantics (see ``pinflow.lifecycle``)."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"  # a teardown's (ADR 0033)


class TaskFlow(StrEnum):
    """What a task's return value decides about its downstream tasks (ADR 0033).

    ``branch``: the value names the task ids (or task group ids, or ``None``) to follow; the
    other direct downstream tasks are skipped. ``short_circuit``: a falsy value skips the
    downstream tasks (all of them, or only the direct ones: ``ignore_downstream_trigger_rules``).
    """

    BRANCH = "branch"
    SHORT_CIRCUIT = "short_circuit"


class ParamType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ARRAY = "array"
    OBJECT = "object"


class ParamSpec(_Frozen):
    """A typed context variable (Airflow's ``Param``); ``conf`` is validated against these."""

    type: ParamType = ParamType.STRING
    default: Any = None
    required: bool = False
    description: str | None = None
    enum: list[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None


class TriggerSpec(_Frozen):
    """When runs are created by the scheduler. ``schedule=None`` means manual triggers only."""

    schedule: str | None = None
    timezone: str = "UTC"
    start_date: datetime | None = None
    end_date: datetime | None = None
    catchup: bool = False
    max_catchup_runs: int = Field(default=100, ge=1, le=MAX_COUNT)
    # Left out of dumps when absent, so that a DAG without assets keeps its digest (ADR 0037).
    assets: AssetCondition | None = Field(
        default=None,
        description="scheduled on assets: a run when this condition holds (ADR 0037)",
        exclude_if=lambda v: v is None,
    )


class TaskDefaults(_Frozen):
    """Defaults applied to every task that does not set the field itself (``default_args``)."""

    retries: int = Field(default=0, ge=0, le=MAX_RETRIES)
    retry_delay: float = Field(default=300.0, ge=0, le=MAX_SECONDS, description="seconds")
    retry_exponential_backoff: bool = False
    max_retry_delay: float | None = Field(default=None, ge=0, le=MAX_SECONDS, description="seconds")
    execution_timeout: float | None = Field(
        default=None, gt=0, le=MAX_SECONDS, description="seconds"
    )
    pool: str = "default_pool"
    queue: QueueName = DEFAULT_QUEUE
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    depends_on_past: bool = Field(
        default=False,
        description="every task waits for itself in the DAG's previous run (ADR 0038)",
        exclude_if=lambda v: v is False,
    )


class XComRef(_Frozen):
    """A binding of a task argument to an upstream task's output (an XCom)."""

    task_id: str
    key: str = "return_value"


class HttpRequestSpec(_Frozen):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    expected_status: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])
    timeout: float = Field(default=30.0, gt=0, le=MAX_SECONDS)


class SensorMode(StrEnum):
    """How a sensor waits between pokes (Airflow's ``mode``)."""

    POKE = "poke"  # in its process, sleeping between pokes (it holds its slot)
    RESCHEDULE = "reschedule"  # its process ends; the scheduler starts it again when due


class SensorSpec(_Frozen):
    """A sensor task: it pokes until its condition holds (ADR 0036).

    The task's function returns whether the condition holds (a bool, or an object with
    ``is_done`` and ``xcom_value``: Airflow's ``PokeReturnValue``). ``timeout`` counts from
    the first poke; past it the task fails without retrying, or is skipped with
    ``soft_fail``. ``exponential_backoff`` doubles the wait after each poke, up to
    ``max_wait``.
    """

    poke_interval: float = Field(default=60.0, gt=0, le=MAX_SECONDS)
    timeout: float = Field(default=7 * 24 * 3600.0, gt=0, le=MAX_SECONDS)
    mode: SensorMode = SensorMode.POKE
    soft_fail: bool = False
    exponential_backoff: bool = False
    max_wait: float | None = Field(default=None, gt=0, le=MAX_SECONDS)

    def wait_after(self, pokes: int) -> float:
        """Seconds from poke number ``pokes`` (from 1) to the next: ``poke_interval``, or with
        ``exponential_backoff`` ``poke_interval * 2 ** (pokes - 1)`` (Airflow's, without its
        jitter), at most ``max_wait`` (a day without one)."""
        if not self.exponential_backoff:
            return self.poke_interval
        cap = self.max_wait if self.max_wait is not None else 24 * 3600.0
        exponent = min(max(pokes - 1, 0), 1000)
        return min(self.poke_interval * 2.0**exponent, cap)


class TaskSpec(_Frozen):
    """One step of a DAG. Unset execution fields fall back to the DAG's ``default_args``.

    ``kind`` is a plain string so that a draft with a typo still parses; strict validation
    names unknown kinds and kind-specific fields that are missing.
    """

    task_id: Identifier
    kind: str = "python"
    callable: str | None = Field(default=None, description="'module:qualname' in the bundle")
    bash_command: str | None = None
    http: HttpRequestSpec | None = None
    depends_on: list[str] = Field(default_factory=list)
    trigger_rule: TriggerRule | None = None
    retries: int | None = Field(default=None, ge=0, le=MAX_RETRIES)
    retry_delay: float | None = Field(default=None, ge=0, le=MAX_SECONDS)
    retry_exponential_backoff: bool | None = None
    max_retry_delay: float | None = Field(default=None, ge=0, le=MAX_SECONDS)
    execution_timeout: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    pool: str | None = None
    pool_slots: int = Field(default=1, ge=1, le=MAX_COUNT)
    queue: QueueName | None = Field(
        default=None, description="the workers' queue its tries go to (Celery)"
    )
    max_active_tis_per_dag: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COUNT,
        description="at most this many of its instances queued or running, over all runs",
    )
    args: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, XComRef] = Field(default_factory=dict)
    expand: dict[str, XComRef] = Field(default_factory=dict)
    doc: str | None = None
    # Fields added after snapshots were pushed are left out of dumps at their default
    # (``exclude_if``), so that the canonical JSON (and the digest) of a DAG that does not use
    # them stays what it was (ADR 0033). Keep ``OMITTED_AT_DEFAULT`` in step.
    flow: TaskFlow | None = Field(
        default=None,
        description="what its return value decides downstream (branch, short_circuit)",
        exclude_if=lambda v: v is None,
    )
    ignore_downstream_trigger_rules: bool = Field(
        default=True,
        description="short_circuit: skip every downstream task, not only the direct ones",
        exclude_if=lambda v: v is True,
    )
    setup: bool = Field(default=False, exclude_if=lambda v: v is False)
    teardown: bool = Field(default=False, exclude_if=lambda v: v is False)
    on_failure_fail_dagrun: bool = Field(
        default=False,
        description="teardown: its failure fails the run",
        exclude_if=lambda v: v is False,
    )
    outlets: list[AssetSpec] = Field(
        default_factory=list,
        description="assets its success updates: an asset event each (ADR 0037)",
        exclude_if=lambda v: not v,
    )
    inlets: list[AssetSpec] = Field(
        default_factory=list,
        description="assets it reads (shown as lineage only)",
        exclude_if=lambda v: not v,
    )
    depends_on_past: bool | None = Field(
        default=None,
        description="start only once the same task in the DAG's previous run (by logical "
        "date) is success or skipped (Airflow's depends_on_past, ADR 0038)",
        exclude_if=lambda v: v is None,
    )
    # Dynamic mapping beyond upstream outputs (ADR 0039), left out at their defaults too.
    expand_literals: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="arguments mapped over a literal list (a dict: its [key, value] pairs)",
        exclude_if=lambda v: not v,
    )
    expand_kwargs: XComRef | list[Any] | None = Field(
        default=None,
        description="one element per dict of this list (or of this upstream's list): "
        "the arguments of that element (Airflow's expand_kwargs)",
        exclude_if=lambda v: v is None,
    )
    expand_order: list[str] = Field(
        default_factory=list,
        description="the mapped arguments in the order they were given, when not sorted "
        "(the cross product's order: the last varies fastest)",
        exclude_if=lambda v: not v,
    )

    @property
    def mapped(self) -> bool:
        """Whether the task is mapped (Airflow's ``expand``/``expand_kwargs``)."""
        return bool(self.expand or self.expand_literals or self.expand_kwargs is not None)

    @property
    def mapped_names(self) -> list[str]:
        """The ``expand`` and ``expand_literals`` arguments in the cross product's order."""
        names = [*self.expand, *self.expand_literals]
        return self.expand_order if set(self.expand_order) == set(names) else sorted(names)

    @property
    def expand_refs(self) -> list[XComRef]:
        """The upstream outputs the task is mapped over."""
        refs = list(self.expand.values())
        if isinstance(self.expand_kwargs, XComRef):
            refs.append(self.expand_kwargs)
        return refs

    sensor: SensorSpec | None = Field(
        default=None,
        description="a sensor: poke until the condition holds (ADR 0036)",
        exclude_if=lambda v: v is None,
    )

    @property
    def upstream_task_ids(self) -> list[str]:
        """Every task this one waits for: explicit dependencies and data bindings, in order."""
        seen: dict[str, None] = dict.fromkeys(self.depends_on)
        for ref in (*self.inputs.values(), *self.expand_refs):
            seen.setdefault(ref.task_id, None)
        return list(seen)


# TaskSpec fields that dumps leave out while at their default (``exclude_if`` above).
OMITTED_AT_DEFAULT: Final[Mapping[str, object]] = {
    "flow": None,
    "ignore_downstream_trigger_rules": True,
    "setup": False,
    "teardown": False,
    "on_failure_fail_dagrun": False,
    "outlets": [],
    "inlets": [],
    "depends_on_past": None,
    "expand_literals": {},
    "expand_kwargs": None,
    "expand_order": [],
    "sensor": None,
}

EXPAND_KWARGS: Final = "__expand_kwargs__"
"""The reserved argument an ``expand_kwargs`` element arrives in (the runtime unpacks it)."""


class ResolvedTask(_Frozen):
    """A task with the DAG's defaults applied: what an executor and the scheduler act on."""

    task_id: str
    trigger_rule: TriggerRule
    retries: int
    retry_delay: float
    retry_exponential_backoff: bool
    max_retry_delay: float | None
    execution_timeout: float | None
    pool: str
    pool_slots: int
    queue: str = DEFAULT_QUEUE  # defaults only so that code building one by hand keeps working
    max_active_tis_per_dag: int | None = None


class RunCallbacks(_Frozen):
    """What is called when a run ends (Airflow's DAG-level ``on_success_callback`` and
    ``on_failure_callback``; ADR 0044): references (``module:qualname``) of module-level
    functions of the DAG's bundle, called with the run's context in a process of their own
    on the scheduler's host, never in the scheduler itself. ``runner``: a callable reference
    that builds the context and calls them (the Airflow layer's, for Airflow's context);
    ``None``: each is called with ``pinflow.sdk.RunEnd``."""

    on_success: list[str] = Field(default_factory=list)
    on_failure: list[str] = Field(default_factory=list)
    runner: str | None = None

    def for_outcome(self, succeeded: bool) -> list[str]:
        return self.on_success if succeeded else self.on_failure


class _TaskIndex(NamedTuple):
    tasks: list[TaskSpec]  # the very list it indexes (see ``DagSpec.tasks_by_id``)
    by_id: dict[str, TaskSpec]


class DagSpec(_Frozen):
    """A whole DAG definition (one version's content)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    dag_id: Identifier
    name: str = Field(default="", max_length=500)
    description: str | None = None
    owner: str = "pinflow"
    tags: list[str] = Field(default_factory=list)
    project: Identifier = "default"
    workflow_set: str | None = None
    error_strategy: ErrorStrategy = ErrorStrategy.CONTINUE
    trigger: TriggerSpec = Field(default_factory=TriggerSpec)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    default_args: TaskDefaults = Field(default_factory=TaskDefaults)
    max_active_runs: int = Field(default=16, ge=1, le=MAX_COUNT)
    max_active_tasks: int = Field(default=16, ge=1, le=MAX_COUNT)
    tasks: list[TaskSpec] = Field(default_factory=list)
    requirements: list[str] = Field(
        default_factory=list,
        description="PEP 508 requirements its tasks run with, in an environment of their own "
        "(ADR 0032); normalised and sorted",
    )
    paused_at_creation: bool | None = Field(
        default=None,
        description="whether the DAG starts paused when a push first creates it (Airflow's "
        "is_paused_upon_creation); None: the instance's dags_are_paused_at_creation",
    )
    dagrun_timeout: float | None = Field(
        default=None,
        gt=0,
        le=MAX_SECONDS,
        description="seconds: a running run older than this (from its start) is failed, its "
        "unfinished tasks skipped (Airflow's dagrun_timeout, ADR 0038)",
        exclude_if=lambda v: v is None,
    )
    # Left out of dumps when absent, so that a DAG without callbacks keeps its digest.
    callbacks: RunCallbacks | None = Field(
        default=None,
        description="called when a run succeeds or fails (ADR 0044)",
        exclude_if=lambda v: v is None,
    )

    @field_validator("requirements")
    @classmethod
    def _normalize_requirements(cls, value: list[str]) -> list[str]:
        return normalize_requirements(value)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        return value.strip()

    @property
    def display_name(self) -> str:
        """The human name; falls back to ``dag_id`` so confirmation always has something."""
        return self.name or self.dag_id

    @property
    def task_ids(self) -> list[str]:
        return [t.task_id for t in self.tasks]

    @property
    def tasks_by_id(self) -> Mapping[str, TaskSpec]:
        """The tasks by id, built once per spec (a draft that repeats an id: the first one).

        Kept in the instance's ``__dict__`` as ``functools.cached_property`` would be: pydantic
        dumps, serialises, hashes and compares fields only. Kept with the list it indexes,
        because ``model_copy(update={"tasks": ...})`` copies ``__dict__`` as it is.
        """
        index: _TaskIndex | None = self.__dict__.get("_task_index")
        if index is None or index.tasks is not self.tasks:
            by_id: dict[str, TaskSpec] = {}
            for t in self.tasks:
                by_id.setdefault(t.task_id, t)
            index = _TaskIndex(self.tasks, by_id)
            self.__dict__["_task_index"] = index
        return index.by_id

    def task(self, task_id: str) -> TaskSpec | None:
        return self.tasks_by_id.get(task_id)

    def depends_on_past(self, task: TaskSpec) -> bool:
        """Whether ``task`` waits for itself in the previous run (its own or the default)."""
        if task.depends_on_past is None:
            return self.default_args.depends_on_past
        return task.depends_on_past

    def resolve(self, task: TaskSpec) -> ResolvedTask:
        d = self.default_args
        return ResolvedTask(
            task_id=task.task_id,
            trigger_rule=task.trigger_rule or d.trigger_rule,
            retries=d.retries if task.retries is None else task.retries,
            retry_delay=d.retry_delay if task.retry_delay is None else task.retry_delay,
            retry_exponential_backoff=(
                d.retry_exponential_backoff
                if task.retry_exponential_backoff is None
                else task.retry_exponential_backoff
            ),
            max_retry_delay=d.max_retry_delay
            if task.max_retry_delay is None
            else task.max_retry_delay,
            execution_timeout=(
                d.execution_timeout if task.execution_timeout is None else task.execution_timeout
            ),
            pool=task.pool or d.pool,
            pool_slots=task.pool_slots,
            queue=task.queue or d.queue,
            max_active_tis_per_dag=task.max_active_tis_per_dag,
        )
