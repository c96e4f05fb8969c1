"""Assets (Airflow's ``Asset``, formerly ``Dataset``): what a task updates (``outlets``) and
what a DAG is scheduled on (``TriggerSpec.assets``, a condition of ``all``/``any`` nested).

An asset is identified by its ``uri``; ``name`` defaults to it, as in Airflow 3. The rules of
a valid URI are Airflow's: not blank, ASCII, at most 1,500 characters, and not the scheme
``airflow``, which Airflow reserves; a scheme is lower-cased. See docs/adr/0037.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_URI = 1500
DEFAULT_GROUP = "asset"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def normalize_uri(uri: str) -> str:
    """An asset's URI as stored: checked as Airflow does, its scheme lower-cased."""
    if not uri or not uri.strip():
        raise ValueError("an asset's uri must not be blank")
    if len(uri) > MAX_URI:
        raise ValueError(f"an asset's uri is at most {MAX_URI} characters long")
    if not uri.isascii():
        raise ValueError(f"an asset's uri must be ASCII: {uri!r}")
    if uri != uri.strip():
        raise ValueError(f"an asset's uri must not start or end with spaces: {uri!r}")
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri  # a plain name (Airflow accepts it as an opaque identifier)
    if not scheme:
        raise ValueError(f"an asset's uri has an empty scheme: {uri!r}")
    if scheme.lower() == "airflow":
        raise ValueError(f"the uri scheme 'airflow' is reserved: {uri!r}")
    return f"{scheme.lower()}://{rest}"


class AssetSpec(_Frozen):
    """One asset: ``uri`` identifies it; ``name`` defaults to the uri, ``group`` to "asset"."""

    uri: str = Field(max_length=MAX_URI)
    name: str = Field(default="", max_length=MAX_URI)
    group: str = Field(default=DEFAULT_GROUP, max_length=MAX_URI)
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _checked(self) -> Self:
        uri = normalize_uri(self.uri)
        if uri != self.uri:
            object.__setattr__(self, "uri", uri)
        if not self.name:
            object.__setattr__(self, "name", uri)
        if not self.group.strip():
            raise ValueError("an asset's group must not be blank")
        return self


class AssetCondition(_Frozen):
    """A DAG's asset schedule: one asset, or ``all``/``any`` of nested conditions (Airflow's
    ``AssetAll``/``AssetAny``, ``&``/``|``, and ``schedule=[a, b]`` meaning all of them)."""

    asset: AssetSpec | None = Field(default=None, exclude_if=lambda v: v is None)
    all: list[AssetCondition] | None = Field(default=None, exclude_if=lambda v: v is None)
    any: list[AssetCondition] | None = Field(default=None, exclude_if=lambda v: v is None)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [k for k in ("asset", "all", "any") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("an asset condition is exactly one of: asset, all, any")
        operands = self.all if self.all is not None else self.any
        if operands is not None and not operands:
            raise ValueError("an asset condition's all/any needs at least one operand")
        return self

    def assets(self) -> list[AssetSpec]:
        """Every asset the condition names, each once, in order."""
        if self.asset is not None:
            return [self.asset]
        seen: dict[str, AssetSpec] = {}
        for operand in self.all or self.any or []:
            for asset in operand.assets():
                seen.setdefault(asset.uri, asset)
        return list(seen.values())

    def describe(self) -> str:
        """A one-line rendering, for pages and messages: ``(a & (b | c))``."""
        if self.asset is not None:
            return self.asset.uri
        joiner = " & " if self.all is not None else " | "
        parts = [operand.describe() for operand in self.all or self.any or []]
        return parts[0] if len(parts) == 1 else f"({joiner.join(parts)})"
