"""The executor seam: executors are loaded by name, and the scheduler imports no implementation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pinflow.errors import InvalidInputError
from pinflow.executors.base import EXECUTORS, load_executor
from pinflow.executors.local import LocalExecutor
from pinflow.settings import Settings


def _settings(tmp_path: Path, executor: str) -> Settings:
    return Settings(home=tmp_path, executor=executor, parallelism=3)


def test_a_name_loads_its_executor_through_from_settings(tmp_path: Path) -> None:
    executor = load_executor(_settings(tmp_path, "local"))
    assert isinstance(executor, LocalExecutor)
    assert executor.parallelism == 3


def test_a_dotted_path_loads_an_executor_the_registry_does_not_name(tmp_path: Path) -> None:
    path = "pinflow.executors.local:LocalExecutor"
    assert path not in EXECUTORS
    assert isinstance(load_executor(_settings(tmp_path, path)), LocalExecutor)


@pytest.mark.parametrize("name", ["nowhere.to.be:Found", "pinflow.executors.local:Nothing"])
def test_an_executor_that_cannot_be_loaded_names_the_choices(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_executor(_settings(tmp_path, name))
    message = str(caught.value)
    assert f"PINFLOW_EXECUTOR={name!r}" in message
    assert "Use one of celery, local, or 'package.module:Class'" in message


def test_the_scheduler_imports_no_executor_implementation() -> None:
    code = (
        "import sys, pinflow.scheduler.main, pinflow.scheduler.loop; "
        "print(sorted(m for m in sys.modules if m.startswith('pinflow.executors')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "['pinflow.executors', 'pinflow.executors.base']"
