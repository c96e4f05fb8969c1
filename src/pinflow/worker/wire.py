"""How the worker's execution API calls travel: one keep-alive HTTP/1.1 connection per process.

A try makes two calls at least (its start, its result) and every one of them is on the path
from one task to the next, so the wire is the standard library's ``http.client`` and nothing
above it: httpx's client, and even its transport (URL parsing, a connection pool, the h11
state machine), cost more CPU per call than building the request and reading the answer,
and a worker needs none of it (one API URL, one call at a time, JSON both ways).

``HttpWire`` keeps one connection to the API and reopens it after any failure; a call on a
kept connection that the server had closed meanwhile (its keep-alive ran out) is sent again at
once on a fresh one, since the server never saw it. ``HttpxWire`` sends over an httpx
transport instead: the tests hand it the API app's own, in process.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx


@dataclass(frozen=True)
class Answer:
    """An HTTP response, read whole. ``headers`` are keyed by lower-case name."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class WireError(Exception):
    """The call got no answer (refused, reset, timed out): worth trying again later."""


class Wire(Protocol):
    def send(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> Answer: ...


# The failures of a kept connection that the server closed while it was idle: the request
# never reached it, so sending it again is safe whatever it does.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class HttpWire:
    """Keep-alive HTTP/1.1 to ``base_url`` (``http://`` or ``https://``, with a path prefix)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the execution API URL {base_url!r} is not an http(s) URL")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Answer:
        reused = self._conn is not None
        try:
            return self._exchange(method, path, headers, body)
        except _STALE:
            self.close()
            if not reused:
                raise WireError("the API closed the connection") from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise WireError(f"{type(exc).__name__}: {exc}") from exc
        try:  # the kept connection had gone stale: once more, on a fresh one
            return self._exchange(method, path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise WireError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> Answer:
        conn = self._conn or self._connect()
        conn.request(method, self.prefix + path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.will_close:
            self.close()
        names = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, names, data)

    def _connect(self) -> http.client.HTTPConnection:
        if self.https:
            self._conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=_tls_context()
            )
        else:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn


_TLS: dict[int, ssl.SSLContext] = {}


def _tls_context() -> ssl.SSLContext:
    """This process's TLS context (making one costs 30-60 ms: once, not per connection)."""
    context = _TLS.get(os.getpid())
    if context is None:
        context = _TLS[os.getpid()] = ssl.create_default_context()
    return context


class HttpxWire:
    """Over an httpx transport (the tests pass the API app's own, in process)."""

    def __init__(
        self, base_url: str, transport: httpx.BaseTransport, *, timeout: float = 30.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self._timeout = {"timeout": httpx.Timeout(timeout).as_dict()}

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Answer:
        request = httpx.Request(
            method, self.base_url + path, headers=headers, content=body, extensions=self._timeout
        )
        try:
            response = self.transport.handle_request(request)
            try:
                data = response.read()
            finally:
                response.close()
        except httpx.TransportError as exc:
            raise WireError(f"{type(exc).__name__}: {exc}") from exc
        names = {name.lower(): value for name, value in response.headers.items()}
        return Answer(response.status_code, names, data)


_SHARED: dict[tuple[int, str], HttpWire] = {}


def shared_wire(base_url: str, *, timeout: float = 30.0) -> HttpWire:
    """This process's wire to ``base_url``, made once and kept (its connection is reused).
    Keyed by pid too: a connection never crosses a fork."""
    key = (os.getpid(), base_url)
    wire = _SHARED.get(key)
    if wire is None:
        wire = _SHARED[key] = HttpWire(base_url, timeout=timeout)
    return wire
