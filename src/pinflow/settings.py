"""Runtime configuration: environment variables (``PINFLOW_*``) over an optional TOML file.

Precedence, highest first: arguments given to ``Settings(...)``, environment variables
(``PINFLOW_PARALLELISM=4``), the TOML file, then the defaults below. The TOML file is
``$PINFLOW_CONFIG`` when set, else ``$PINFLOW_HOME/pinflow.toml`` (``~/.pinflow/pinflow.toml``);
a missing file is fine. Its keys are the field names, at top level::

    database_url = "postgresql://pinflow@db/pinflow"
    parallelism = 8

Every directory defaults to a folder under ``home``, so one ``PINFLOW_HOME`` isolates a whole
installation (the tests give each test its own).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shlex
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pinflow.runtime.contract import XCOM_DB_LIMIT, XCOM_MAX_SIZE
from pinflow.runtime.envs import EnvConfig
from pinflow.runtime.private import private_dirs
from pinflow.spec import bundle_rules

CONFIG_FILE_NAME = "pinflow.toml"
SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name
_MIN_SECRET = 32


def default_home() -> Path:
    return Path(os.environ.get("PINFLOW_HOME") or Path.home() / ".pinflow")


def _under_home(name: str) -> Any:
    def factory(data: dict[str, Any]) -> Path:
        return Path(data["home"]) / name

    return Field(default_factory=factory)


def _default_database_url(data: dict[str, Any]) -> str:
    return f"sqlite:///{Path(data['home']) / 'pinflow.db'}"


class Settings(BaseSettings):
    """What the scheduler, the executors and the task processes are configured with."""

    model_config = SettingsConfigDict(env_prefix="PINFLOW_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    executor: str = Field(
        default="local",
        description="'local', 'celery', or 'package.module:Class' with a from_settings() factory",
    )
    database_url: str = Field(default_factory=_default_database_url)
    parallelism: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    heartbeat_interval: float = Field(default=5.0, gt=0, description="seconds")
    zombie_threshold: float = Field(
        default=60.0,
        gt=0,
        description="seconds without a heartbeat after which a live task counts as lost",
    )
    sweep_interval: float = Field(default=1.0, gt=0, description="seconds between safety sweeps")
    idle_interval: float = Field(
        default=30.0,
        gt=0,
        description="seconds between safety sweeps while nothing runs, when events wake the "
        "scheduler (standalone, or LISTEN on PostgreSQL); the next schedule is a timer of its own",
    )
    retirement_interval: float = Field(
        default=60.0,
        ge=0,
        description="seconds between two passes of the DAGs' retirement policies (ADR 0031), "
        "at the scheduler's sweeps",
    )
    poll_interval: float = Field(
        default=0.05, gt=0, description="seconds between looks for newly triggered runs"
    )
    statistics_interval: float = Field(
        default=10.0,
        ge=0,
        description="seconds between the scheduler's checks, at its sweeps, that PostgreSQL's "
        "planner statistics of task_instance and dag_run are fresh: a table changed past "
        "autovacuum's analyse threshold since it was last analysed is analysed (ADR 0046); "
        "0: never (autovacuum alone)",
    )
    run_callback_timeout: float = Field(
        default=300.0,
        gt=0,
        description="seconds a DAG's on_success/on_failure callback may take before its "
        "process is killed (ADR 0044)",
    )
    run_callback_parallelism: int = Field(
        default=4,
        ge=1,
        description="DAG on_success/on_failure callback processes one scheduler runs at once; "
        "the rest wait their turn in the run_callback table (ADR 0044)",
    )
    max_interruptions: int = Field(
        default=3,
        ge=0,
        description="interruptions in a row (executor stopped, supervisor died, process killed "
        "from outside) retried at once without spending one of the task's retries; past it an "
        "interruption counts as a failure (0: every interruption does)",
    )
    stop_grace: float = Field(
        default=10.0, ge=0, description="seconds a stopping executor gives tasks after SIGTERM"
    )
    xcom_db_limit: int = Field(
        default=XCOM_DB_LIMIT,
        ge=0,
        description="bytes of JSON above which a task's return value goes to the artifact store",
    )
    xcom_max_size: int = Field(
        default=XCOM_MAX_SIZE,
        ge=0,
        le=2**31 - 1,  # the ``xcom.size`` column is a 32-bit integer
        description="bytes of JSON above which a task's return value fails its try",
    )
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 key for access tokens; generated under home if unset"
    )
    jwt_expiration_time: int = Field(default=86400, ge=60, description="access token seconds")
    execution_token_ttl: int = Field(
        default=600,
        ge=30,
        le=86400,
        description="seconds a try token (the execution API's credential of one try) is valid; "
        "each accepted heartbeat returns a fresh one",
    )
    ui_session_idle_timeout: int = Field(
        default=8 * 3600,
        ge=60,
        description="seconds without activity after which a web UI session ends (each page "
        "or API call from the UI renews it)",
    )
    ui_session_max_age: int = Field(
        default=7 * 86400,
        ge=60,
        description="seconds after login after which a web UI session ends, active or not",
    )
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses or CIDRs of reverse proxies whose "
        "X-Forwarded-For names the client (login throttle, audit); empty: the socket address",
    )
    fernet_key: SecretStr | None = Field(
        default=None, description="key encrypting variables and connections at rest"
    )
    # -- scale-out: Celery workers on other hosts (docs/deploy.md) --------------------------
    hostname: str | None = Field(
        default=None,
        description="the name this process reports as its host (default: the machine's name)",
    )
    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="the Celery broker (amqp://… or redis://…) with PINFLOW_EXECUTOR=celery",
    )
    execution_api_url: str = Field(
        default="http://127.0.0.1:8080",
        description="where Celery workers reach the execution API (an api-server's base URL)",
    )
    default_queue: str = Field(
        default="default", description="the queue of a task that names none (``queue=``)"
    )
    queued_timeout: float = Field(
        default=600.0,
        gt=0,
        description="seconds a try may wait in the broker for a worker before it is sent again "
        "(Airflow's task_queued_timeout); a try whose claiming scheduler died is sent again "
        "after zombie_threshold",
    )
    scheduler_health_threshold: float = Field(
        default=30.0,
        gt=0,
        description="seconds without a heartbeat after which a scheduler or worker is unhealthy",
    )
    worker_concurrency: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="tries a Celery worker runs at once (pinflow celery worker --concurrency)",
    )
    shared_store_url: str | None = Field(
        default=None,
        description="fsspec URL of the store for XCom artifacts and run staging shared by "
        "every host (s3://bucket/prefix); default: file:// under artifacts_dir",
    )
    run_tasks_as_user: str | None = Field(
        default=None,
        description="run every task process as this unprivileged user (Airflow's "
        "run_as_user); the server must run as root; ADR 0021",
    )
    # -- operability (docs/operations.md) ---------------------------------------------------
    metrics_allow_from: str = Field(
        default="",
        description="comma-separated addresses or networks (10.0.0.0/8, ::1) whose scrapes of "
        "/metrics need no token; everyone else sends one (Authorization: Bearer)",
    )
    dags_are_paused_at_creation: bool = Field(
        default=False,
        description="a DAG that a push creates starts paused: its schedule does not fire and a "
        "manual trigger's run waits queued until it is unpaused (Airflow's "
        "dags_are_paused_at_creation); a DAG may override it with paused_at_creation= / "
        "is_paused_upon_creation=; ADR 0035",
    )
    # -- what one push may hold (docs/adr/0019-bundle-limits.md) ---------------------------
    max_bundle_bytes: int = Field(
        default=bundle_rules.DEFAULT_MAX_BUNDLE_BYTES,
        ge=1,
        description="bytes a pushed code bundle may unpack to; a push request larger than a "
        "bundle this size (base64) plus a spec of max_spec_bytes is refused with 413",
    )
    max_file_bytes: int = Field(
        default=bundle_rules.DEFAULT_MAX_FILE_BYTES, ge=1, description="bytes per bundle file"
    )
    max_bundle_files: int = Field(
        default=bundle_rules.DEFAULT_MAX_BUNDLE_FILES, ge=1, description="entries per bundle"
    )
    max_spec_bytes: int = Field(
        default=bundle_rules.DEFAULT_MAX_SPEC_BYTES,
        ge=1,
        description="bytes of a DAG spec's canonical JSON",
    )
    max_tasks_per_dag: int = Field(
        default=bundle_rules.DEFAULT_MAX_TASKS_PER_DAG, ge=1, description="tasks per DAG spec"
    )
    # -- per-version environments (docs/adr/0032-per-version-dependencies.md) -------------
    venv_dir: Path = _under_home("venvs")
    pip_args: str = Field(
        default="",
        description="extra arguments for pip (or uv) when building an environment, split as "
        "a shell would: '--no-index --find-links /wheels' for air-gapped installs",
    )
    venv_installer: Literal["auto", "pip", "uv"] = Field(
        default="auto", description="what installs requirements: uv when on PATH, else pip"
    )
    venv_failure_ttl: float = Field(
        default=300.0,
        ge=0,
        description="seconds a failed environment build is remembered (its tries fail at once "
        "with its error instead of building again)",
    )
    venv_build_timeout: float = Field(
        default=1800.0, gt=0, description="seconds one environment build may take"
    )
    logs_dir: Path = _under_home("logs")
    staging_dir: Path = _under_home("staging")
    snapshot_cache_dir: Path = _under_home("snapshots")
    artifacts_dir: Path = _under_home("artifacts")

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_cidrs(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or CIDR (e.g. 10.0.0.5 or 10.0.0.0/24)"
                ) from None
        return value

    @cached_property  # every task request carries it
    def artifacts_uri(self) -> str:
        """The artifact store's root, as task requests carry it: ``<shared_store_url>/artifacts``
        with a shared store, else ``artifacts_dir`` as a ``file:///…`` URI."""
        if self.shared_store_url:
            return f"{self.shared_store_url.rstrip('/')}/artifacts"
        return self.artifacts_dir.absolute().as_uri()

    @property
    def env_config(self) -> EnvConfig:
        """The environment cache as the executors and workers are given it (ADR 0032)."""
        return EnvConfig(
            venv_dir=self.venv_dir,
            pip_args=tuple(shlex.split(self.pip_args)),
            failure_ttl=self.venv_failure_ttl,
            installer=self.venv_installer,
            build_timeout=self.venv_build_timeout,
        )

    @property
    def bundle_limits(self) -> bundle_rules.BundleLimits:
        return bundle_rules.BundleLimits(
            max_bundle_bytes=self.max_bundle_bytes,
            max_file_bytes=self.max_file_bytes,
            max_bundle_files=self.max_bundle_files,
            max_spec_bytes=self.max_spec_bytes,
            max_tasks_per_dag=self.max_tasks_per_dag,
        )

    @property
    def max_push_body_bytes(self) -> int:
        """The largest push request read: a bundle at its limit in base64, a spec at its
        limit, and room for the JSON around them."""
        return -(-self.max_bundle_bytes // 3) * 4 + self.max_spec_bytes + 64 * 1024

    def instance_secret(self) -> str:
        """The instance's JWT secret: ``jwt_secret`` when set, else the one persisted under
        ``home`` (created on first use). Signs access tokens; try tokens use a key derived
        from it (``services.engine.TryTokens``)."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        return load_or_create_secret(self.home)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file(init_settings))
        return (init_settings, env_settings, toml)


def config_file(init_settings: PydanticBaseSettingsSource | None = None) -> Path:
    """The TOML file read: ``$PINFLOW_CONFIG``, else ``pinflow.toml`` in the home folder."""
    explicit = os.environ.get("PINFLOW_CONFIG")
    if explicit:
        return Path(explicit)
    given = getattr(init_settings, "init_kwargs", {}) or {}
    home = Path(given["home"]) if given.get("home") else default_home()
    return home / CONFIG_FILE_NAME


def home_secret(home: Path, name: str, generate: Callable[[], str]) -> str:
    """A secret persisted as ``$home/<name>`` (mode 0600), created atomically on first use.

    Two servers starting at once agree: the second finds the first one's file.
    """
    path = home / name
    if not path.exists():
        private_dirs(home)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(generate())
    return path.read_text().strip()


def load_or_create_secret(home: Path) -> str:
    """The persisted secret; created atomically (two servers starting at once agree)."""
    secret = home_secret(home, SECRET_FILE, lambda: secrets.token_hex(32))
    if len(secret) < _MIN_SECRET:
        path = home / SECRET_FILE
        raise RuntimeError(f"{path} holds no usable JWT secret; delete it to generate a new one.")
    return secret
