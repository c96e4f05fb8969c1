"""Seed 001's two UI tables, to the letter, and the permission filter on top of them."""

from __future__ import annotations

import pytest

from pinflow.lifecycle.permissions import Principal, Role
from pinflow.lifecycle.states import VersionStatus
from pinflow.ui.actions import Page, actions_for

ADMIN = Principal("root", is_superuser=True)
S = VersionStatus


def labels(page: Page, status: VersionStatus, viewer: Principal = ADMIN, **kw: bool) -> list[str]:
    deleted = kw.get("deleted", False)
    found = actions_for(page, status, deleted=deleted, project="alpha", viewer=viewer)
    return [a.label for a in found]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.DRAFT, ["Test Run", "Edit", "Publish", "Delete"]),
        (S.ACTIVE, ["Start Run", "View Runs", "New Version", "Deprecate", "Delete"]),
        (S.DEPRECATED, ["View Runs", "New Version", "Revert to Draft", "Delete"]),
    ],
)
def test_detail_page_actions(status: VersionStatus, expected: list[str]) -> None:
    assert labels(Page.DETAIL, status) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.DRAFT, ["Test Run", "Edit", "Publish", "Delete"]),
        (S.ACTIVE, ["Start Run", "New Version", "Deprecate", "Delete"]),
        (S.DEPRECATED, ["New Version", "Delete"]),
    ],
)
def test_list_row_actions(status: VersionStatus, expected: list[str]) -> None:
    assert labels(Page.LIST, status) == expected


@pytest.mark.parametrize("status", list(VersionStatus))
def test_a_deleted_version_offers_restore_and_permanent_delete(status: VersionStatus) -> None:
    assert labels(Page.DETAIL, status, deleted=True) == ["Restore", "Delete permanently"]
    assert labels(Page.LIST, status, deleted=True) == ["Restore", "Delete permanently"]


def test_actions_the_viewer_may_not_use_are_not_shown() -> None:
    viewer = Principal("v", roles={"alpha": Role.VIEWER})
    operator = Principal("o", roles={"alpha": Role.OPERATOR})
    elsewhere = Principal("e", roles={"beta": Role.ADMIN})
    assert labels(Page.DETAIL, S.ACTIVE, viewer) == ["View Runs"]
    assert labels(Page.DETAIL, S.ACTIVE, operator) == ["Start Run", "View Runs"]
    assert labels(Page.LIST, S.DRAFT, operator) == ["Test Run"]
    assert labels(Page.LIST, S.ACTIVE, elsewhere) == []
