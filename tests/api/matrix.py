"""What each of the matrix's seven callers gets from a route (``helpers.ACTORS``).

The roles' permissions are written out here as the seed means them (viewer ⊂ operator ⊂
editor ⊂ admin), not imported from ``pinflow.lifecycle.permissions``: the matrix checks the
code against the product, not against itself.
"""

from __future__ import annotations

from tests.api.helpers import (
    ACTORS,
    ADMIN,
    ANON,
    EDITOR,
    OPERATOR,
    OUTSIDER,
    PROJECT_ADMIN,
    VIEWER,
)

READ, RUN, WRITE, MANAGE = "read", "run", "write", "manage"
SEED: dict[str, set[str]] = {
    VIEWER: {READ},
    OPERATOR: {READ, RUN},  # run:create, run:update
    EDITOR: {READ, RUN, WRITE},  # workflow:create/update/delete
    PROJECT_ADMIN: {READ, RUN, WRITE, MANAGE},  # admin: roles, pools, variables, connections
}


def on_alpha(need: str, ok: int = 200, *, outsider: int = 404) -> dict[str, int]:
    """A route on project alpha's object: the roles holding ``need`` get ``ok``, the others
    403; the other project's user gets ``outsider`` (404 where the path names an object: no
    existence leak)."""
    expected = {ANON: 401, OUTSIDER: outsider, ADMIN: ok}
    expected |= {who: ok if need in granted else 403 for who, granted in SEED.items()}
    return expected


def signed_in(ok: int = 200) -> dict[str, int]:
    return {who: 401 if who == ANON else ok for who in ACTORS}


def superuser(ok: int = 200) -> dict[str, int]:
    return {who: {ANON: 401, ADMIN: ok}.get(who, 403) for who in ACTORS}


def admins_anywhere(ok: int = 200) -> dict[str, int]:
    """Project admins of any project (the outsider administers beta) and superusers."""
    return {
        who: {ANON: 401, VIEWER: 403, OPERATOR: 403, EDITOR: 403}.get(who, ok) for who in ACTORS
    }


def everyone(status: int = 200) -> dict[str, int]:
    return dict.fromkeys(ACTORS, status)
