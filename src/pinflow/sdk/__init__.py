"""The authoring SDK: ``@dag`` / ``@task`` functions compiled to a ``DagSpec`` and a bundle.

Imports only ``pinflow.spec``, ``pinflow.errors`` and the standard library (an import-linter
contract checks it), so DAG files and workers pull in nothing of the control plane.
"""

from pinflow.sdk.context import RunEnd
from pinflow.sdk.dag import Dag, DagFunction, dag
from pinflow.sdk.decorators import TaskDecorator, task
from pinflow.sdk.graph import XComArg, chain
from pinflow.sdk.params import Param
from pinflow.sdk.sensors import PokeReturnValue
from pinflow.sdk.task import BashTask, PartialTask, Task
from pinflow.sdk.task_api import Connection, Variable, xcom_pull, xcom_push

__all__ = [
    "BashTask",
    "Connection",
    "Dag",
    "DagFunction",
    "Param",
    "PartialTask",
    "PokeReturnValue",
    "RunEnd",
    "Task",
    "TaskDecorator",
    "Variable",
    "XComArg",
    "chain",
    "dag",
    "task",
    "xcom_pull",
    "xcom_push",
]
