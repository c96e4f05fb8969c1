"""Airflow's ``Asset`` (``Dataset`` in Airflow 2), ``AssetAll``, ``AssetAny``, and what a
DAG file does with them: ``outlets=[...]``, ``inlets=[...]``, ``schedule=[...]`` and
``schedule=a & (b | c)``. They become the spec's ``AssetSpec``/``AssetCondition``
(docs/adr/0037); a run needs nothing of them but what the spec says.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from pinflow.sdk.options import type_name
from pinflow.spec.assets import DEFAULT_GROUP, AssetCondition, AssetSpec


class BaseAsset:
    """What can be combined with ``&`` (all of) and ``|`` (any of)."""

    def __and__(self, other: object) -> AssetAll:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(self, other)

    def __or__(self, other: object) -> AssetAny:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAny(self, other)

    def as_condition(self) -> AssetCondition:
        raise NotImplementedError


class Asset(BaseAsset):
    """``Asset("s3://bucket/key")``, ``Asset(name="x")``, ``Asset(uri, group=..., extra=...)``.

    As in Airflow 3, ``name`` defaults to the uri and the uri to the name; the uri is checked
    when the asset is created, so a mistake is a problem at its line.
    """

    def __init__(
        self,
        name: str | None = None,
        uri: str | None = None,
        *,
        group: str = DEFAULT_GROUP,
        extra: Mapping[str, Any] | None = None,
        watchers: Sequence[object] | None = None,
    ) -> None:
        if watchers:
            raise TypeError(
                "Asset(watchers=...): asset watchers are not supported; trigger the DAG "
                "through the API (POST /api/v2/assets/events) instead"
            )
        if name is None and uri is None:
            raise TypeError("Asset() needs a name or a uri")
        for label, value in (("name", name), ("uri", uri), ("group", group)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"Asset: {label} must be a str, got {type_name(value)}")
        if extra is not None and not isinstance(extra, Mapping):
            raise TypeError(f"Asset: extra must be a dict, got {type_name(extra)}")
        if uri is None:
            uri = name
        assert uri is not None
        self.spec = AssetSpec(uri=uri, name=name or "", group=group, extra=dict(extra or {}))

    @property
    def uri(self) -> str:
        return self.spec.uri

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def group(self) -> str:
        return self.spec.group

    @property
    def extra(self) -> dict[str, Any]:
        return self.spec.extra

    def as_condition(self) -> AssetCondition:
        return AssetCondition(asset=self.spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Asset) and (other.name, other.uri) == (self.name, self.uri)

    def __hash__(self) -> int:
        return hash((self.name, self.uri))

    def __repr__(self) -> str:
        return f"Asset(name={self.name!r}, uri={self.uri!r})"


class Dataset(Asset):
    """Airflow 2's name for an asset (``airflow.datasets.Dataset``): ``Dataset(uri)``."""

    def __init__(self, uri: str, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(uri=uri, extra=extra)


class _Combined(BaseAsset):
    word = ""

    def __init__(self, *objects: BaseAsset) -> None:
        for item in objects:
            if not isinstance(item, BaseAsset):
                raise TypeError(
                    f"{type(self).__name__}: operands are assets or asset conditions, "
                    f"got {type_name(item)}"
                )
        if not objects:
            raise TypeError(f"{type(self).__name__}() needs at least one asset")
        self.objects = objects

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"


class AssetAll(_Combined):
    """All of the assets (conditions) updated since the DAG's last asset-triggered run."""

    def as_condition(self) -> AssetCondition:
        return AssetCondition(all=[o.as_condition() for o in self.objects])


class AssetAny(_Combined):
    """Any of the assets (conditions) updated."""

    def as_condition(self) -> AssetCondition:
        return AssetCondition(any=[o.as_condition() for o in self.objects])


def is_asset_schedule(value: object) -> bool:
    """Whether a DAG's ``schedule`` is on assets (one, a condition, or a list of them)."""
    if isinstance(value, BaseAsset):
        return True
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(v, BaseAsset) for v in value)
    )


def schedule_condition(owner: str, value: object) -> AssetCondition:
    """``schedule=[a, b]`` (all of them), ``schedule=a``, ``schedule=a | b``..."""
    if isinstance(value, BaseAsset):
        return value.as_condition()
    if not isinstance(value, list | tuple) or not value:
        raise TypeError(f"{owner}: schedule on assets needs at least one Asset")
    return AssetCondition(all=[item.as_condition() for item in value])


def task_assets(owner: str, name: str, value: object) -> list[AssetSpec]:
    """A task's ``outlets``/``inlets``: Assets (one or a list)."""
    if value is None:
        return []
    items = [value] if isinstance(value, BaseAsset) else value
    if not isinstance(items, list | tuple | set | frozenset):
        raise TypeError(f"{owner}: {name} must be a list of Assets, got {type_name(value)}")
    specs = []
    for item in items:
        if not isinstance(item, Asset):
            raise TypeError(
                f"{owner}: {name} takes Assets (asset aliases are not supported yet), "
                f"got {type_name(item)}"
            )
        specs.append(item.spec)
    return specs


class TriggeringAssetEvents(Mapping[Asset, list[SimpleNamespace]]):
    """``context["triggering_asset_events"]``: an asset-triggered run's events by asset, each
    with ``extra``, ``source_dag_id``, ``source_run_id``, ``source_task_id``,
    ``source_map_index``, ``timestamp`` and ``asset``. Keys are Assets; a uri works too."""

    def __init__(self, events: Sequence[Mapping[str, Any]]) -> None:
        self._by_uri: dict[str, list[SimpleNamespace]] = {}
        self._assets: dict[str, Asset] = {}
        for event in events:
            uri = str(event["uri"])
            asset = self._assets.setdefault(
                uri,
                Asset(name=event.get("name") or uri, uri=uri, group=event.get("group") or "asset"),
            )
            view = SimpleNamespace(
                asset=asset,
                id=event.get("id"),
                extra=dict(event.get("extra") or {}),
                source_dag_id=event.get("source_dag_id"),
                source_run_id=event.get("source_run_id"),
                source_task_id=event.get("source_task_id"),
                source_map_index=event.get("source_map_index", -1),
                timestamp=datetime.fromisoformat(str(event["timestamp"])),
            )
            self._by_uri.setdefault(uri, []).append(view)

    def __getitem__(self, key: object) -> list[SimpleNamespace]:
        uri = key.uri if isinstance(key, Asset) else key
        if not isinstance(uri, str) or uri not in self._by_uri:
            raise KeyError(key)
        return self._by_uri[uri]

    def __iter__(self) -> Iterator[Asset]:
        return (self._assets[uri] for uri in self._by_uri)

    def __len__(self) -> int:
        return len(self._by_uri)
