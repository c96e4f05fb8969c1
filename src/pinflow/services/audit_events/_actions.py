"""Every action the audit log records.

The values are stored, and the API, the UI and saved filters match them (whole, or by the
prefix before the dot): renaming one loses the history filed under the old name. Seed 001
names the ``workflow.*`` lifecycle ones.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    # A version's lifecycle (seed 001): target ``workflow``, the version's id.
    VERSION_CREATED = "workflow.version_created"
    VERSION_EDITED = "workflow.edited"
    VERSION_PUBLISHED = "workflow.published"
    VERSION_DEPRECATED = "workflow.deprecated"
    VERSION_REVERTED_TO_DRAFT = "workflow.reverted_to_draft"
    VERSION_DEV_SAVED = "workflow.dev_saved"
    VERSION_DELETED = "workflow.deleted"
    VERSION_RESTORED = "workflow.restored"
    VERSION_PURGED = "workflow.purged"
    VERSION_CANARY_STARTED = "workflow.canary_started"

    # A DAG (seed 000): target ``dag``, the DAG's id.
    DAG_REGISTERED = "dag.registered"
    DAG_PUSHED = "dag.pushed"
    DAG_CURRENT_VERSION_SET = "dag.current_version_set"
    DAG_HISTORY_CLEARED = "dag.history_cleared"
    DAG_DEREGISTERED = "dag.deregistered"
    DAG_RESTORED = "dag.restored"
    DAG_PURGED = "dag.purged"
    DAG_PAUSED = "dag.paused"
    DAG_UNPAUSED = "dag.unpaused"
    DAG_RERUN_WITH_LATEST_VERSION_SET = "dag.rerun_with_latest_version_set"
    DAG_RETIREMENT_POLICY_SET = "dag.retirement_policy_set"
    # A DAG file that does not compile: target ``import_error``, the file name.
    DAG_IMPORT_ERROR = "dag.import_error"

    # A run: target ``dag_run``, ``<dag_id>/<run_id>``.
    RUN_TRIGGERED = "run.triggered"
    RUN_FINISHED = "run.finished"
    RUN_STATE_SET = "run.state_set"
    RUN_NOTE_SET = "run.note_set"
    RUN_TASKS_CLEARED = "run.tasks_cleared"
    RUN_DELETED = "run.deleted"

    # A manual asset event (``POST /api/v2/assets/events``): target ``asset``, its uri.
    ASSET_EVENT_CREATED = "asset.event_created"
    # A backfill (ADR 0040): target ``backfill``, its id.
    BACKFILL_CREATED = "backfill.created"
    BACKFILL_PAUSED = "backfill.paused"
    BACKFILL_UNPAUSED = "backfill.unpaused"
    BACKFILL_CANCELLED = "backfill.cancelled"

    # A task instance: target ``task_instance``, ``<dag_id>/<run_id>/<task_id>``.
    TASK_STATE_SET = "task.state_set"
    TASK_NOTE_SET = "task.note_set"
    TASK_EXPAND_FAILED = "task.expand_failed"

    # Instance-wide resources: target ``pool``, ``variable`` or ``connection``, by name.
    POOL_CREATED = "pool.created"
    POOL_UPDATED = "pool.updated"
    POOL_DELETED = "pool.deleted"
    VARIABLE_CREATED = "variable.created"
    VARIABLE_UPDATED = "variable.updated"
    VARIABLE_DELETED = "variable.deleted"
    CONNECTION_CREATED = "connection.created"
    CONNECTION_UPDATED = "connection.updated"
    CONNECTION_DELETED = "connection.deleted"

    # Users, their roles and API tokens: target ``user``, the username.
    USER_CREATED = "user.created"
    USER_PASSWORD_SET = "user.password_set"  # noqa: S105 (an action name, not a secret)
    USER_SESSIONS_ENDED = "user.sessions_ended"
    USER_ENABLED = "user.enabled"
    USER_DISABLED = "user.disabled"
    USER_DELETED = "user.deleted"
    USER_ROLE_GRANTED = "user.role_granted"
    USER_ROLE_REVOKED = "user.role_revoked"
    TOKEN_CREATED = "token.created"  # noqa: S105
    TOKEN_REVOKED = "token.revoked"  # noqa: S105
    # A refused password login (by the anonymous actor): target ``user``, the name tried.
    LOGIN_FAILED = "auth.login_failed"

    # Retention (``pinflow db clean``), one per batch: target ``database``, the DAG cleaned or
    # ``*`` for all of them.
    DB_CLEANED = "db.cleaned"
