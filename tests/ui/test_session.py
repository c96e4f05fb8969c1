"""The UI's session and its CSRF design (ADR 0005), over HTTP without a browser: the cookie
opens pages only; the API takes Bearer tokens only; the script's token needs a custom header;
cross-site form posts are refused; pages carry a strict CSP.

Against the module's real server (SQLite only), with a plain synchronous httpx client: the
in-process ASGI client cannot run in the thread where Playwright's event loop lives.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.api.helpers import make_user
from tests.ui.conftest import PASSWORD, Server
from tests.ui.helpers import make_spec, publish

from pinflow.lifecycle.permissions import Role
from pinflow.ui.session import COOKIE, safe_next


@pytest.fixture(scope="module")
def users(server: Server) -> None:
    make_user(server.db, "alice", {"alpha": Role.EDITOR}, password=PASSWORD)
    make_user(server.db, "bob", {"beta": Role.VIEWER}, password=PASSWORD)


@pytest.fixture
def client(server: Server, users: None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, follow_redirects=False) as c:
        yield c


def login(client: httpx.Client, username: str = "alice") -> httpx.Response:
    form = {"username": username, "password": PASSWORD, "next": "/ui/audit"}
    return client.post("/ui/login", data=form, headers={"Origin": str(client.base_url).rstrip("/")})


def test_login_sets_an_httponly_lax_cookie_and_goes_where_it_was_asked(
    client: httpx.Client,
) -> None:
    answer = login(client)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/audit"
    cookie = answer.headers["set-cookie"].lower()
    assert f"{COOKIE}=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie


def test_a_failed_login_says_why_and_keeps_no_cookie(client: httpx.Client) -> None:
    form = {"username": "alice", "password": "nope"}
    answer = client.post("/ui/login", data=form)
    assert answer.status_code == 401
    assert "Invalid username or password." in answer.text
    assert COOKIE not in answer.headers.get("set-cookie", "")


def test_cross_site_login_and_logout_posts_are_refused(client: httpx.Client) -> None:
    evil = {"Origin": "https://evil.example"}
    form = {"username": "alice", "password": PASSWORD}
    assert client.post("/ui/login", data=form, headers=evil).status_code == 403
    assert client.post("/ui/logout", headers=evil).status_code == 403
    assert client.post("/ui/logout", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403


def test_the_api_never_accepts_the_cookie(client: httpx.Client) -> None:
    login(client)
    assert client.get("/ui/workflows").status_code == 200  # the cookie opens pages
    assert client.get("/api/workflows").status_code == 401
    assert client.post("/api/workflows/x/deprecate").status_code == 401


def test_the_scripts_token_needs_the_cookie_and_the_custom_header(client: httpx.Client) -> None:
    assert client.get("/ui/session/token", headers={"X-Pinflow-UI": "1"}).status_code == 303
    login(client)
    assert client.get("/ui/session/token").status_code == 403
    answer = client.get("/ui/session/token", headers={"X-Pinflow-UI": "1"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["expires_in"] == 600
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/workflows", headers=bearer).status_code == 200


def test_pages_need_a_session_and_a_bad_cookie_is_dropped(client: httpx.Client) -> None:
    answer = client.get("/ui/workflows?status=draft")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fworkflows%3Fstatus%3Ddraft"
    client.cookies.set(COOKIE, "not-a-jwt")
    answer = client.get("/ui/audit")
    assert answer.status_code == 303
    assert f'{COOKIE}=""' in answer.headers["set-cookie"]


def test_pages_send_a_strict_content_security_policy(client: httpx.Client) -> None:
    login(client)
    answer = client.get("/ui/workflows")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert '<script src="/ui/static/pinflow.js" defer></script>' in answer.text
    assert client.get("/ui/static/pinflow.js").status_code == 200


def test_a_page_outside_the_viewers_projects_is_the_html_404_of_a_missing_one(
    client: httpx.Client, server: Server
) -> None:
    """No existence leak (ADR 0017): the page says what it says for an id that never was."""
    version = publish(server.db, make_spec("ui_session", "Secret"))  # alpha; bob reads beta
    login(client, "bob")
    answer = client.get(f"/ui/workflows/{version}")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "was not found" in answer.text
    missing = client.get("/ui/workflows/no-such-id")
    assert missing.status_code == 404
    assert missing.text.replace("no-such-id", version) == answer.text
    assert client.get("/ui/workflows").text.count('data-testid="workflow-row"') == 0
    assert client.get("/ui/dags/ui_session/runs/r1").status_code == 404


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/ui/audit?actor=x", "/ui/audit?actor=x"),
        (None, "/ui/workflows"),
        ("//evil.example/ui/", "/ui/workflows"),
        ("https://evil.example/ui/", "/ui/workflows"),
        ("/api/workflows", "/ui/workflows"),
        ("/ui/\\evil", "/ui/workflows"),
    ],
)
def test_login_only_returns_to_this_ui(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_the_designers_check_takes_a_bearer_token_not_the_cookie(
    client: httpx.Client, server: Server
) -> None:
    body = {"yaml": "dag_id: etl\ntasks: []\n"}
    login(client)
    assert client.post("/ui/api/designer/validate", json=body).status_code == 401
    bearer = {"Authorization": f"Bearer {server.token('alice')}"}
    answer = client.post("/ui/api/designer/validate", json=body, headers=bearer)
    assert answer.status_code == 200
    assert answer.json()["warnings"] == [{"location": "tasks", "message": "the DAG has no tasks"}]


def test_a_cookie_session_ends_when_the_users_sessions_end(
    server: Server, client: httpx.Client
) -> None:
    """A "log out everywhere" (``POST /auth/logout``, a new password) reaches the browser:
    the cookie's token is of the old generation, so pages ask for a login again."""
    from pinflow.services.commands import _users as users

    make_user(server.db, "carol", {"alpha": Role.VIEWER}, password=PASSWORD)
    assert login(client, "carol").status_code == 303
    assert client.get("/ui/audit").status_code == 200
    users.end_sessions(server.db, "carol", actor="carol")
    again = client.get("/ui/audit")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/ui/login")
