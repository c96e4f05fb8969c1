"""The fixtures of the end-to-end tests that run DAGs with the real scheduler and local executor
(tests/scheduler/, tests/compat/: their conftest.py re-export them): the settings of a home under
the test's folder, and a scheduler started on them and closed after the test. A module that needs
other settings overrides ``settings`` only; ``scheduler`` then runs on those."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.scheduler.helpers import make_settings, running_scheduler

from pinflow.scheduler.loop import Scheduler
from pinflow.settings import Settings
from pinflow.store.db import Database


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return make_settings(db, tmp_path / "home")


@pytest.fixture
def scheduler(db: Database, settings: Settings) -> Iterator[Scheduler]:
    with running_scheduler(db, settings) as running:
        yield running
