"""The poke loop inside a sensor's task process (ADR 0036), on a fake clock."""

from __future__ import annotations

import pytest

from pinflow.runtime.contract import RescheduleTask, SensorTimeout
from pinflow.runtime.sensors import poke_outcome, run_sensor
from pinflow.sdk import PokeReturnValue
from pinflow.spec.models import SensorMode, SensorSpec


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pokes(*answers: object) -> object:
    it = iter(answers)
    return lambda: next(it)


def test_poke_mode_sleeps_between_pokes_and_returns_the_done_value() -> None:
    clock = Clock()
    sensor = SensorSpec(poke_interval=2, timeout=100)
    poke = pokes(False, PokeReturnValue(False), PokeReturnValue(True, {"rows": 3}))
    assert run_sensor(sensor, poke, clock=clock, sleep=clock.sleep) == {"rows": 3}  # type: ignore[arg-type]
    assert clock.slept == [2, 2]


def test_poke_mode_times_out_and_never_sleeps_past_the_timeout() -> None:
    clock = Clock()
    sensor = SensorSpec(poke_interval=4, timeout=10)
    with pytest.raises(SensorTimeout, match="not done after 10s"):
        run_sensor(sensor, lambda: False, clock=clock, sleep=clock.sleep)
    assert clock.slept == [4, 4, 2]


def test_reschedule_mode_ends_the_process_after_a_poke_that_is_not_done() -> None:
    sensor = SensorSpec(mode=SensorMode.RESCHEDULE)
    with pytest.raises(RescheduleTask):
        run_sensor(sensor, lambda: False, sleep=pytest.fail)
    assert run_sensor(sensor, lambda: True) is None


def test_a_poke_says_done_by_truth_or_by_is_done() -> None:
    assert poke_outcome(1) == (True, None)
    assert poke_outcome([]) == (False, None)
    assert poke_outcome(PokeReturnValue(is_done=True, xcom_value="x")) == (True, "x")
