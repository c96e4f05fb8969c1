"""Where the client finds its server and token: flags, else ``PINFLOW_URL`` / ``PINFLOW_TOKEN``,
else the file ``pinflow login`` wrote (``$PINFLOW_HOME/credentials.json``, mode 0600), else the
local default URL. Each of the two is resolved on its own, so ``PINFLOW_URL`` with a stored
token works (a token is only sent to the URL it was stored for, see ``resolve``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8080"
CREDENTIALS_FILE = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str | None
    url_source: str  # "flag", "environment", "login" or "default": said in error hints
    token_source: str | None


def home_dir() -> Path:
    return Path(os.environ.get("PINFLOW_HOME") or Path.home() / ".pinflow")


def credentials_path(home: Path | None = None) -> Path:
    return (home or home_dir()) / CREDENTIALS_FILE


def load_saved(home: Path | None = None) -> dict[str, Any]:
    """What ``pinflow login`` stored, or ``{}`` (missing or unreadable file)."""
    path = credentials_path(home)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(url: str, token: str, *, username: str | None = None, home: Path | None = None) -> Path:
    """Write the credentials file, readable by its owner only (created 0600, never wider)."""
    path = credentials_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump({"url": normalize_url(url), "token": token, "username": username}, handle)
    os.replace(tmp, path)
    return path


def forget(home: Path | None = None) -> bool:
    path = credentials_path(home)
    if not path.exists():
        return False
    path.unlink()
    return True


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def resolve(url: str | None = None, token: str | None = None) -> Credentials:
    """Flags over environment over the login file; the stored token only goes with its URL,
    so pointing ``--url`` at another server never leaks it there."""
    saved = load_saved()
    url_source, chosen = "flag", url
    if not chosen and os.environ.get("PINFLOW_URL"):
        url_source, chosen = "environment", os.environ["PINFLOW_URL"]
    if not chosen and saved.get("url"):
        url_source, chosen = "login", str(saved["url"])
    if not chosen:
        url_source, chosen = "default", DEFAULT_URL
    chosen = normalize_url(chosen)
    token_source: str | None = "flag"  # noqa: S105 - where the token came from
    if not token:
        token_source, token = "environment", os.environ.get("PINFLOW_TOKEN") or None
    if not token and saved.get("token") and normalize_url(str(saved.get("url", ""))) == chosen:
        token_source, token = "login", str(saved["token"])
    if not token:
        token_source = None
    return Credentials(chosen, token, url_source, token_source)
