"""The artifact store: where values too large for the metadata database live (large XComs).

A task process writes an artifact and reports a reference (``ArtifactRef``: URI, size,
sha256); the scheduler records the reference without reading the artifact; whoever needs the
value (a downstream task process, the API) reads it back, checked against the size and the
sha256 it was written with, so a truncated or altered artifact is an error, never a wrong
value.

Keys are deterministic per try (``xcom_key``): a new try never overwrites an earlier try's
artifact, the scheduler can check that a reported reference is the one the try was due to
write, and a run's artifacts share a prefix (``run_prefix``) that is removed with the run.

A store is opened from its root URI (``open_store``): ``file:///…`` is built in; any other
scheme (an object store, ``s3://bucket/prefix``, for workers on other machines) opens through
fsspec (``FsspecArtifactStore``), unless a backend was plugged in for it with
``register_scheme`` by implementing ``ArtifactStore``'s four primitives. Checking sizes and
digests stays here (``put``, ``get``), so no backend can forget it. ADRs 0008 and 0013 have
the why.

Standard library only (and ``pinflow.errors``): this module runs in task processes. fsspec is
imported only when a store at another URL is opened (``runtime.remote_fs``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pinflow.errors import DataLostError
from pinflow.runtime.paths import path_component
from pinflow.runtime.private import private_dirs

XCOM_PREFIX = "xcom"


@dataclass(frozen=True)
class ArtifactRef:
    """Where an artifact is, and what it must be when read: ``size`` bytes hashing to
    ``sha256`` (hex)."""

    uri: str
    size: int
    sha256: str


class ArtifactStore(Protocol):
    """What a backend implements: keys are ``/``-separated relative paths made of
    ``path_component`` parts; URIs are what references carry."""

    @property
    def root(self) -> str:
        """The store's URI, as ``open_store`` takes it."""
        ...

    def uri_of(self, key: str) -> str: ...

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically: a reader sees all of it or nothing."""
        ...

    def read(self, uri: str) -> bytes:
        """The bytes behind ``uri``; ``DataLostError`` when it is missing or not in this store."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Remove every artifact whose key starts with the folder ``prefix`` (gone is fine)."""
        ...


def xcom_key(dag_id: str, run_id: str, task_id: str, *, map_index: int, try_number: int) -> str:
    """``xcom/<dag_id>/<run_id>/<task_id>/<map_index>/attempt=<n>.json``, like a try's log."""
    parts = (dag_id, run_id, task_id, str(map_index))
    return "/".join((XCOM_PREFIX, *map(path_component, parts), f"attempt={try_number}.json"))


def run_prefix(dag_id: str, run_id: str) -> str:
    """The folder of every artifact of one run (what deleting the run removes)."""
    return "/".join((XCOM_PREFIX, path_component(dag_id), path_component(run_id)))


def key_matches(uri: str, key: str) -> bool:
    """Whether ``uri`` names ``key`` (in whichever store): how the scheduler checks that a
    reported reference is the one the try was due to write, without opening the store."""
    path = urllib.parse.unquote(urllib.parse.urlparse(uri).path)
    return path.endswith("/" + key)


def put(store: ArtifactStore, key: str, data: bytes) -> ArtifactRef:
    """Write ``data`` under ``key`` and return its reference."""
    store.write(key, data)
    return ArtifactRef(store.uri_of(key), len(data), hashlib.sha256(data).hexdigest())


def get(store: ArtifactStore, ref: ArtifactRef) -> bytes:
    """The artifact's bytes, only if they are the ones ``ref`` recorded."""
    data = store.read(ref.uri)
    found = hashlib.sha256(data).hexdigest()
    if len(data) != ref.size or found != ref.sha256:
        raise DataLostError(
            f"the artifact {ref.uri} is damaged: it holds {len(data)} bytes with sha256 "
            f"{found}, not the {ref.size} bytes with sha256 {ref.sha256} that were written; "
            "it was altered or truncated outside Pinflow",
            {"uri": ref.uri, "size": ref.size, "sha256": ref.sha256},
        )
    return data


def get_json(store: ArtifactStore, ref: ArtifactRef) -> Any:
    """The JSON value of an artifact (checked, as ``get``)."""
    return json.loads(get(store, ref))


# --- the file:// store --------------------------------------------------------------------------


