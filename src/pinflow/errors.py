"""One exception root for the whole product; the API maps each subclass to one HTTP status.

Services and rules raise these, never ``HTTPException``: the edge translates in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, with where it is (``tasks[2].depends_on[0]``)."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


@dataclass
class PinflowError(Exception):
    """Root of every error Pinflow raises on purpose. ``message`` is shown to the user."""

    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


@dataclass
class InvalidInputError(PinflowError):
    """The request is malformed or breaks a rule (HTTP 400/422). ``problems`` lists each one."""

    problems: list[Problem] = field(default_factory=list)


@dataclass
class PayloadTooLargeError(InvalidInputError):
    """The request body is larger than a configured limit; refused before it is read in full.
    HTTP 413."""


@dataclass
class NotFoundError(PinflowError):
    """The thing asked for does not exist (or is hidden from the caller). HTTP 404."""


@dataclass
class ConflictError(PinflowError):
    """The state changed underneath, or the action is refused in the current state. HTTP 409."""


@dataclass
class DataLostError(PinflowError):
    """Stored data is missing or damaged: an artifact deleted, or altered (its sha256 no longer
    matches), outside Pinflow. HTTP 410: asking again will not help; computing it again will."""


@dataclass
class PermissionDeniedError(PinflowError):
    """The actor lacks the permission or the project authority. HTTP 403."""


@dataclass
class AuthenticationError(PinflowError):
    """The caller could not be identified (bad password, bad or expired token). HTTP 401."""


@dataclass
class LoginThrottledError(PinflowError):
    """Too many failed logins for this username from this client. HTTP 429."""

    retry_after: int = 0


def format_problems(problems: list[Problem]) -> str:
    return "; ".join(str(p) for p in problems)
