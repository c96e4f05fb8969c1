"""Simulated hosts for multi-host tests: Linux network namespaces on a bridge of their own.

    require_netns()                       # fails in CI, skips elsewhere, when unusable
    with Network() as net:
        api = net.add_host("api")         # its own netns, address 10.213.N.2, hostname "api"
        broker = net.forward(5672)        # ("10.213.N.1", 5672) -> 127.0.0.1:5672 of this machine
        proc = api.spawn([python, "-m", ...], private_dirs=[tmp_path], stdout=log)
        ...                               # leaving the block kills and removes everything

The layout: one bridge ``pf<pid><k>b`` in the root namespace holds the gateway address
``10.213.N.1/24``; each host is a namespace ``pf<pid><k>n<i>`` joined to the bridge by a veth
pair (``pf<pid><k>v<i>`` on the bridge, ``eth0`` inside), at ``10.213.N.<i+2>`` with a default
route via the gateway. Hosts reach each other directly and the test process reaches them
through the bridge. Names carry the full pid (at most 14 characters, under the 15 of an
interface name) so pytest-xdist workers never collide; N is a /24 that no address or route of
the machine uses yet, chosen under a file lock so that two workers never pick the same one.
Leftovers of a crashed run (a name whose pid is dead, or ours reused) are removed on start.

The machine's services listen on 127.0.0.1 of the root namespace, which a host cannot reach (its
``127.0.0.1`` is its own loopback). ``Network.forward`` relays a port of the gateway address to
them: an asyncio relay on a thread of the test process, closed with the network. It relays only
to loopback and to the hosts' own addresses. It accepts first and then connects, so a connect
that succeeds proves nothing about the target: a down target closes the connection at once.
(A root-namespace service that listens on 0.0.0.0 is reachable at the gateway without a relay.)

``Host.spawn`` runs a command as ``ip netns exec NS unshare --mount --uts --propagation private
sh -c SCRIPT``: SCRIPT sets the hostname (through ``/proc/sys/kernel/hostname``, so no
``hostname`` tool is needed), bind-mounts a hosts file that names every host of the network
and a resolver file that fails at once (no DNS server is reachable from a namespace; lookups of
unknown names would otherwise wait for timeouts), covers each private dir with an empty tmpfs,
changes to the working directory (after the mounts, so a cwd under a private dir is the tmpfs)
and execs the command. Everything else of the filesystem (the code, the venv) stays visible, as
in a container image; a private dir must not hold the interpreter (on this machine the venv's
``python`` links into ``/root/.pyenv``, so give a worker a fresh ``HOME`` instead of hiding
``/root``). Nested private dirs are made inside the outer tmpfs. No fork is involved (``ip
netns exec`` and ``unshare`` exec; sh execs), so ``Popen.pid`` is the command's pid; it leads
its own process group, which teardown kills, then any process left in the namespace (a daemon
that left the group).

Found on this kernel: a namespace's veth outlives ``ip netns del`` for a while (the kernel
destroys the namespace asynchronously), so teardown deletes each veth explicitly first.
Bridged traffic passes the bridge netfilter hook, harmless with no firewall rules installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import ipaddress
import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

COMMAND_TIMEOUT = 10.0  # seconds, for every `ip`/`mount` call the harness makes
STOP_GRACE = 3.0  # seconds between SIGTERM and SIGKILL at teardown
SUBNETS = ipaddress.IPv4Network("10.213.0.0/16")
LOCK_PATH = Path(tempfile.gettempdir()) / "pinflow-netns.lock"

# Every name a Network makes: pf<pid><letter>, then b (bridge), n<i> (netns) or v<i> (veth).
_OWN_NAME = re.compile(r"pf(\d+)[a-z](?:(b)|(n)\d+|(v)\d+)")
_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_CIDR = re.compile(r"\b(\d+\.\d+\.\d+\.\d+/\d+)\b")
_letters = itertools.count()

Pipe = int | IO[Any] | None


class NetnsError(RuntimeError):
    """A command that builds or removes the simulated network failed."""


@functools.cache
def _tool(name: str) -> str:
    """The absolute path of a tool: a spawned command's env may have no PATH, or another."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise NetnsError(f"`{name}` is not installed")
    return path


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            [_tool("ip"), *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"ip {' '.join(args)}: no answer in {COMMAND_TIMEOUT} s") from exc
    if check and done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_pids(namespace: str) -> None:
    for pid in _ip("netns", "pids", namespace, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _remove_namespace(namespace: str) -> None:
    _kill_namespace_pids(namespace)
    _ip("netns", "delete", namespace, check=False)


def machine_names() -> list[str]:
    """The names of all network namespaces and root-namespace interfaces, sorted."""
    namespaces = [
        line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.split()
    ]
    links = [
        line.split(":")[1].split("@")[0].strip() for line in _ip("-o", "link").stdout.splitlines()
    ]
    return sorted(set(namespaces + links))


def _remove_stale(prefix: str) -> None:
    """Remove what an earlier run left: names of a dead pid, or of this very prefix."""

    stale: dict[str, str] = {}  # name -> kind: b, n or v
    for name in machine_names():
        match = _OWN_NAME.fullmatch(name)
        if match and (name.startswith(prefix) or not _pid_alive(int(match.group(1)))):
            stale[name] = next(kind for kind in match.groups()[1:] if kind)
    for kind in ("v", "n", "b"):  # the order teardown uses
        for name in (name for name, its in stale.items() if its == kind):
            (_remove_namespace if kind == "n" else _delete_link)(name)


def _delete_link(name: str) -> None:
    _ip("link", "delete", name, check=False)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of SUBNETS that no address or route of the machine overlaps (call under the lock)."""
    seen = _ip("-o", "-4", "addr").stdout + _ip("-4", "route", "show", "table", "all").stdout
    used = [ipaddress.ip_network(cidr, strict=False) for cidr in _CIDR.findall(seen)]
    candidates = list(SUBNETS.subnets(new_prefix=24))
    start = os.getpid() % len(candidates)
    for subnet in candidates[start:] + candidates[:start]:
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise NetnsError(f"no free /24 left in {SUBNETS}")


@contextlib.contextmanager
def _machine_lock(timeout: float = 30.0) -> Iterator[None]:
    with open(LOCK_PATH, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NetnsError(f"{LOCK_PATH} held for over {timeout} s") from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Host:
    """One simulated host: a network namespace with one address. Made by ``Network.add_host``."""

    def __init__(self, network: Network, name: str, index: int, hostname: str) -> None:
        self.network = network
        self.name = name
        self.hostname = hostname
        self.namespace = f"{network.prefix}n{index}"
        self.veth = f"{network.prefix}v{index}"
        self.address = str(network.subnet[index + 2])
        self._processes: list[subprocess.Popen[bytes]] = []

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.address}, netns={self.namespace})"

    def spawn(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        env: Mapping[str, str] | None = None,
        private_dirs: Sequence[str | os.PathLike[str]] = (),
        hostname: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        stdin: Pipe = subprocess.DEVNULL,
        stdout: Pipe = None,
        stderr: Pipe = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` on this host; teardown kills it (its process group) if still running.

        ``private_dirs`` are covered by empty tmpfs mounts only this process (and its children)
        sees, created if missing (not the interpreter's directories: see the module's notes).
        ``hostname`` defaults to the host's. ``cwd`` defaults to the test process's. ``env``
        None inherits the test process's. Pipes the caller asks for are the caller's to read
        and close."""
        name = hostname or self.hostname
        if not _HOSTNAME.fullmatch(name):
            raise ValueError(f"not a hostname: {name!r}")
        script = self.network._setup_script(name, private_dirs, cwd or os.getcwd())
        wrapped = [_tool("ip"), "netns", "exec", self.namespace, _tool("unshare"), "--mount"]
        wrapped += ["--uts", "--propagation", "private", "/bin/sh", "-c", script, "pinflow-host"]
        process = subprocess.Popen(
            [*wrapped, *(os.fspath(arg) for arg in argv)],
            env=None if env is None else dict(env),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        self._processes.append(process)
        return process

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        timeout: float = 30.0,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        private_dirs: Sequence[str | os.PathLike[str]] = (),
        hostname: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a short command on this host and return its (text) output; killed at ``timeout``
        (then ``subprocess.TimeoutExpired`` is raised). Options as for ``spawn``."""
        process = self.spawn(
            argv,
            env=env,
            private_dirs=private_dirs,
            hostname=hostname,
            cwd=cwd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = process.communicate(input.encode() if input else None, timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(process, grace=0.0)
            process.communicate()
            raise
        return subprocess.CompletedProcess(
            process.args,
            process.returncode,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
        )

    def _stop(self) -> None:
        deadline = time.monotonic() + STOP_GRACE
        # Not poll(): an unreaped pid cannot be reused, so signalling its group is safe.
        running = [p for p in self._processes if p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in running:
            _stop_group(process, grace=max(0.0, deadline - time.monotonic()))


def _stop_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """Wait up to ``grace`` for the process, then SIGKILL its group and reap it."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=COMMAND_TIMEOUT)


class _Relay:
    """TCP relays from the gateway address into the root namespace, on one asyncio thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="netns-relay", daemon=True
        )
        self._thread.start()
        self._servers: list[asyncio.Server] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self._open: set[asyncio.StreamWriter] = set()

    def listen(self, bind: tuple[str, int], target: tuple[str, int]) -> int:
        future = asyncio.run_coroutine_threadsafe(self._listen(bind, target), self._loop)
        return future.result(timeout=COMMAND_TIMEOUT)

    async def _listen(self, bind: tuple[str, int], target: tuple[str, int]) -> int:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._handlers.add(task)
            try:
                await self._pipe(reader, writer, target)
            except asyncio.CancelledError:
                pass  # shutdown's last resort; asyncio would log a cancelled handler as an error
            finally:
                self._handlers.discard(task)

        server = await asyncio.start_server(accept, *bind, reuse_address=True)
        self._servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: tuple[str, int]
    ) -> None:
        ends = [writer]
        self._open.add(writer)
        copies: list[asyncio.Task[None]] = []
        try:
            try:
                far = await asyncio.wait_for(asyncio.open_connection(*target), COMMAND_TIMEOUT)
            except (OSError, TimeoutError):
                return  # the target is down: the client sees its connection closed
            ends.append(far[1])
            self._open.add(far[1])
            copies = [
                asyncio.create_task(_copy(reader, far[1])),
                asyncio.create_task(_copy(far[0], writer)),
            ]
            # Both directions at EOF, or one failed: either way the connection is over.
            await asyncio.wait(copies, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for end in ends:
                end.close()
                self._open.discard(end)
            await asyncio.gather(*copies, return_exceptions=True)  # a reset is no news
            for end in ends:
                with contextlib.suppress(OSError):
                    await end.wait_closed()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(COMMAND_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=COMMAND_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._open):
            writer.close()  # the copies see EOF and every handler ends on its own
        if self._handlers:
            _, stuck = await asyncio.wait(set(self._handlers), timeout=STOP_GRACE)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while data := await source.read(65536):
        sink.write(data)
        await sink.drain()
    if sink.can_write_eof():
        sink.write_eof()  # pass a half-close on: HTTP/1.0 and friends rely on it


class Network:
    """A bridge with simulated hosts on it; a context manager that removes all of it on exit."""

    def __init__(self) -> None:
        self.prefix = f"pf{os.getpid()}{chr(ord('a') + next(_letters) % 26)}"
        self.bridge = f"{self.prefix}b"
        self.subnet = ipaddress.IPv4Network("0.0.0.0/32")  # set by start()
        self.gateway = ""
        self.hosts: list[Host] = []
        self._relay: _Relay | None = None
        self._forwards: dict[int, tuple[str, int]] = {}
        self._files: Path | None = None  # by start(): the hosts and resolver files hosts mount
        self._started = False

    def __enter__(self) -> Network:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Create the bridge (``__enter__`` calls this); on failure, remove what was made."""
        self._started = True
        try:
            self._files = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
            with _machine_lock():
                _remove_stale(self.prefix)
                self.subnet = _free_subnet()
                self.gateway = str(self.subnet[1])
                _ip("link", "add", self.bridge, "type", "bridge")
                _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
                _ip("link", "set", self.bridge, "up")
            self._file("resolv.conf").write_text(
                "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
            )
            self._write_hosts_file()
        except BaseException:
            self.close()
            raise

    def add_host(self, name: str, *, hostname: str | None = None) -> Host:
        """A new namespace on the bridge; its processes' hostname is ``hostname`` or ``name``."""
        if not self._started:
            raise NetnsError("Network.add_host before start (use `with Network() as net`)")
        if len(self.hosts) >= 250:
            raise NetnsError("a Network holds at most 250 hosts")
        host = Host(self, name, len(self.hosts), hostname or name)
        if not _HOSTNAME.fullmatch(host.hostname):
            raise ValueError(f"not a hostname: {host.hostname!r} (give hostname=)")
        self.hosts.append(host)  # before creating anything, so that close() removes it
        _ip("netns", "add", host.namespace)
        peer = ("peer", "name", "eth0", "netns", host.namespace)  # made in the namespace
        _ip("link", "add", host.veth, "type", "veth", *peer)
        _ip("link", "set", host.veth, "master", self.bridge, "up")
        inside = ("-n", host.namespace)
        _ip(*inside, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "link", "set", "eth0", "up")
        _ip(*inside, "route", "add", "default", "via", self.gateway)
        self._write_hosts_file()
        return host

    def forward(self, port: int, target: tuple[str, int] | None = None) -> tuple[str, int]:
        """Relay ``gateway:port`` (0: a free port) to ``target`` (default ``127.0.0.1:port``).

        Returns the address the hosts connect to. The target must be loopback or a host's."""
        target = target or ("127.0.0.1", port)
        allowed = {host.address for host in self.hosts}
        if not (ipaddress.ip_address(target[0]).is_loopback or target[0] in allowed):
            raise ValueError(
                f"forward only to loopback or to a host of this network, not {target[0]}"
            )
        if port and port in self._forwards:
            if self._forwards[port] != target:
                raise ValueError(f"port {port} already forwards to {self._forwards[port]}")
            return self.gateway, port
        if self._relay is None:
            self._relay = _Relay()
        bound = self._relay.listen((self.gateway, port), target)
        self._forwards[bound] = target
        return self.gateway, bound

    def close(self) -> None:
        """Kill every spawned process, remove the namespaces, veths, bridge and relays.

        Every step runs even if an earlier one failed; then the first failure is raised, or a
        NetnsError if anything of this network is still there."""
        if not self._started:
            return
        steps: list[Callable[[], object]] = [host._stop for host in self.hosts]
        steps += [self._relay.close] if self._relay is not None else []
        for host in self.hosts:
            steps.append(functools.partial(_ip, "link", "delete", host.veth, check=False))
            steps.append(functools.partial(_remove_namespace, host.namespace))
        steps.append(functools.partial(_ip, "link", "delete", self.bridge, check=False))
        if self._files is not None:
            steps.append(functools.partial(shutil.rmtree, self._files, ignore_errors=True))
        errors: list[BaseException] = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # the rest of the teardown must still run
                errors.append(exc)
        self._started = False
        if errors:
            raise errors[0]
        left = self.leftovers()
        if left:
            raise NetnsError(f"teardown left {left} behind")

    def leftovers(self) -> list[str]:
        """Namespaces and interfaces of this network that exist (none after ``close``)."""
        return [name for name in machine_names() if name.startswith(self.prefix)]

    def _file(self, name: str) -> Path:
        if self._files is None:
            raise NetnsError("the Network is not started (use `with Network() as net`)")
        return self._files / name

    def _write_hosts_file(self) -> None:
        # Rewritten in place: processes already running see it through their bind mount.
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"]
        lines += [f"{host.address} {host.hostname}" for host in self.hosts]
        with open(self._file("hosts"), "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def _setup_script(
        self,
        hostname: str,
        private_dirs: Sequence[str | os.PathLike[str]],
        cwd: str | os.PathLike[str],
    ) -> str:
        quote, mount = shlex.quote, _tool("mount")
        lines = ["set -e", f"echo {hostname} > /proc/sys/kernel/hostname"]
        for name in ("hosts", "resolv.conf"):
            source = quote(str(self._file(name)))
            lines.append(f"if [ -e /etc/{name} ]; then {mount} --bind {source} /etc/{name}; fi")
        for path in sorted({os.path.abspath(p) for p in private_dirs}, key=len):
            lines.append(f"{_tool('mkdir')} -p {quote(path)}")
            lines.append(f"{mount} -t tmpfs -o mode=1777 pinflow-private {quote(path)}")
        lines += [f"cd {quote(os.fspath(cwd))}", 'exec "$@"']
        return "\n".join(lines)


@functools.cache
def netns_available() -> str | None:
    """None when simulated hosts work here, else why not (checked once per process)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not os.path.exists("/bin/sh"):
        return "/bin/sh is missing"
    try:
        for tool in ("ip", "unshare", "mount", "mkdir"):
            _tool(tool)
        with Network() as network, tempfile.TemporaryDirectory() as private:
            done = network.add_host("probe").run(
                ["true"], timeout=COMMAND_TIMEOUT, private_dirs=[private]
            )
            if done.returncode != 0:
                return f"a process in a namespace failed to start: {done.stderr.strip()}"
    except (NetnsError, OSError, subprocess.SubprocessError) as exc:
        return f"creating a network namespace failed: {exc}"
    return None


def require_netns() -> None:
    """In a test: fail (in CI) or skip (elsewhere) when simulated hosts cannot be made here."""
    reason = netns_available()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(
            f"CI must run the multi-host tests, but network namespaces are unusable: {reason}"
        )
    pytest.skip(f"network namespaces are unusable: {reason}")


def network_fixture() -> Iterator[Network]:
    """The body of a fixture: ``def network() -> Iterator[Network]: yield from network_fixture()``
    (with ``@pytest.fixture``): requires namespaces, then a Network torn down after the test."""
    require_netns()
    with Network() as network:
        yield network