class FileArtifactStore:
    """Artifacts as files under ``root``, for one machine or a shared file system."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root).absolute()

    @classmethod
    def from_uri(cls, uri: str) -> FileArtifactStore:
        return cls(Path(urllib.request.url2pathname(urllib.parse.urlparse(uri).path)))

    @property
    def root(self) -> str:
        return self.path.as_uri()

    def uri_of(self, key: str) -> str:
        return self._path(key).as_uri()

    def write(self, key: str, data: bytes) -> None:
        target = self._path(key)
        private_dirs(target.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                # On disk before the reference can be committed to the database.
                os.fsync(out.fileno())
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def read(self, uri: str) -> bytes:
        path = self._path_of_uri(uri)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise DataLostError(
                f"the artifact {uri} is missing: it was deleted outside Pinflow",
                {"uri": uri},
            ) from None

    def delete_prefix(self, prefix: str) -> None:
        folder = self._path(prefix)
        shutil.rmtree(folder, ignore_errors=True)
        # Tidy the parents the prefix emptied (the DAG's folder after its last run), never
        # the root itself; a parent still in use is not empty and stays.
        for parent in folder.parents:
            if parent == self.path or not parent.is_relative_to(self.path):
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def _path(self, key: str) -> Path:
        path = self.path.joinpath(*key.split("/"))
        if not path.resolve().is_relative_to(self.path.resolve()) or path == self.path:
            raise ValueError(f"artifact key {key!r} is not inside the store {self.root}")
        return path

    def _path_of_uri(self, uri: str) -> Path:
        """A URI from a reference, trusted only inside the root (a reference is data)."""
        parsed = urllib.parse.urlparse(uri)
        path = Path(urllib.request.url2pathname(parsed.path))
        if parsed.scheme != "file" or not path.resolve().is_relative_to(self.path.resolve()):
            raise DataLostError(
                f"the artifact {uri} is not in the artifact store {self.root}",
                {"uri": uri, "store": self.root},
            )
        return path


# --- any other URL, through fsspec ---------------------------------------------------------------


class FsspecArtifactStore:
    """Artifacts as objects under a URL that fsspec opens (``s3://bucket/prefix``).

    ``write`` is one whole-object write (``pipe_file``: one PUT on an object store, where an
    object appears whole or not at all), ``read`` one GET, ``delete_prefix`` a recursive
    remove. References are ``<root>/<key>``: keys are made of ``path_component`` parts, which
    need no escaping in a URL.
    """

    def __init__(self, root: str) -> None:
        from pinflow.runtime.remote_fs import filesystem

        self._root = root.rstrip("/")
        self.fs, self._path = filesystem(self._root)

    @classmethod
    def from_uri(cls, uri: str) -> FsspecArtifactStore:
        return cls(uri)

    @property
    def root(self) -> str:
        return self._root

    def uri_of(self, key: str) -> str:
        return f"{self._root}/{_checked_key(key, self._root)}"

    def write(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self._path}/{_checked_key(key, self._root)}", data)

    def read(self, uri: str) -> bytes:
        key = self._key_of_uri(uri)
        try:
            data: bytes = self.fs.cat_file(f"{self._path}/{key}")
        except FileNotFoundError:
            raise DataLostError(
                f"the artifact {uri} is missing: it was deleted outside Pinflow",
                {"uri": uri},
            ) from None
        return data

    def delete_prefix(self, prefix: str) -> None:
        path = f"{self._path}/{_checked_key(prefix, self._root)}"
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path, recursive=True)

    def _key_of_uri(self, uri: str) -> str:
        """The key a reference names, trusted only inside the root (a reference is data)."""
        inside = uri.startswith(self._root + "/")
        key = uri[len(self._root) + 1 :] if inside else ""
        if not inside or not _is_key(key):
            raise DataLostError(
                f"the artifact {uri} is not in the artifact store {self._root}",
                {"uri": uri, "store": self._root},
            )
        return key


def _is_key(key: str) -> bool:
    return all(part not in ("", ".", "..") for part in key.split("/"))


def _checked_key(key: str, root: str) -> str:
    if not _is_key(key):
        raise ValueError(f"artifact key {key!r} is not inside the store {root}")
    return key


# --- opening a store by its URI -----------------------------------------------------------------

StoreFactory = Callable[[str], ArtifactStore]
_FACTORIES: dict[str, StoreFactory] = {"file": FileArtifactStore.from_uri}


def register_scheme(scheme: str, factory: StoreFactory) -> None:
    """Make ``open_store`` open ``<scheme>://…`` roots with ``factory`` instead of fsspec."""
    _FACTORIES[scheme] = factory


def open_store(root: str) -> ArtifactStore:
    """The store whose root is the URI ``root``: ``file:///var/lib/pinflow/artifacts``, or any
    URL fsspec opens (``s3://bucket/prefix/artifacts``, with the ``s3`` extra)."""
    scheme = urllib.parse.urlparse(root).scheme
    factory = _FACTORIES.get(scheme)
    if factory is not None:
        return factory(root)
    if len(scheme) < 2:  # no scheme, or a Windows drive letter: a path, not a URL
        raise ValueError(
            f"unsupported artifact store {root!r}: expected a URL (file:///…, s3://bucket/…)"
        )
    return FsspecArtifactStore(root)
