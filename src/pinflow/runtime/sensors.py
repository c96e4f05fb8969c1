"""A sensor's pokes inside its task process (ADR 0036).

The task's function (or a ``BaseSensorOperator``'s ``poke``) is called once per poke and says
whether its condition holds: a bool, or an object with ``is_done`` and ``xcom_value``
(Airflow's ``PokeReturnValue``), whose ``xcom_value`` is then the task's return value. In
``poke`` mode the process sleeps between pokes (the task's own code waiting, which holds its
slot, as in Airflow) until done or past ``timeout``; in ``reschedule`` mode a poke that is not
done ends the process (``RescheduleTask``) and the scheduler starts it again when the next
poke is due. The timeout of a rescheduled sensor is the scheduler's to decide: it alone knows
when the first poke was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pinflow.runtime.contract import RescheduleTask, SensorTimeout
from pinflow.spec.models import SensorMode, SensorSpec


def poke_outcome(value: Any) -> tuple[bool, Any]:
    """Whether a poke's ``value`` says done, and the value the task returns then."""
    if hasattr(value, "is_done") and hasattr(value, "xcom_value"):
        return bool(value.is_done), value.xcom_value
    return bool(value), None


def run_sensor(
    sensor: SensorSpec,
    poke: Callable[[], Any],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Poke until done; the done poke's value. Raises ``RescheduleTask`` (reschedule mode, not
    done) or ``SensorTimeout`` (poke mode, still not done ``timeout`` seconds after the
    first poke)."""
    started = clock()
    pokes = 0
    while True:
        done, value = poke_outcome(poke())
        pokes += 1
        if done:
            return value
        if sensor.mode == SensorMode.RESCHEDULE:
            raise RescheduleTask(f"poke {pokes} not done; rescheduled")
        left = sensor.timeout - (clock() - started)
        if left <= 0:
            raise SensorTimeout(
                f"sensor still not done after {sensor.timeout:g}s ({pokes} pokes); "
                "it is not retried"
            )
        sleep(min(sensor.wait_after(pokes), left))
