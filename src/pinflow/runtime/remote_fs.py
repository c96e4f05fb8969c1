"""fsspec, for the stores that live at a URL other than ``file://`` (``s3://bucket/prefix``).

The one place the artifact store and the run staging open a remote file system. fsspec (and,
for ``s3://``, s3fs) is the optional ``s3`` extra: it is imported only when such a URL is
used, and a missing package is ``pinflow.extras``' one-line error naming the extra.

Credentials and options never come from the URL (a URL is written into the metadata database
as part of every artifact reference, and into logs): a URL carrying a user name or password is
refused. s3fs takes them from the standard environment instead, as the AWS tools do —
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``,
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` (an S3-compatible server: MinIO, Ceph, moto) —
or from fsspec's own configuration (``FSSPEC_S3_ENDPOINT_URL``, or a JSON file in
``FSSPEC_CONFIG_DIR`` such as ``{"s3": {"client_kwargs": {"region_name": "eu-west-1"}}}``).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from pinflow.extras import S3, Extra, require

# The schemes s3fs implements; any other one needs only fsspec and its own package.
_S3_SCHEMES = frozenset({"s3", "s3a"})


def safe_url(url: str) -> str:
    """``url`` without a user name or password, for messages."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.username is None and parsed.password is None:
        return url
    return parsed._replace(netloc=parsed.hostname or "").geturl()


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system of ``url`` and the path of ``url`` inside it (``bucket/prefix``).

    ``ValueError`` when the URL carries credentials; ``MissingExtraError`` when fsspec, or the
    package of the URL's scheme, is not installed.
    """
    parsed = urllib.parse.urlsplit(url)
    if parsed.username is not None or parsed.password is not None:
        raise ValueError(
            f"the store URL {safe_url(url)!r} must not carry credentials: set them in the "
            "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or in fsspec's configuration"
        )
    scheme = parsed.scheme
    on_s3 = scheme in _S3_SCHEMES
    purpose = S3.purpose if on_s3 else f"A store at {scheme}:// URLs"
    core = require(Extra(S3.name, purpose, "fsspec.core"))
    if on_s3:
        require(S3)
    fs, path = core.url_to_fs(url)
    return fs, str(path).rstrip("/")
