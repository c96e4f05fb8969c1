"""Airflow's ``Variable``, ``Connection`` and ``BaseHook.get_connection`` inside tasks, on
Pinflow's (``pinflow.sdk.Variable`` / ``Connection``): each read goes over the try's own
channel, never to the database, and sees what the try may read (ADR 0012, ADR 0017).

Outside a running task (a DAG file's top level being compiled) a read raises
``TaskApiUnavailable`` saying so: Pinflow does not read variables at parse time.
"""

from __future__ import annotations

from typing import Any

from pinflow.compat.airflow.exceptions import AirflowNotFoundException
from pinflow.errors import NotFoundError
from pinflow.sdk import task_api

_MISSING: Any = object()


class Variable:
    """``Variable.get(key, default=..., deserialize_json=...)`` (Airflow 3) and its Airflow 2
    spelling ``default_var=``."""

    @staticmethod
    def get(
        key: str,
        default: Any = _MISSING,
        deserialize_json: bool = False,
        *,
        default_var: Any = _MISSING,
    ) -> Any:
        """The variable's value (parsed as JSON with ``deserialize_json``); the default when
        there is none, else ``KeyError`` as in Airflow."""
        fallback = default if default is not _MISSING else default_var
        if fallback is _MISSING:
            return task_api.Variable.get(key, deserialize_json=deserialize_json)
        return task_api.Variable.get(key, fallback, deserialize_json=deserialize_json)

    @staticmethod
    def set(key: str, value: Any, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            f"Variable.set({key!r}): tasks cannot write variables in Pinflow; set them with "
            "`pinflow variables set` or the API, or pass values between tasks as XComs"
        )


class Connection(task_api.Connection):
    """A connection as a task reads it (``Connection.get(conn_id)`` in Airflow 3)."""

    @classmethod
    def get(cls, conn_id: str) -> Connection:
        """The connection; ``AirflowNotFoundException`` when there is none, as in Airflow."""
        try:
            found = super().get(conn_id)
        except NotFoundError:
            raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined") from None
        assert isinstance(found, Connection)
        return found

    @classmethod
    def get_connection_from_secrets(cls, conn_id: str) -> Connection:
        return cls.get(conn_id)

    def get_uri(self) -> str:
        """``type://login:password@host:port/schema``, as Airflow builds it (without extra)."""
        auth = ""
        if self.login or self.password:
            auth = f"{self.login or ''}{':' + self.password if self.password else ''}@"
        port = f":{self.port}" if self.port else ""
        schema = f"/{self.schema}" if self.schema else ""
        return f"{self.conn_type.replace('_', '-')}://{auth}{self.host or ''}{port}{schema}"


class BaseHook:
    """``BaseHook.get_connection(conn_id)``: the connection, read over the try's channel."""

    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        return Connection.get(conn_id)
