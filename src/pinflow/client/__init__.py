"""The HTTP client used by the CLI, dev mode and workers: ``PinflowClient`` and ``ClientError``.

It speaks HTTP only and imports nothing below the API, so it can run where the server's code
is not installed (a CI job that only pushes).
"""

from pinflow.client.credentials import Credentials, resolve
from pinflow.client.errors import ClientError
from pinflow.client.http import JSON, PinflowClient

__all__ = ["JSON", "ClientError", "Credentials", "PinflowClient", "resolve"]
