"""A run's staging dir kept on the shared store, for workers that share no disk.

A run has one staging dir (``TaskRequest.staging_dir``), the same for every try and after every
clear, so that a task finds what its upstreams left there. On one machine it is simply a local
directory. When the tries of a run may run on different hosts, the directory lives on the
shared store at ``TaskRequest.staging_uri`` (``<shared_store_url>/staging/<dag_id>/<run_id>``)
and each try works on a local copy: ``attached(req)`` pulls the store's files into
``req.staging_dir`` before the try and pushes the directory back after it, whether the task
succeeded or not::

    with staging.attached(req):
        result = run_the_task(req)  # chdir(req.staging_dir), as the task process does

Files only (an empty folder is not kept), and deletions travel both ways. Several tries of
one run may work at once, on one host or on many: a push sends only the files this host
changed or deleted since it last synchronised, and a pull never overwrites or deletes a local
file changed since then (a try on this host still has to push it). Two tries that change the
same file: the last push wins, as with a shared disk. What this host last synchronised is a
small record next to the directory (``.<run>.pinflow-sync.json``), locked while a pull or a
push runs. Transfers are whole files; every local file is hashed on each pull and push, so the
cost grows with the size of the staging dir (keep big data in your own storage).

Standard library only, with fsspec for a store at a URL other than ``file://``
(``runtime.remote_fs``, imported only then). ADR 0013 has the why.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from pinflow.errors import PinflowError
from pinflow.runtime.contract import TaskRequest
from pinflow.runtime.paths import path_component
from pinflow.runtime.private import open_private, private_dirs

STAGING_PREFIX = "staging"
RECORD_SUFFIX = ".pinflow-sync.json"
# A file on its way in (a pull's or a push's temporary copy, renamed into place when whole):
# never listed, so that another host never downloads, nor this one uploads, a half-written one.
PARTIAL_PREFIX = ".pinflow-partial."
_CHUNK = 1024 * 1024


@dataclass
class StagingError(PinflowError):
    """The run's staging dir could not be brought from, or saved to, the shared store."""


def run_staging_uri(root: str, dag_id: str, run_id: str) -> str:
    """``<root>/staging/<dag_id>/<run_id>``: where a run's staging dir lives on the shared store
    whose URL is ``root``; the same for every try and after every clear of the run."""
    parts = (STAGING_PREFIX, path_component(dag_id), path_component(run_id))
    return "/".join((root.rstrip("/"), *parts))


def staging_root_uri(root: str) -> str:
    """``<root>/staging/``: every run's staging dir on the shared store at ``root`` is under it."""
    return f"{root.rstrip('/')}/{STAGING_PREFIX}/"


@contextlib.contextmanager
def attached(req: TaskRequest) -> Iterator[Path]:
    """Around one try: the run's staging dir as a local directory (``req.staging_dir``).

    With ``req.staging_uri``, pulls it from the store before and pushes it back after the try
    (also when the try raised). Without, does nothing (the directory is local: the local
    executor's case). A pull or push that fails raises ``StagingError``: the try must not count
    as a success when its files did not reach the store.
    """
    local = Path(req.staging_dir)
    if req.staging_uri is None:
        yield local
        return
    pull(req.staging_uri, local)
    try:
        yield local
    finally:
        push(local, req.staging_uri)


def pull(uri: str, local: Path) -> None:
    """Bring the files of the staging dir at ``uri`` into ``local``: new and changed ones are
    downloaded, those deleted on the store are deleted here; a file changed here since this
    host last synchronised is kept as it is (it is still to be pushed)."""
    remote = _remote(uri)
    try:
        with _record(local) as record:
            _pull(remote, local, record)
    except OSError as exc:
        raise StagingError(
            f"the run's staging dir could not be brought from {remote}: {exc}"
        ) from exc


def push(local: Path, uri: str) -> None:
    """Send what changed in ``local`` since this host last synchronised to the staging dir at
    ``uri``: changed and new files are uploaded, deleted ones are deleted there."""
    remote = _remote(uri)
    try:
        with _record(local) as record:
            _push(remote, local, record)
    except OSError as exc:
        raise StagingError(f"the run's staging dir could not be saved to {remote}: {exc}") from exc


def discard(uri: str) -> None:
    """Remove the staging dir at ``uri`` from the store (with its run; gone is fine)."""
    _remote(uri).remove_all()


# --- the two directions -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Synced:
    """A file as this host last synchronised it: its content, and the store's version tag."""

    sha256: str
    tag: str | None


def _pull(remote: _Remote, local: Path, record: dict[str, _Synced]) -> None:
    found = remote.files()
    private_dirs(local)
    for rel, tag in sorted(found.items()):
        target = _inside(local, rel)
        synced = record.get(rel)
        here = _digest(target)
        if here is None and os.path.lexists(target):
            continue  # a folder or a link is in the way: local wins, the push will say so
        if here is not None and (synced is None or here != synced.sha256):
            continue  # changed here since the last sync, by a try that has still to push it
        if here is not None and synced is not None and tag is not None and tag == synced.tag:
            continue  # the same on both sides
        try:
            record[rel] = _Synced(_download(remote, rel, target), tag)
        except FileNotFoundError:
            continue  # deleted on the store since it was listed: as if never listed
    for rel in [rel for rel in record if rel not in found]:
        synced = record.pop(rel)
        target = _inside(local, rel)
        if _digest(target) == synced.sha256:  # deleted on the store, unchanged here
            target.unlink()
            _prune(target.parent, local)


def _push(remote: _Remote, local: Path, record: dict[str, _Synced]) -> None:
    here = _local_files(local)
    for rel, path in sorted(here.items()):
        digest = _digest(path)
        synced = record.get(rel)
        if digest is None or (synced is not None and synced.sha256 == digest):
            continue
        record[rel] = _Synced(digest, remote.upload(path, rel))
    for rel in [rel for rel in record if rel not in here]:
        remote.remove(rel)
        del record[rel]


