"""Commands: one use case each (publish, trigger, clear, delete, pause, users, resources...),
one transaction, one audit event. What the API, the UI and the CLI call to change state.

This face is the room's public API; the modules behind it are private."""

from __future__ import annotations

from pinflow.services.commands import _assets as assets
from pinflow.services.commands import _backfills as backfills
from pinflow.services.commands import _canary as canary
from pinflow.services.commands import _clear as clear
from pinflow.services.commands import _dags as dags
from pinflow.services.commands import _import_errors as import_errors
from pinflow.services.commands import _logins as logins
from pinflow.services.commands import _push as push
from pinflow.services.commands import _resource_pools as pools
from pinflow.services.commands import _resources as resources
from pinflow.services.commands import _retention as retention
from pinflow.services.commands import _retirement as retirement
from pinflow.services.commands import _run_states as run_states
from pinflow.services.commands import _runs as runs
from pinflow.services.commands import _task_states as task_states
from pinflow.services.commands import _users as users
from pinflow.services.commands import _version_deletes as version_deletes
from pinflow.services.commands import _versions as versions
from pinflow.services.commands._backfills import BackfillRequest, Interval
from pinflow.services.commands._clear import ClearResult
from pinflow.services.commands._import_errors import ImportErrorView
from pinflow.services.commands._resource_pools import PoolView
from pinflow.services.commands._resources import Cipher, ConnectionView, VariableView
from pinflow.services.commands._users import TokenView, UserView

__all__ = [
    "BackfillRequest",
    "Cipher",
    "ClearResult",
    "ConnectionView",
    "ImportErrorView",
    "Interval",
    "PoolView",
    "TokenView",
    "UserView",
    "VariableView",
    "assets",
    "backfills",
    "canary",
    "clear",
    "dags",
    "import_errors",
    "logins",
    "pools",
    "push",
    "resources",
    "retention",
    "retirement",
    "run_states",
    "runs",
    "task_states",
    "users",
    "version_deletes",
    "versions",
]
