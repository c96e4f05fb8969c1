"""``airflow.sdk``: Airflow 3's authoring interface."""

from pinflow.compat.airflow._assets import Asset, AssetAll, AssetAny
from pinflow.compat.airflow._context import Context, get_current_context
from pinflow.compat.airflow._dag import DAG, dag
from pinflow.compat.airflow._edges import Label, chain, cross_downstream
from pinflow.compat.airflow._groups import TaskGroup, task_group
from pinflow.compat.airflow._operators import BaseOperator
from pinflow.compat.airflow._resources import BaseHook, Connection, Variable
from pinflow.compat.airflow._sensors import BaseSensorOperator, PokeReturnValue
from pinflow.compat.airflow._task import setup, task, teardown
from pinflow.compat.airflow._unsupported import unsupported
from pinflow.sdk.graph import XComArg
from pinflow.sdk.params import Param
from pinflow.spec.models import TriggerRule

__all__ = [
    "DAG",
    "Asset",
    "AssetAll",
    "AssetAny",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "Connection",
    "Context",
    "Label",
    "Param",
    "PokeReturnValue",
    "TaskGroup",
    "TriggerRule",
    "Variable",
    "XComArg",
    "chain",
    "cross_downstream",
    "dag",
    "get_current_context",
    "setup",
    "task",
    "task_group",
    "teardown",
]

__getattr__ = unsupported(__name__, {})
