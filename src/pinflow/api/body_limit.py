"""Refuse an over-large request body with 413 before it is read in full.

A push carries a whole code bundle; without a cap, one request of a few gigabytes is held in
memory (then base64-decoded, then unzipped) before any rule can refuse it. This pure ASGI
middleware guards the routes it is given: a declared ``Content-Length`` over the limit is
refused at once, unread; a body sent without one (chunked) is counted as it arrives and
refused as soon as it passes the limit. The body read is then replayed to the route, which
reads it whole anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pinflow.api.errors import pinflow_error_response
from pinflow.errors import PayloadTooLargeError


class BodyLimit:
    """Caps the body of requests to ``paths`` at ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, paths: Iterable[str], max_bytes: int) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send, f"is {declared} bytes")
            return
        messages = await self._read(receive)
        if messages is None:
            await self._refuse(scope, receive, send, "grew past the limit as it was sent")
            return
        await self.app(scope, _replay(messages, receive), send)

    async def _read(self, receive: Receive) -> list[Message] | None:
        """The body's messages, or ``None`` once more than ``max_bytes`` arrived."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # the client went away
                return messages
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, how: str) -> None:
        error = PayloadTooLargeError(
            f"The request body {how}, over the limit of {self.max_bytes} bytes for this route "
            "(a code bundle of PINFLOW_MAX_BUNDLE_BYTES, base64-encoded, plus a spec of "
            "PINFLOW_MAX_SPEC_BYTES). Make the bundle smaller (leave data and virtual "
            "environments out of the bundle folder) or ask an operator to raise the limits."
        )
        response = pinflow_error_response(Request(scope), error)
        response.headers["Connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
