"""A DAG's params: whether their declarations hold together, and the ``conf`` a run gives them.

One value check serves both: a param's default and enum options must pass the check that a
run's value must pass (see :func:`validate_conf`).
"""

from __future__ import annotations

import copy
import math
from typing import Any

from pinflow.errors import InvalidInputError, Problem, format_problems
from pinflow.spec.locations import format_location
from pinflow.spec.models import DagSpec, ParamSpec, ParamType

_NUMERIC = (ParamType.INTEGER, ParamType.NUMBER)


def param_problems(name: str, param: ParamSpec) -> list[Problem]:
    """What makes the declaration of param ``name`` unusable: bounds on a non-number, bounds
    the wrong way round, enum options or a default that the param itself would refuse."""

    def at(*parts: str | int) -> str:
        return format_location("params", name, *parts)

    numeric = param.type in _NUMERIC
    found: list[tuple[str, str | None]] = [
        (at(bound), f"'{bound}' applies only to integer and number params")
        for bound in ("minimum", "maximum")
        if getattr(param, bound) is not None and not numeric
    ]
    low, high = param.minimum, param.maximum
    if numeric and low is not None and high is not None and high < low:
        found.append((at("maximum"), f"maximum {high:g} is less than minimum {low:g}"))
    found += [(at("enum", k), _type_problem(param.type, v)) for k, v in enumerate(param.enum or ())]
    if param.default is not None:
        found.append((at("default"), _value_problem(param, param.default)))
    return [Problem(location, message) for location, message in found if message]


def validate_conf(spec: DagSpec, conf: dict[str, Any] | None) -> dict[str, Any]:
    """The params a run sees: defaults overlaid with ``conf``; undeclared keys pass through.

    Types follow JSON Schema as Airflow's ``Param`` does, except that ``integer`` accepts only
    ints (not ``1.0``), so a task declared to get an int never receives a float. ``None`` for
    a param counts as not given.
    """
    conf = conf or {}
    resolved = {key: value for key, value in conf.items() if key not in spec.params}
    problems = []
    for name, param in spec.params.items():
        value = conf.get(name)
        if value is None:
            value = copy.deepcopy(param.default)  # a run must not be able to edit the spec
        if value is None and param.required:
            problems.append(
                Problem(format_location("conf", name), "required param is missing (no default)")
            )
            continue
        message = None if value is None else _value_problem(param, value)
        if message:
            problems.append(Problem(format_location("conf", name), message))
        resolved[name] = value
    if problems:
        raise InvalidInputError(
            f"conf does not match the DAG's params: {format_problems(problems)}",
            problems=problems,
        )
    return resolved


def _value_problem(param: ParamSpec, value: Any) -> str | None:
    type_problem = _type_problem(param.type, value)
    if type_problem:
        return type_problem
    if param.enum is not None and not any(_same(value, option) for option in param.enum):
        options = ", ".join(_show(option) for option in param.enum)
        return f"expected one of {options}, got {_show(value)}"
    if param.type in _NUMERIC:
        if param.minimum is not None and value < param.minimum:
            return f"expected at least {param.minimum:g}, got {_show(value)}"
        if param.maximum is not None and value > param.maximum:
            return f"expected at most {param.maximum:g}, got {_show(value)}"
    return None


def _type_problem(expected: ParamType, value: Any) -> str | None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    matches = {
        ParamType.STRING: isinstance(value, str),
        ParamType.INTEGER: is_number and isinstance(value, int),
        ParamType.NUMBER: is_number and (isinstance(value, int) or math.isfinite(value)),
        ParamType.BOOLEAN: isinstance(value, bool),
        ParamType.ARRAY: isinstance(value, list | tuple),
        ParamType.OBJECT: isinstance(value, dict),
    }[expected]
    return None if matches else f"expected {expected.value}, got {_show(value)}"


def _same(value: Any, option: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1``, as JSON does."""
    return isinstance(value, bool) == isinstance(option, bool) and bool(value == option)


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
