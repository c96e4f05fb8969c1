"""``PinflowClient``: the HTTP API as Python calls, for the CLI, dev mode and workers.

Every method returns the decoded JSON body (a ``dict``) and raises ``ClientError`` for any
refusal or transport failure, carrying the server's message. Paths are Airflow's ``/api/v2``
where Airflow has the concept, and the seed's ``/api/workflows`` for the version lifecycle.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Self
from urllib.parse import quote

import httpx

from pinflow.client.credentials import Credentials, resolve
from pinflow.client.errors import ClientError, from_response

JSON = dict[str, Any]
DEFAULT_TIMEOUT = 30.0


def _p(value: str) -> str:
    """A path segment: run ids hold ``:`` and ``+``, which must survive the URL."""
    return quote(value, safe="")


def _unreachable(url: str, exc: httpx.TransportError) -> ClientError:
    if isinstance(exc, httpx.TimeoutException):
        return ClientError(
            f"The server at {url} did not answer in time ({type(exc).__name__}).",
            hint="Check that it is healthy, or retry with a longer --timeout.",
        )
    return ClientError(
        f"No server at {url}",
        hint="Start one with `pinflow standalone`, or set PINFLOW_URL (or pass --url).",
    )


class PinflowClient:
    """One server, one token. Use as a context manager, or call ``close()``."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network (tests, an app in the same process)."""
        self.url = url.rstrip("/")
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def from_credentials(cls, credentials: Credentials, **kwargs: Any) -> PinflowClient:
        return cls(credentials.url, credentials.token, **kwargs)

    @classmethod
    def from_env(cls, url: str | None = None, token: str | None = None) -> PinflowClient:
        """Flags (the arguments) over ``PINFLOW_URL``/``PINFLOW_TOKEN`` over ``pinflow login``."""
        return cls.from_credentials(resolve(url, token))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=clean, json=json, data=data)
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc) from None
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = response.text
        if response.is_success:
            return body
        fallback = f"{method} {path} failed: HTTP {response.status_code}"
        raise from_response(response.status_code, body, fallback)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, json=body, params=params)

    # -- monitor and auth ----------------------------------------------------------------------

    def health(self) -> JSON:
        result: JSON = self.get("/api/v2/monitor/health")
        return result

    def version(self) -> JSON:
        result: JSON = self.get("/api/v2/version")
        return result

    def login(self, username: str, password: str) -> str:
        """A short-lived JWT for the username and password (``POST /auth/token``)."""
        body = self.post("/auth/token", {"username": username, "password": password})
        return str(body["access_token"])

    # -- import errors (dev mode) --------------------------------------------------------------

    def report_import_error(
        self,
        filename: str,
        message: str,
        bundle_name: str | None = None,
        *,
        project: str,
        dag_id: str | None = None,
    ) -> JSON:
        """Record a file's compile error in its DAG's ``project`` (ADR 0017)."""
        body = {"filename": filename, "message": message, "bundle_name": bundle_name}
        body |= {"project": project, "dag_id": dag_id}
        result: JSON = self.request("PUT", "/api/import-errors", json=body)
        return result

    def clear_import_error(self, filename: str, *, project: str, dag_id: str | None = None) -> None:
        params = {"filename": filename, "project": project}
        if dag_id is not None:
            params["dag_id"] = dag_id
        self.request("DELETE", "/api/import-errors", params=params)

    def list_import_errors(self, **params: Any) -> JSON:
        result: JSON = self.get("/api/v2/importErrors", **params)
        return result

    # -- users and tokens ----------------------------------------------------------------------

    def list_users(self) -> list[JSON]:
        return list(self.get("/api/users"))

    def create_user(self, username: str, password: str | None, *, superuser: bool) -> JSON:
        body = {"username": username, "password": password, "isSuperuser": superuser}
        result: JSON = self.post("/api/users", body)
        return result

    def delete_user(self, username: str) -> None:
        self.request("DELETE", f"/api/users/{_p(username)}")

    def grant_role(self, username: str, project: str, role: str) -> JSON:
        body = {"project": project, "role": role}
        result: JSON = self.post(f"/api/users/{_p(username)}/roles", body)
        return result

    def revoke_role(self, username: str, project: str) -> JSON:
        result: JSON = self.request("DELETE", f"/api/users/{_p(username)}/roles/{_p(project)}")
        return result

    def list_tokens(self) -> list[JSON]:
        return list(self.get("/api/tokens"))

    def logout(self) -> None:
        """End this client's credentials on the server (``POST /auth/logout``): an API token
        is revoked; an access token ends every session of its user."""
        self.post("/auth/logout")

    def create_token(self, name: str, expires_at: str | None = None) -> JSON:
        result: JSON = self.post("/api/tokens", {"name": name, "expiresAt": expires_at})
        return result

    def revoke_token(self, token_id: int) -> JSON:
        result: JSON = self.request("DELETE", f"/api/tokens/{token_id}")
        return result

    # -- push ----------------------------------------------------------------------------------

    def push(
        self,
        spec: Mapping[str, Any],
        bundle: bytes,
        *,
        mode: str = "publish",
        deprecate_previous: bool = False,
    ) -> JSON:
        """Register a compiled snapshot; idempotent by digest (``noop`` in the answer)."""
        body = {
            "spec": dict(spec),
            "bundle": base64.b64encode(bundle).decode("ascii"),
            "mode": mode,
            "deprecatePrevious": deprecate_previous,
        }
        result: JSON = self.post("/api/snapshots", body)
        return result

    # -- DAGs ----------------------------------------------------------------------------------

    def list_dags(self, *, include_stale: bool = False, limit: int = 100, **filters: Any) -> JSON:
        params = {"exclude_stale": not include_stale, "limit": limit, **filters}
        result: JSON = self.get("/api/v2/dags", **params)
        return result

    def get_dag(self, dag_id: str, *, details: bool = False) -> JSON:
        suffix = "/details" if details else ""
        result: JSON = self.get(f"/api/v2/dags/{_p(dag_id)}{suffix}")
        return result

    def set_paused(self, dag_id: str, paused: bool) -> JSON:
        path = f"/api/v2/dags/{_p(dag_id)}"
        result: JSON = self.request("PATCH", path, json={"is_paused": paused})
        return result

    def dag_impact(self, dag_id: str) -> JSON:
        result: JSON = self.get(f"/api/v2/dags/{_p(dag_id)}/impact")
        return result

    def delete_dag(self, dag_id: str, *, deregister: bool = False, force: bool = False) -> None:
        params = {"deregister": deregister, "force": force}
        self.request("DELETE", f"/api/v2/dags/{_p(dag_id)}", params=params)

    def restore_dag(self, dag_id: str) -> JSON:
        result: JSON = self.post(f"/api/v2/dags/{_p(dag_id)}/restore")
        return result

    def list_dag_versions(self, dag_id: str, *, include_drafts: bool = True) -> JSON:
        path = f"/api/v2/dags/{_p(dag_id)}/dagVersions"
        result: JSON = self.get(path, include_drafts=include_drafts, limit=100)
        return result

    # -- versions (seed 001) -------------------------------------------------------------------

    def list_workflows(self, **filters: Any) -> JSON:
        """``dagId``, ``status``, ``includeDeleted``, ``search``, ``limit``, ``offset``."""
        result: JSON = self.get("/api/workflows", **filters)
        return result

    def get_workflow(self, version_id: str) -> JSON:
        result: JSON = self.get(f"/api/workflows/{_p(version_id)}")
        return result

    def workflow_stats(self, version_id: str, compare_to: str | None = None) -> JSON:
        """A version's run statistics; with ``compare_to``, against that version's."""
        params = {} if compare_to is None else {"compareTo": compare_to}
        result: JSON = self.get(f"/api/workflows/{_p(version_id)}/stats", **params)
        return result

    # -- a DAG's retirement policy and lineage (ADR 0031) ---------------------------------------

    def retirement_policy(self, dag_id: str) -> JSON:
        result: JSON = self.get(f"/api/dags/{_p(dag_id)}/retirement-policy")
        return result

    def set_retirement_policy(self, dag_id: str, policy: JSON) -> JSON:
        """Replace the DAG's whole policy (keepActive, deprecatePreviousOnPublish,
        purgeDeprecatedAfter)."""
        path = f"/api/dags/{_p(dag_id)}/retirement-policy"
        result: JSON = self.request("PUT", path, json=policy)
        return result

    def retirement_preview(self, dag_id: str) -> JSON:
        result: JSON = self.get(f"/api/dags/{_p(dag_id)}/retirement-policy/preview")
        return result

    def lineage(self, dag_id: str) -> JSON:
        result: JSON = self.get(f"/api/dags/{_p(dag_id)}/lineage")
        return result

    def canary(self, version_id: str, body: JSON) -> JSON:
        """Plan (``dryRun``) or start a canary re-run of another version's runs on this one."""
        result: JSON = self.post(f"/api/workflows/{_p(version_id)}/canary", body)
        return result

    def canary_report(self, version_id: str, batch_id: str | None = None) -> JSON:
        """The comparison of the latest canary on this version (or of ``batch_id``)."""
        params = {} if batch_id is None else {"batchId": batch_id}
        result: JSON = self.get(f"/api/workflows/{_p(version_id)}/canary", **params)
        return result

    def workflow_action(self, version_id: str, action: str, body: Any = None) -> JSON:
        """``create-version``, ``publish``, ``deprecate``, ``revert-to-draft``, ``restore``,
        ``set-current``: the seed's POST actions on one version."""
        result: JSON = self.post(f"/api/workflows/{_p(version_id)}/{action}", body)
        return result

    def delete_workflow(self, version_id: str, *, permanent: bool = False) -> JSON:
        path = f"/api/workflows/{_p(version_id)}"
        result: JSON = self.request("DELETE", path, params={"permanent": permanent})
        return result

    # -- runs ----------------------------------------------------------------------------------

    def trigger(
        self,
        dag_id: str,
        *,
        conf: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        note: str | None = None,
    ) -> JSON:
        body = {"conf": dict(conf or {}), "dag_run_id": run_id, "note": note}
        result: JSON = self.post(f"/api/v2/dags/{_p(dag_id)}/dagRuns", body)
        return result

    def start_version_run(
        self, version_id: str, *, conf: Mapping[str, Any] | None = None, run_id: str | None = None
    ) -> JSON:
        """A run of one version (a test run of a draft); the seed's ``POST …/runs``."""
        body = {"conf": dict(conf or {}), "runId": run_id}
        result: JSON = self.post(f"/api/workflows/{_p(version_id)}/runs", body)
        return result

    def list_runs(self, dag_id: str = "~", *, limit: int = 25, **filters: Any) -> JSON:
        """Newest first; ``dag_id`` ``~`` lists runs of every DAG."""
        params = {"order_by": "-id", "limit": limit, **filters}
        result: JSON = self.get(f"/api/v2/dags/{_p(dag_id)}/dagRuns", **params)
        return result

    def get_run(self, dag_id: str, run_id: str) -> JSON:
        result: JSON = self.get(f"/api/v2/dags/{_p(dag_id)}/dagRuns/{_p(run_id)}")
        return result

    def clear_run(
        self, dag_id: str, run_id: str, *, dry_run: bool, only_failed: bool = False
    ) -> JSON:
        body = {"dry_run": dry_run, "only_failed": only_failed}
        result: JSON = self.post(f"/api/v2/dags/{_p(dag_id)}/dagRuns/{_p(run_id)}/clear", body)
        return result

    # -- task instances ------------------------------------------------------------------------

    def list_task_instances(self, dag_id: str, run_id: str, *, limit: int = 1000) -> JSON:
        path = f"/api/v2/dags/{_p(dag_id)}/dagRuns/{_p(run_id)}/taskInstances"
        result: JSON = self.get(path, limit=limit, order_by="id")
        return result

    def list_tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> JSON:
        path = f"/api/v2/dags/{_p(dag_id)}/dagRuns/{_p(run_id)}/taskInstances/{_p(task_id)}"
        result: JSON = self.get(f"{path}/tries", map_index=map_index)
        return result

    def get_task_instance(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> JSON:
        path = f"/api/v2/dags/{_p(dag_id)}/dagRuns/{_p(run_id)}/taskInstances/{_p(task_id)}"
        result: JSON = self.get(path, map_index=map_index)
        return result

    def get_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, *, map_index: int = -1
    ) -> list[str]:
        """The try's log, one string per line."""
        path = f"/api/v2/dags/{_p(dag_id)}/dagRuns/{_p(run_id)}/taskInstances/{_p(task_id)}"
        body = self.get(f"{path}/logs/{try_number}", map_index=map_index, full_content=True)
        return [str(item.get("event", "")) for item in body.get("content", [])]

    def clear_task_instances(
        self,
        dag_id: str,
        *,
        dry_run: bool,
        task_ids: list[str] | None = None,
        run_id: str | None = None,
        only_failed: bool = True,
        include_upstream: bool = False,
        include_downstream: bool = False,
    ) -> JSON:
        """Airflow's clear; the answer's ``plan`` (Pinflow) says what moves where."""
        body = {
            "dry_run": dry_run,
            "task_ids": task_ids,
            "dag_run_id": run_id,
            "only_failed": only_failed,
            "include_upstream": include_upstream,
            "include_downstream": include_downstream,
        }
        result: JSON = self.post(f"/api/v2/dags/{_p(dag_id)}/clearTaskInstances", body)
        return result

    # -- audit ---------------------------------------------------------------------------------

    def list_events(self, *, limit: int = 50, **filters: Any) -> JSON:
        """Airflow's event log, newest first: ``dag_id``, ``event``, ``owner``, ``after``…"""
        params = {"order_by": "-id", "limit": limit, **filters}
        result: JSON = self.get("/api/v2/eventLogs", **params)
        return result
