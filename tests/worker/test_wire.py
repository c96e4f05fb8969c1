"""The worker's wire (``pinflow.worker.wire.HttpWire``) against a real HTTP server on
127.0.0.1: one kept connection, reopened when the server dropped it, and failures as
``WireError`` (the client retries those)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from pinflow.worker.wire import HttpWire, WireError


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    connections: set[tuple[str, int]]
    seen: list[tuple[str, str, bytes]]

    def do_PATCH(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).seen.append((self.command, self.path, body))
        type(self).connections.add(self.client_address)
        answer = b'{"state":"success"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Refreshed-API-Token", "t2")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    handler = type("Handler", (_Handler,), {"connections": set(), "seen": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/execution/v1"


def test_calls_share_one_kept_connection(server: http.server.ThreadingHTTPServer) -> None:
    wire = HttpWire(_url(server))
    for n in range(3):
        answer = wire.send("PATCH", f"/x/{n}", {"Content-Type": "application/json"}, b"{}")
        assert (answer.status, answer.json()) == (200, {"state": "success"})
        assert answer.headers["refreshed-api-token"] == "t2"
    handler = server.RequestHandlerClass
    assert [path for _, path, _ in handler.seen] == [
        "/execution/v1/x/0",
        "/execution/v1/x/1",
        "/execution/v1/x/2",
    ]  # type: ignore[attr-defined]
    assert len(handler.connections) == 1  # type: ignore[attr-defined]
    wire.close()


def test_a_connection_the_server_dropped_is_reopened_and_the_call_sent_once(
    server: http.server.ThreadingHTTPServer,
) -> None:
    wire = HttpWire(_url(server))
    wire.send("PATCH", "/first", {}, b"1")
    assert wire._conn is not None
    wire._conn.sock.shutdown(socket.SHUT_RDWR)
    answer = wire.send("PATCH", "/second", {}, b"2")
    assert answer.status == 200
    wire.close()
    handler = server.RequestHandlerClass
    assert [body for _, _, body in handler.seen] == [b"1", b"2"]  # type: ignore[attr-defined]


def test_no_server_is_a_wire_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    wire = HttpWire(f"http://127.0.0.1:{port}")
    with pytest.raises(WireError, match=r"Connection ?[Rr]efused|Errno 111"):
        wire.send("PATCH", "/x", {}, None)


def test_only_http_urls_are_taken() -> None:
    with pytest.raises(ValueError, match="not an http"):
        HttpWire("ftp://example.com/x")
