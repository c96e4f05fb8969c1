"""The simulated hosts of tests/support/netns.py: networks, relays, private dirs, teardown.

Each test builds its own bridge and namespaces (names carry the pid, the subnet is chosen under
a lock), so they run in parallel under xdist. Fixed ports inside a host are fine: every host
has its own ports.
"""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.netns import (
    IN_CI,
    Host,
    Network,
    machine_names,
    network_fixture,
    require_netns,
)

PYTHON = sys.executable
PORT = 8000  # inside host A: no other test shares its ports

SERVER = """
import socket, sys
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)
while True:
    conn, peer = server.accept()
    with conn:
        conn.sendall(f"hello from {socket.gethostname()} to {peer[0]}\\n".encode())
"""

CLIENT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as conn:
        conn.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin-1"))
        print(conn.recv(200).decode(errors="replace").strip())
except OSError as exc:
    print(type(exc).__name__)
"""


DAEMON = "import subprocess; print(subprocess.Popen(['setsid', 'sleep', '120']).pid, flush=True)"


@pytest.fixture
def network() -> Iterator[Network]:
    yield from network_fixture()


def talk(host: Host, address: str, port: int, send: str = "") -> str:
    """What a client on ``host`` receives from address:port (or the name of its OSError)."""
    done = host.run([PYTHON, "-c", CLIENT, address, str(port), send], timeout=15)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def first_line(process: subprocess.Popen[bytes], timeout: float = 10.0) -> str:
    """The first line the process prints (then its stdout is closed), waiting at most timeout."""
    assert process.stdout is not None
    with process.stdout:
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        assert ready, f"no output in {timeout} s from {process.args!r}"
        return process.stdout.readline().decode().strip()


def ip(*args: str, check: bool = False) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)
    return done.stdout


def running(pid: object) -> bool:
    """Whether the pid runs (a zombie does not: init reaps it when it gets to it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def require_service(port: int, name: str) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as exc:
        reason = f"{name} is not listening on 127.0.0.1:{port}: {exc}"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


def test_a_host_serves_another_at_its_address_not_at_loopback(network: Network) -> None:
    a, b = network.add_host("hosta"), network.add_host("hostb")
    server = a.spawn([PYTHON, "-c", SERVER, a.address, str(PORT)], stdout=subprocess.PIPE)
    assert first_line(server) == "listening"

    assert talk(b, a.address, PORT) == f"hello from hosta to {b.address}"
    assert talk(b, "hosta", PORT) == f"hello from hosta to {b.address}"  # by name: /etc/hosts
    assert talk(b, "127.0.0.1", PORT) == "ConnectionRefusedError"  # B's own loopback
    with socket.create_connection((a.address, PORT), timeout=3) as conn:  # the test process
        assert conn.makefile().readline().startswith("hello from hosta to ")

    # The relay also reaches a host's own address, from the gateway.
    gateway, port = network.forward(0, target=(a.address, PORT))
    assert port != 0
    assert talk(b, gateway, port) == f"hello from hosta to {network.gateway}"


def test_the_relay_reaches_the_machines_services(network: Network) -> None:
    require_service(6379, "Redis")
    require_service(5432, "PostgreSQL")
    host = network.add_host("worker")

    assert network.forward(6379) == (network.gateway, 6379)
    assert talk(host, network.gateway, 6379, "PING\\r\\n") == "+PONG"
    assert talk(host, "127.0.0.1", 6379, "PING\\r\\n") == "ConnectionRefusedError"

    # PostgreSQL answers an SSLRequest (length 8, code 80877103) with one byte, S or N.
    gateway, port = network.forward(5432)
    ssl_request = "\\x00\\x00\\x00\\x08\\x04\\xd2\\x16\\x2f"
    assert talk(host, gateway, port, ssl_request) in ("S", "N")

    with pytest.raises(ValueError, match="only to loopback or to a host"):
        network.forward(0, target=("192.0.2.1", 80))


def test_private_dirs_hide_the_test_files_and_keep_the_hosts(
    network: Network, tmp_path: Path
) -> None:
    (tmp_path / "from-test.txt").write_text("the scheduler's")
    probe = f"""
import os, pathlib
here = pathlib.Path({str(tmp_path)!r})
print(sorted(os.listdir(here)))
(here / "from-host.txt").write_text("the worker's")
pathlib.Path("relative.txt").write_text("in the cwd")
print(sorted(os.listdir(here)), os.getcwd())
"""
    host = network.add_host("worker")
    done = host.run([PYTHON, "-c", probe], private_dirs=[tmp_path], cwd=tmp_path, timeout=15)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[]",
        f"['from-host.txt', 'relative.txt'] {tmp_path}",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["from-test.txt"]
    assert (tmp_path / "from-test.txt").read_text() == "the scheduler's"


def test_each_host_has_its_hostname(network: Network) -> None:
    a = network.add_host("hosta")
    b = network.add_host("worker-2", hostname="celery-b")
    show = [PYTHON, "-c", "import socket; print(socket.gethostname())"]

    assert a.run(show).stdout.strip() == "hosta"
    assert b.run(show).stdout.strip() == "celery-b"
    assert a.run(show, hostname="renamed").stdout.strip() == "renamed"
    assert socket.gethostname() not in ("hosta", "celery-b", "renamed")


def crash_inside(network: Network, relay_target: tuple[str, int], seen: dict[str, Any]) -> None:
    """Start processes and a relayed connection in ``network``, then fail inside the block."""
    with network:
        host = network.add_host("hosta")
        seen["client"] = socket.create_connection(network.forward(0, relay_target), timeout=5)
        seen["client"].sendall(b"held open")
        seen["sleeper"] = host.spawn(["sleep", "120"])
        # A daemon that left the process group is killed too: it is in the namespace.
        launcher = host.spawn([PYTHON, "-c", DAEMON], stdout=subprocess.PIPE)
        seen["escaped"] = int(first_line(launcher))
        assert network.leftovers() == [network.bridge, host.namespace, host.veth]
        raise RuntimeError("the test failed")


def test_teardown_removes_everything_even_after_a_failure() -> None:
    require_netns()
    network, seen = Network(), dict[str, Any]()
    with socket.create_server(("127.0.0.1", 0)) as listener:  # the relay's target
        with pytest.raises(RuntimeError, match="the test failed"):
            crash_inside(network, listener.getsockname(), seen)
        with seen["client"] as client:
            assert client.recv(100) == b""  # the relay closed the connection it held

    host = network.hosts[0]
    assert seen["sleeper"].returncode == -15  # SIGTERM, within the grace
    assert network.leftovers() == []
    assert host.namespace not in ip("netns", "list")
    assert network.bridge not in ip("-o", "link")
    assert host.veth not in ip("-o", "link")
    deadline = time.monotonic() + 5  # SIGKILL is not instant for a process that is not ours
    while running(seen["escaped"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not running(seen["escaped"])


def test_a_new_network_removes_what_a_crashed_run_left() -> None:
    require_netns()
    gone = subprocess.Popen(["true"])
    gone.wait(timeout=10)
    stale = [f"pf{gone.pid}zn0", f"pf{gone.pid}zb"]  # a dead pid's namespace and bridge
    ip("netns", "add", stale[0], check=True)
    ip("link", "add", stale[1], "type", "bridge", check=True)
    try:
        with Network() as network:
            network.add_host("hosta")
            assert not set(stale) & set(machine_names())
    finally:
        ip("netns", "delete", stale[0])
        ip("link", "delete", stale[1])
