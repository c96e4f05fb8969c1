"""The environment cache (ADR 0032): real virtualenvs, built offline from local wheels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.wheels import write_wheel

from pinflow.cli.main import app as pinflow
from pinflow.runtime.env_prune import prune_envs
from pinflow.runtime.envs import EnvBuildError, EnvConfig, ensure_env, env_key, list_envs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    write_wheel(folder, "pfdemo", "1.0")
    write_wheel(folder, "pfdemo", "2.0")
    # A package the server has too (click 8): the environment's pin must win.
    write_wheel(folder, "click", "0.0.1")
    return folder


@pytest.fixture
def config(tmp_path: Path, wheels: Path) -> EnvConfig:
    return EnvConfig(
        venv_dir=tmp_path / "venvs", pip_args=("--no-index", "--find-links", str(wheels))
    )


def _entries(venv_dir: Path) -> list[str]:
    """What the cache holds besides the lock files."""
    return sorted(p.name for p in venv_dir.iterdir() if not p.name.endswith(".lock"))


def _python(python: Path, code: str) -> str:
    done = subprocess.run(
        [str(python), "-I", "-c", code], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_environment_has_its_own_pins_and_pinflow_after_them(config: EnvConfig) -> None:
    env = ensure_env(config, ["click==0.0.1", "pfdemo==1.0"])
    assert env.path == config.venv_dir / env_key(["click==0.0.1", "pfdemo==1.0"])
    code = "import click, pfdemo, pinflow.runtime.task_process as t; print(click.__version__, "
    code += "pfdemo.__version__, t.__name__)"
    assert _python(env.python, code) == "0.0.1 1.0 pinflow.runtime.task_process"
    # Built once: the second call finds it, and the cache holds one folder behind one link.
    assert ensure_env(config, ["click==0.0.1", "pfdemo==1.0"]) == env
    (link, folder) = _entries(config.venv_dir)[::-1]
    assert (config.venv_dir / link).resolve() == (config.venv_dir / folder).resolve()
    assert oct((config.venv_dir / folder).stat().st_mode & 0o777) == "0o700"


def test_a_failed_build_leaves_nothing_and_is_remembered(config: EnvConfig, tmp_path: Path) -> None:
    with pytest.raises(
        EnvBuildError,
        match=r"(?s)pip install failed .*No matching distribution found for pfdemo==3\.0",
    ):
        ensure_env(config, ["pfdemo==3.0"])
    key = env_key(["pfdemo==3.0"])
    assert _entries(config.venv_dir) == [f".{key}.failed"]  # no environment, no half-built one
    # Within the TTL the failure is repeated without building: even once the wheel exists.
    write_wheel(tmp_path / "wheels", "pfdemo", "3.0")
    with pytest.raises(EnvBuildError, match=r"failed \d+s ago"):
        ensure_env(config, ["pfdemo==3.0"])
    assert _entries(config.venv_dir) == [f".{key}.failed"]
    # After it, the next use builds again (and forgets the failure).
    retry = EnvConfig(config.venv_dir, config.pip_args, failure_ttl=0)
    env = ensure_env(retry, ["pfdemo==3.0"])
    assert _python(env.python, "import pfdemo; print(pfdemo.__version__)") == "3.0"
    assert not (config.venv_dir / f".{key}.failed").exists()


BUILDER = """
    import sys
    from pathlib import Path
    from pinflow.runtime.envs import EnvConfig, ensure_env

    config = EnvConfig.from_json(sys.argv[1])
    Path(sys.argv[2]).touch()
    while not Path(sys.argv[3]).exists():  # start together
        pass
    env = ensure_env(config, ["pfdemo==2.0"], log=lambda line: print("LOG", line, flush=True))
    print("ENV", env.path)
