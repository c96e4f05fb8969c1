"""The environment cache: one virtualenv per requirements hash (issue #18, point 4; ADR 0032).

A DAG version that declares ``requirements`` runs its tasks in a virtualenv of its own, so
that v1 on ``pandas==2.1`` and v2 on ``pandas==2.2`` run side by side on one worker. The
environments live under ``PINFLOW_VENV_DIR`` (``$PINFLOW_HOME/venvs``), one per key: the
sha256 of the normalised requirements, the Python version and installation, and Pinflow's
version. Layout::

    <key>             a symlink to the environment, the one thing readers look at
    .<key>.<random>/  the environment itself (python -m venv, then pip or uv)
    .<key>.lock       held while a builder builds, so two builders never build one key twice
    .<key>.failed     the last failure (time, pip's output tail), for ``failure_ttl`` seconds

An environment is built where it will stay (its scripts' ``#!`` lines name that folder) and
published by renaming a symlink over ``<key>``: readers see a whole environment or none. A
failed or interrupted build leaves no ``<key>``; its folder is removed (or, after a crash, by
``prune``), and its error is remembered so that a DAG's retries do not rebuild in a storm.

Pinflow itself is not installed in an environment: a ``.pth`` file, read after the
environment's own ``site-packages``, adds the installation the builder runs from, so the task
runtime imports and the environment's own pins win over the server's packages.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pinflow
from pinflow.runtime.private import open_private, private_dirs

INFO_FILE = "pinflow-env.json"
USED_FILE = "last-used"
PTH_FILE = "zz-pinflow-runtime.pth"  # .pth files are read in name order, after the env's own
_TAIL_CHARS = 3000


class EnvBuildError(Exception):
    """An environment could not be built; the message has pip's (or uv's) last lines."""


@dataclass(frozen=True)
class EnvConfig:
    """Where environments live and how they are built (``Settings.env_config``)."""

    venv_dir: Path
    pip_args: tuple[str, ...] = ()
    failure_ttl: float = 300.0
    installer: str = "auto"  # auto (uv when on PATH, else pip) | pip | uv
    build_timeout: float = 1800.0

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "venv_dir": str(self.venv_dir)})

    @classmethod
    def from_json(cls, text: str) -> EnvConfig:
        data = json.loads(text)
        return cls(
            venv_dir=Path(data["venv_dir"]),
            pip_args=tuple(data["pip_args"]),
            failure_ttl=float(data["failure_ttl"]),
            installer=str(data["installer"]),
            build_timeout=float(data["build_timeout"]),
        )


@dataclass(frozen=True)
class Env:
    key: str
    path: Path
    requirements: list[str]

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def interpreter_id() -> str:
    """This interpreter as an environment depends on it: version, implementation, where."""
    version = ".".join(map(str, sys.version_info[:3]))
    return f"{sys.implementation.name}-{version}-{sys.platform}@{sys.base_prefix}"


def env_key(requirements: Sequence[str]) -> str:
    """The cache key of an environment with ``requirements`` (already normalised)."""
    document = {
        "requirements": sorted(requirements),
        "python": interpreter_id(),
        "pinflow": pinflow.__version__,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def find_env(config: EnvConfig, requirements: Sequence[str]) -> Env | None:
    """The built environment for ``requirements``, or ``None``."""
    return _ready(config.venv_dir, env_key(requirements))


def ensure_env(
    config: EnvConfig, requirements: Sequence[str], *, log: Callable[[str], None] | None = None
) -> Env:
    """The environment for ``requirements``, built on first use (see the module docs).

    Safe for any number of processes at once: one builds under the key's file lock, the
    others wait for it and find its result (the environment, or its recorded failure).
    Raises ``EnvBuildError`` for a failed build, and for a failure recorded less than
    ``failure_ttl`` seconds ago (without building again).
    """
    key = env_key(requirements)
    env = _ready(config.venv_dir, key)
    if env is None:
        private_dirs(config.venv_dir)
        with _locked(config.venv_dir / f".{key}.lock"):
            env = _ready(config.venv_dir, key)
            if env is None:
                _raise_recent_failure(config, key)
                env = _build(config, key, list(requirements), log or (lambda _: None))
    with contextlib.suppress(OSError):
        (env.path / USED_FILE).touch()
    return env


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = open_private(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ready(venv_dir: Path, key: str) -> Env | None:
    link = venv_dir / key
    try:
        info = json.loads((link / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return Env(key, link, list(info.get("requirements", [])))


def _raise_recent_failure(config: EnvConfig, key: str) -> None:
    marker = config.venv_dir / f".{key}.failed"
    try:
        failure = json.loads(marker.read_text())
        age = time.time() - float(failure["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if age < config.failure_ttl:
        raise EnvBuildError(
            f"{failure.get('error', 'the build failed')} (failed {age:.0f}s ago; tried again "
            f"{config.failure_ttl:.0f}s after the failure, or at once after "
            "`pinflow envs prune --failed`)"
        )


def _build(config: EnvConfig, key: str, requirements: list[str], log: Callable[[str], None]) -> Env:
    venv_dir = config.venv_dir
    folder = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=venv_dir))
    published = False
    try:
        log(f"building the environment {key[:12]} for {', '.join(requirements)}")
        started = time.monotonic()
        _create(config, folder, requirements, log)
        info = {
            "key": key,
            "requirements": requirements,
            "python": interpreter_id(),
            "pinflow": pinflow.__version__,
            "built_at": time.time(),
        }
        fd = open_private(folder / INFO_FILE, os.O_WRONLY | os.O_TRUNC)
        with os.fdopen(fd, "w") as out:
            json.dump(info, out)
        _publish(venv_dir, key, folder)
        published = True
        (venv_dir / f".{key}.failed").unlink(missing_ok=True)
        log(f"built the environment {key[:12]} in {time.monotonic() - started:.1f}s")
        return Env(key, venv_dir / key, requirements)
    except EnvBuildError as exc:
        _record_failure(venv_dir, key, str(exc))
        raise
    finally:
        if not published:
            shutil.rmtree(folder, ignore_errors=True)


def _publish(venv_dir: Path, key: str, folder: Path) -> None:
    """Point ``<key>`` at ``folder`` in one rename: never a half-built environment."""
    link = venv_dir / f".{key}.link-{os.getpid()}"
    link.unlink(missing_ok=True)
    os.symlink(folder.name, link)
    os.replace(link, venv_dir / key)


def _record_failure(venv_dir: Path, key: str, error: str) -> None:
    marker = venv_dir / f".{key}.failed"
    tmp = venv_dir / f".{key}.failed-{os.getpid()}"
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as out:
        json.dump({"at": time.time(), "error": error}, out)
    os.replace(tmp, marker)


def _create(
    config: EnvConfig, folder: Path, requirements: list[str], log: Callable[[str], None]
) -> None:
    installer = _installer(config)
    with_pip = installer == "venv-pip"
    venv = [sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), str(folder)]
    _run(config, venv, log, "python -m venv")
    _write_pth(folder)
    python = str(folder / "bin" / "python")
    quiet = ["--disable-pip-version-check", "--no-input"]
    if installer == "uv":
        command = [_uv(), "pip", "install", "--python", python]
    elif installer == "pip":
        command = [sys.executable, "-m", "pip", "--python", python, "install", *quiet]
    else:  # no pip beside this interpreter: the environment's own (ensurepip's, offline)
        command = [python, "-m", "pip", "install", *quiet]
    _run(config, [*command, *config.pip_args, *requirements], log, f"{installer} install")


def _installer(config: EnvConfig) -> str:
    if config.installer == "uv" or (config.installer == "auto" and shutil.which("uv")):
        return "uv"
    return "pip" if importlib.util.find_spec("pip") is not None else "venv-pip"


def _uv() -> str:
    found = shutil.which("uv")
    if found is None:
        raise EnvBuildError("PINFLOW_VENV_INSTALLER=uv, but uv is not on PATH; install it")
    return found


def _write_pth(folder: Path) -> None:
    """Make Pinflow (and what it needs) importable in the environment, *after* its own
    packages: every site folder of the installation this builder runs from."""
    sites = [*site.getsitepackages(), str(Path(pinflow.__file__).resolve().parent.parent)]
    lines = [f"import site; site.addsitedir({path!r})" for path in dict.fromkeys(sites)]
    (purelib,) = folder.glob("lib/python*/site-packages")
    fd = open_private(purelib / PTH_FILE, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")


def _run(config: EnvConfig, command: list[str], log: Callable[[str], None], what: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINFLOW_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    try:
        done = subprocess.run(  # noqa: S603 - our interpreter, pip or uv, and the spec's list
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            timeout=config.build_timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise EnvBuildError(f"{what} did not finish in {config.build_timeout:g}s") from None
    except OSError as exc:
        raise EnvBuildError(f"{what} could not start: {exc}") from None
    for line in done.stdout.splitlines():
        log(line)
    if done.returncode != 0:
        tail = done.stdout.strip()[-_TAIL_CHARS:]
        raise EnvBuildError(f"{what} failed (exit {done.returncode}): {tail}")


def list_envs(venv_dir: Path) -> list[dict[str, Any]]:
    """Every published environment: its key, requirements, size, when built and last used."""
    found = []
    for link in sorted(venv_dir.glob("[0-9a-f]*")) if venv_dir.is_dir() else []:
        env = _ready(venv_dir, link.name)
        if env is None:
            continue
        info = json.loads((env.path / INFO_FILE).read_text())
        used = env.path / USED_FILE
        found.append(
            {
                **info,
                "path": str(env.path.resolve()),
                "bytes": _size(env.path.resolve()),
                "last_used": used.stat().st_mtime if used.exists() else info.get("built_at"),
            }
        )
    return found


def _size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*"))
