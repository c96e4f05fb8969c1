"""A version's requirements over HTTP (ADR 0032): the version detail lists them."""

from __future__ import annotations

from pathlib import Path

from tests.api.helpers import build_world, make_spec, publish

from pinflow.store.db import Database


def test_the_version_detail_lists_its_requirements(db: Database, tmp_path: Path) -> None:
    world = build_world(db, tmp_path)
    spec = make_spec().model_copy(update={"requirements": ["pfdemo==2.0"]})
    pinned = publish(db, spec)
    body = world.call("viewer", "GET", f"/api/workflows/{pinned}").json()
    assert body["requirements"] == ["pfdemo==2.0"]
    assert body["spec"]["requirements"] == ["pfdemo==2.0"]
    plain = world.call("viewer", "GET", f"/api/workflows/{world.active}").json()
    assert plain["requirements"] == []
