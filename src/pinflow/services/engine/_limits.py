"""Limits the engine reads from the environment when it needs them (cheap, always current).

``PINFLOW_MAX_MAP_LENGTH``: at most this many task instances of one mapped task (Airflow's
``[core] max_map_length``); an expansion beyond it fails the task, saying so (ADR 0039).
"""

from __future__ import annotations

import os

from pinflow.lifecycle.mapping import MAX_MAP_LENGTH

MAX_MAP_LENGTH_VARIABLE = "PINFLOW_MAX_MAP_LENGTH"


def max_map_length() -> int:
    """The limit in force: the variable when it is a positive integer, else the default."""
    raw = os.environ.get(MAX_MAP_LENGTH_VARIABLE, "").strip()
    try:
        value = int(raw)
    except ValueError:
        return MAX_MAP_LENGTH
    return value if value > 0 else MAX_MAP_LENGTH
