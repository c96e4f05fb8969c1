"""``Param``: a typed DAG parameter (Airflow's ``Param``), compiled to a ``ParamSpec``.

A plain value in ``@dag(params={...})`` is shorthand for ``Param(value)`` with the type taken
from the value. A ``Param`` without a default is required, as in Airflow: a manual trigger must
then supply it in ``conf``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from pinflow.sdk.arguments import to_json_value
from pinflow.sdk.options import type_name
from pinflow.spec.models import ParamSpec, ParamType


class _Missing(Enum):
    MISSING = "MISSING"


MISSING: Final = _Missing.MISSING

_PYTHON_TYPES: dict[type, ParamType] = {
    bool: ParamType.BOOLEAN,
    int: ParamType.INTEGER,
    float: ParamType.NUMBER,
    str: ParamType.STRING,
    list: ParamType.ARRAY,
    tuple: ParamType.ARRAY,
    dict: ParamType.OBJECT,
}


@dataclass(frozen=True)
class Param:
    """A DAG parameter. ``type`` is a JSON type name ("integer"...) or a Python type (int...)."""

    default: Any = MISSING
    type: ParamType | str | type | None = None
    description: str | None = None
    enum: Sequence[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    required: bool | None = field(default=None, kw_only=True)

    def to_spec(self, owner: str) -> ParamSpec:
        has_default = self.default is not MISSING
        default = to_json_value(owner, "default", self.default) if has_default else None
        kind = _param_type(owner, self.type, default)
        if default is not None and not _matches(kind, default):
            raise TypeError(f"{owner}: default {default!r} is not of type {kind.value!r}")
        enum_values = None if self.enum is None else to_json_value(owner, "enum", self.enum)
        if enum_values is not None and has_default and default not in enum_values:
            raise ValueError(f"{owner}: default {default!r} is not one of {enum_values!r}")
        _check_bounds(owner, kind, self.minimum, self.maximum)
        return ParamSpec(
            type=kind,
            default=default,
            required=(not has_default) if self.required is None else self.required,
            description=self.description,
            enum=enum_values,
            minimum=self.minimum,
            maximum=self.maximum,
        )


def params_to_specs(owner: str, params: object) -> dict[str, ParamSpec]:
    """``@dag(params=...)`` to spec: each value a ``Param`` or a plain JSON default."""
    if not isinstance(params, Mapping):
        raise TypeError(f"{owner}: params must be a dict, got {type_name(params)}")
    specs: dict[str, ParamSpec] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{owner}: param name {name!r} must be a Python identifier")
        param = value if isinstance(value, Param) else Param(value)
        specs[name] = param.to_spec(f"{owner} param {name!r}")
    return specs


def _param_type(owner: str, declared: object, default: Any) -> ParamType:
    if declared is None:
        return ParamType.STRING if default is None else _PYTHON_TYPES[type(default)]
    if isinstance(declared, type) and declared in _PYTHON_TYPES:
        return _PYTHON_TYPES[declared]
    if isinstance(declared, str):
        try:
            return ParamType(declared)
        except ValueError:
            pass
    known = ", ".join(t.value for t in ParamType)
    raise ValueError(f"{owner}: unknown type {declared!r}; one of: {known} or a Python type")


def _matches(kind: ParamType, value: Any) -> bool:
    if kind is ParamType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is ParamType.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    expected = {
        ParamType.STRING: str,
        ParamType.BOOLEAN: bool,
        ParamType.ARRAY: list,
        ParamType.OBJECT: dict,
    }[kind]
    return isinstance(value, expected)


def _check_bounds(owner: str, kind: ParamType, low: object, high: object) -> None:
    if low is None and high is None:
        return
    if kind not in (ParamType.INTEGER, ParamType.NUMBER):
        raise ValueError(f"{owner}: minimum/maximum only apply to integer and number params")
    for bound in (low, high):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)):
            raise TypeError(f"{owner}: minimum/maximum must be numbers, got {type_name(bound)}")
    if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
        raise ValueError(f"{owner}: minimum {low} is greater than maximum {high}")