"""


def test_concurrent_builders_build_once(config: EnvConfig, tmp_path: Path) -> None:
    go = tmp_path / "go"
    builders = []
    for n in range(2):
        ready = tmp_path / f"ready{n}"
        command = [sys.executable, "-c", textwrap.dedent(BUILDER), config.to_json(), str(ready)]
        builders.append(
            subprocess.Popen([*command, str(go)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        )
    for n in range(2):
        while not (tmp_path / f"ready{n}").exists():
            assert builders[n].poll() is None, "a builder died before starting"
    go.touch()
    outputs = [b.communicate(timeout=120)[0] for b in builders]
    assert [b.returncode for b in builders] == [0, 0]
    builds = [line for text in outputs for line in text.splitlines() if "LOG building" in line]
    assert len(builds) == 1, outputs
    paths = {line for text in outputs for line in text.splitlines() if line.startswith("ENV")}
    assert len(paths) == 1
    assert len([e for e in _entries(config.venv_dir) if e.startswith(".")]) == 1  # one folder


def test_prune_removes_unused_environments_and_unfinished_builds(config: EnvConfig) -> None:
    old = ensure_env(config, ["pfdemo==1.0"])
    new = ensure_env(config, ["pfdemo==2.0"])
    long_ago = 1_000_000.0
    os.utime(old.path / "last-used", (long_ago, long_ago))
    unfinished = config.venv_dir / f".{'e' * 64}.abcd1234"
    unfinished.mkdir()
    pruned = prune_envs(config.venv_dir, unused_for=30 * 86400)
    assert {(p.key, p.what) for p in pruned} == {
        (old.key, "environment"),
        ("e" * 64, "unfinished build"),
    }
    assert [e["key"] for e in list_envs(config.venv_dir)] == [new.key]
    assert not unfinished.exists()
    assert len([e for e in _entries(config.venv_dir) if e.startswith(".")]) == 1


def test_the_cli_lists_builds_and_prunes(config: EnvConfig, tmp_path: Path, wheels: Path) -> None:
    home = tmp_path / "home"
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "d.yaml").write_text(
        "dag_id: d\nrequirements: [pfdemo==2.0]\ntasks:\n  - task_id: t\n    kind: bash\n"
        "    bash_command: 'true'\n"
    )
    env = {"PINFLOW_VENV_DIR": str(config.venv_dir), "PINFLOW_PIP_ARGS": " ".join(config.pip_args)}
    runner = CliRunner(env=env)

    def cli(*args: str, code: int = 0, stdout: bool = False) -> str:
        result = runner.invoke(pinflow, [*args, "--home", str(home)], catch_exceptions=False)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result.stdout if stdout else result.stdout + result.stderr

    assert "ready: pfdemo==2.0" in cli("envs", "build", str(dags))
    (listed,) = json.loads(cli("envs", "list", "-o", "json", stdout=True))
    assert listed["requirements"] == ["pfdemo==2.0"]
    assert "pfdemo==2.0" in cli("envs", "list")
    (dags / "d.yaml").write_text((dags / "d.yaml").read_text().replace("2.0", "9.9"))
    assert "its environment cannot be built" in cli("envs", "build", str(dags), code=1)
    assert "1 item(s) removed" in cli("envs", "prune", "--unused-for", "0")
    assert list_envs(config.venv_dir) == []


def test_push_check_requirements_builds_first_and_fails_before_sending(
    config: EnvConfig, tmp_path: Path
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    spec = "dag_id: d\nrequirements: [pfdemo=={v}]\ntasks:\n  - {{task_id: t, kind: bash, "
    spec += "bash_command: 'true'}}\n"
    env = {
        "PINFLOW_VENV_DIR": str(config.venv_dir),
        "PINFLOW_PIP_ARGS": " ".join(config.pip_args),
        "PINFLOW_URL": "http://127.0.0.1:9",  # nothing listens: reaching it is exit 6
        "PINFLOW_TOKEN": "pf_unused",
    }
    runner = CliRunner(env=env)

    def push(code: int) -> str:
        args = ["dags", "push", str(dags), "--check-requirements"]
        result = runner.invoke(pinflow, args, catch_exceptions=False)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result.stderr

    (dags / "d.yaml").write_text(spec.format(v="9.9"))
    assert "No matching distribution found for pfdemo==9.9" in push(1)  # never sent
    (dags / "d.yaml").write_text(spec.format(v="1.0"))
    push(6)  # built, then sent (and nobody answered)
    assert [e["requirements"] for e in list_envs(config.venv_dir)] == [["pfdemo==1.0"]]