def _download(remote: _Remote, rel: str, target: Path) -> str:
    """Write the store's ``rel`` to ``target`` atomically; its sha256."""
    private_dirs(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=".pull", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = remote.download(rel, _Hashing(out))
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return digest


class _Hashing:
    """A binary writer that hashes what passes through it."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return self.out.write(data)


def _digest(path: Path) -> str | None:
    """The sha256 of the regular file ``path`` (a link is not followed); ``None`` otherwise."""
    try:  # O_NONBLOCK: a FIFO in the way must not block the try
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _local_files(local: Path) -> dict[str, Path]:
    """The regular files under ``local`` by ``/``-separated relative path (links and partial
    copies skipped)."""
    files: dict[str, Path] = {}
    for folder, _dirs, names in os.walk(local):
        for name in names:
            if name.startswith(PARTIAL_PREFIX):
                continue
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(local).as_posix()] = path
    return files


def _inside(local: Path, rel: str) -> Path:
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise StagingError(f"the staging dir holds a file named {rel!r}, which is not a path")
    return local.joinpath(*parts)


def _prune(folder: Path, local: Path) -> None:
    """Remove the folders a deletion emptied, up to (not including) ``local``."""
    while folder != local and folder.is_relative_to(local):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


@contextlib.contextmanager
def _record(local: Path) -> Iterator[dict[str, _Synced]]:
    """What this host last synchronised of ``local``, locked for one pull or push, and saved
    after it (also after a failure: each entry is updated once its file is done)."""
    path = local.parent / f".{local.name}{RECORD_SUFFIX}"
    fd = open_private(path, os.O_RDWR | os.O_APPEND)
    with open(fd, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        try:
            saved = json.loads(handle.read() or "{}").get("files", {})
            record = {rel: _Synced(e["sha256"], e.get("tag")) for rel, e in saved.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            record = {}  # unreadable: every local file counts as changed here, none is lost
        before = dict(record)
        try:
            yield record
        finally:
            if record != before:  # most syncs change nothing: no rewrite then
                files = {
                    rel: {"sha256": s.sha256, "tag": s.tag} for rel, s in sorted(record.items())
                }
                handle.seek(0)
                handle.truncate()
                json.dump({"version": 1, "files": files}, handle)
                handle.flush()


# --- where the store is ---------------------------------------------------------------------------


class _Remote(Protocol):
    def files(self) -> dict[str, str | None]:
        """Each file by relative path, with a tag that changes when the file does (or None)."""
        ...

    def download(self, rel: str, out: _Hashing) -> str: ...

    def upload(self, source: Path, rel: str) -> str | None: ...

    def remove(self, rel: str) -> None: ...

    def remove_all(self) -> None: ...


def _remote(uri: str) -> _Remote:
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return _FileRemote(Path(urllib.request.url2pathname(parsed.path)))
    from pinflow.runtime.remote_fs import filesystem, safe_url

    fs, path = filesystem(uri)
    return _FsspecRemote(fs, path, safe_url(uri))


class _FileRemote:
    """A staging dir on a file system every host mounts (``file:///mnt/shared/…``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __str__(self) -> str:
        return self.root.as_uri()

    def files(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for rel, path in _local_files(self.root).items():
            st = path.stat()
            found[rel] = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
        return found

    def download(self, rel: str, out: _Hashing) -> str:
        with _inside(self.root, rel).open("rb") as source:
            shutil.copyfileobj(source, out, _CHUNK)
        return out.hash.hexdigest()

    def upload(self, source: Path, rel: str) -> str | None:
        target = _inside(self.root, rel)
        private_dirs(target.parent)
        fd, tmp = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=".push", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as data:
                shutil.copyfileobj(data, out, _CHUNK)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        st = target.stat()
        return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"

    def remove(self, rel: str) -> None:
        target = _inside(self.root, rel)
        target.unlink(missing_ok=True)
        _prune(target.parent, self.root)

    def remove_all(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# The fields of an fsspec listing entry that change when the object does, best first.
_TAG_FIELDS = ("ETag", "etag", "md5", "mtime", "LastModified")


class _FsspecRemote:
    """A staging dir at a URL fsspec opens (``s3://bucket/prefix/staging/<dag>/<run>``)."""

    def __init__(self, fs: Any, path: str, shown: str) -> None:
        self.fs, self.path, self.shown = fs, path, shown

    def __str__(self) -> str:
        return self.shown

    def files(self) -> dict[str, str | None]:
        self.fs.invalidate_cache(self.path)  # another host may have written since
        try:
            listing = self.fs.find(self.path, detail=True)
        except FileNotFoundError:
            return {}
        prefix = self.path + "/"
        return {
            name[len(prefix) :]: _tag(info)
            for name, info in listing.items()
            if name.startswith(prefix) and info.get("type", "file") == "file"
        }

    def download(self, rel: str, out: _Hashing) -> str:
        _inside(Path("/"), rel)
        with self.fs.open(f"{self.path}/{rel}", "rb") as source:
            shutil.copyfileobj(source, out, _CHUNK)
        return out.hash.hexdigest()

    def upload(self, source: Path, rel: str) -> str | None:
        _inside(Path("/"), rel)
        target = f"{self.path}/{rel}"
        self.fs.put_file(str(source), target)
        return _tag(self.fs.info(target))

    def remove(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(f"{self.path}/{rel}")

    def remove_all(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path, recursive=True)


def _tag(info: dict[str, Any]) -> str | None:
    for name in _TAG_FIELDS:
        if info.get(name) is not None:
            return f"{info.get('size')}:{info[name]}"
    return None
