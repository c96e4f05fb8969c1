"""Which actions a version offers, by status and page: seed 001's two UI tables, as data.

Detail page:  draft: Test Run, Edit, Publish, Delete
              active: Start Run, View Runs, New Version, Deprecate, Delete
              deprecated: View Runs, New Version, Revert to Draft, Delete
List rows:    draft: Test Run, Edit, Publish, Delete
              active: Start Run, New Version, Deprecate, Delete
              deprecated: New Version, Delete

A soft-deleted version (any status) offers Restore and a permanent delete instead (seed 001:
"Soft-deleted workflows can be restored or permanently deleted"). An action the viewer lacks
the permission for in the version's project is not shown at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pinflow.lifecycle.permissions import Permission, Principal, allows
from pinflow.lifecycle.states import VersionStatus


class Page(StrEnum):
    DETAIL = "detail"
    LIST = "list"


@dataclass(frozen=True)
class Action:
    key: str  # the script's handler (data-action) or, for links, the link's name
    label: str
    permission: Permission
    link: bool = False  # a plain link (Edit, View Runs) rather than a dialog
    danger: bool = False


TEST_RUN = Action("test-run", "Test Run", Permission.RUN_CREATE)
START_RUN = Action("start-run", "Start Run", Permission.RUN_CREATE)
EDIT = Action("edit", "Edit", Permission.WORKFLOW_UPDATE, link=True)
PUBLISH = Action("publish", "Publish", Permission.WORKFLOW_UPDATE)
DELETE = Action("delete", "Delete", Permission.WORKFLOW_DELETE, danger=True)
VIEW_RUNS = Action("view-runs", "View Runs", Permission.WORKFLOW_READ, link=True)
NEW_VERSION = Action("new-version", "New Version", Permission.WORKFLOW_CREATE)
DEPRECATE = Action("deprecate", "Deprecate", Permission.WORKFLOW_UPDATE, danger=True)
REVERT = Action("revert", "Revert to Draft", Permission.WORKFLOW_UPDATE, danger=True)
RESTORE = Action("restore", "Restore", Permission.WORKFLOW_DELETE)
PURGE = Action("purge", "Delete permanently", Permission.WORKFLOW_DELETE, danger=True)

SEED_ACTIONS: dict[Page, dict[VersionStatus, tuple[Action, ...]]] = {
    Page.DETAIL: {
        VersionStatus.DRAFT: (TEST_RUN, EDIT, PUBLISH, DELETE),
        VersionStatus.ACTIVE: (START_RUN, VIEW_RUNS, NEW_VERSION, DEPRECATE, DELETE),
        VersionStatus.DEPRECATED: (VIEW_RUNS, NEW_VERSION, REVERT, DELETE),
    },
    Page.LIST: {
        VersionStatus.DRAFT: (TEST_RUN, EDIT, PUBLISH, DELETE),
        VersionStatus.ACTIVE: (START_RUN, NEW_VERSION, DEPRECATE, DELETE),
        VersionStatus.DEPRECATED: (NEW_VERSION, DELETE),
    },
}
DELETED_ACTIONS = (RESTORE, PURGE)


def actions_for(
    page: Page, status: VersionStatus, *, deleted: bool, project: str, viewer: Principal
) -> list[Action]:
    """The buttons to draw, in the seed's order, that ``viewer`` may use in ``project``."""
    offered = DELETED_ACTIONS if deleted else SEED_ACTIONS[page][status]
    return [a for a in offered if allows(viewer, a.permission, project)]
