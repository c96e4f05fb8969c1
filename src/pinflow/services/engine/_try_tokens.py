"""Try tokens: the only credential a remote worker holds, good for one try and nothing else.

A worker never holds database credentials (issue #13): it talks to the execution API
(``/execution/v1``) with a short-lived JWT whose claims name one try (task instance id, try
number, DAG, run, task, map index, snapshot digest). The API answers for that try only.

Why a derived key and an audience of its own: a user's access token must never be accepted
by the execution API, nor a try token by the user API. The key is an HMAC of the instance's
JWT secret (``PINFLOW_JWT_SECRET`` or ``$PINFLOW_HOME/jwt_secret``) under a fixed label, so
the signature of one kind of token never verifies as the other, and the audience says it
again. A token is never logged nor returned by any endpoint but the try's own.

Two scopes. The token an executor puts in a broker message (``QUEUE_SCOPE``) may wait there
for a free worker far longer than a try token lives, so it lives ``queued_timeout`` and is
good for one call only: starting its try (``PATCH …/run``), which answers an ``EXECUTION_SCOPE``
token of the short life; every other call wants that one. A queue token read off the broker
can thus start the try once (a second start is a conflict), never read or write anything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

import jwt

from pinflow.errors import AuthenticationError
from pinflow.runtime.contract import TaskRequest
from pinflow.services.engine._claims import ClaimedTask
from pinflow.settings import Settings

AUDIENCE = "pinflow:execution"
ISSUER = "pinflow"
DEFAULT_TTL = timedelta(seconds=600)
_ALGORITHM = "HS256"
_KEY_LABEL = b"pinflow execution api: try tokens v1"
_CLOCK_SKEW = timedelta(seconds=30)
_REQUIRED = ["exp", "iat", "aud", "sub", "ti_id", "try_number", "dag_id", "run_id", "digest"]
EXECUTION_SCOPE = "execution"
QUEUE_SCOPE = "queue"
_SCOPES = (EXECUTION_SCOPE, QUEUE_SCOPE)


@dataclass(frozen=True)
class TryClaims:
    """The try a token is for: what every execution API call is checked against."""

    ti_id: int
    try_number: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    snapshot_digest: str

    def started_on(self, digest: str) -> TryClaims:
        """The same try, on the snapshot it started on (the run may be re-bound meanwhile)."""
        return replace(self, snapshot_digest=digest)


def claims_of(claimed: ClaimedTask | TaskRequest) -> TryClaims:
    """The claims of a try: a claimed one's token (what an executor sends its worker), or a
    request's (the local executor's channel for it)."""
    return TryClaims(
        ti_id=claimed.ti_id,
        try_number=claimed.try_number,
        dag_id=claimed.dag_id,
        run_id=claimed.run_id,
        task_id=claimed.task_id,
        map_index=claimed.map_index,
        snapshot_digest=claimed.snapshot_digest,
    )


def derive_key(instance_secret: str) -> bytes:
    """The try tokens' key: the instance's JWT secret never signs them itself."""
    return hmac.new(instance_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


class TryTokens:
    """Issues and verifies try tokens with the instance's key."""

    def __init__(self, instance_secret: str, ttl: timedelta = DEFAULT_TTL) -> None:
        self._key = derive_key(instance_secret)
        self.ttl = ttl

    def __repr__(self) -> str:  # never the key
        return f"TryTokens(ttl={self.ttl})"

    @classmethod
    def from_settings(cls, settings: Settings) -> TryTokens:
        """The tokens of this installation (every API server and scheduler agree)."""
        return cls(settings.instance_secret(), timedelta(seconds=settings.execution_token_ttl))

    def issue(
        self,
        claims: TryClaims,
        *,
        now: datetime | None = None,
        scope: str = EXECUTION_SCOPE,
        ttl: timedelta | None = None,
    ) -> str:
        """A token for ``claims``' try; ``scope`` ``QUEUE_SCOPE`` only starts it (see the module
        docs), and lives ``ttl`` (default: the tokens' ``ttl``)."""
        if scope not in _SCOPES:
            raise ValueError(f"unknown try token scope {scope!r}")
        stamp = now or datetime.now(UTC)
        body = asdict(claims)
        payload = {
            "sub": f"ti:{claims.ti_id}:{claims.try_number}",
            "aud": AUDIENCE,
            "iss": ISSUER,
            "iat": stamp,
            "nbf": stamp,
            "exp": stamp + (ttl or self.ttl),
            "scope": scope,
            "jti": secrets.token_hex(8),
            **{k: v for k, v in body.items() if k != "snapshot_digest"},
            "digest": claims.snapshot_digest,
        }
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str, *, scopes: tuple[str, ...] = (EXECUTION_SCOPE,)) -> TryClaims:
        """The token's claims; ``AuthenticationError`` when it is invalid, expired, or of a
        scope not in ``scopes``."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=_CLOCK_SKEW,
                options={"require": _REQUIRED},
            )
            if claims.get("scope", EXECUTION_SCOPE) not in scopes:
                raise AuthenticationError(
                    "This try token only starts its try (PATCH …/run); use the token that "
                    "call returned in Refreshed-API-Token."
                )
            return TryClaims(
                ti_id=int(claims["ti_id"]),
                try_number=int(claims["try_number"]),
                dag_id=str(claims["dag_id"]),
                run_id=str(claims["run_id"]),
                task_id=str(claims["task_id"]),
                map_index=int(claims["map_index"]),
                snapshot_digest=str(claims["digest"]),
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The try token has expired.") from None
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
            raise AuthenticationError("Invalid try token.") from None
