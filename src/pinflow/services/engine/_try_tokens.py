"""Try tokens: the only credential a remote worker holds, good for one try and nothing else.

A worker never holds database credentials (issue #13): it talks to the execution API
(``/execution/v1``) with a short-lived JWT whose claims name one try (task instance id, try
number, DAG, run, task, map index, snapshot digest). The API answers for that try only.

Why a derived key and an audience of its own: a user's access token must never be accepted
by the execution API, nor a try token by the user API. The key is an HMAC of the instance's
JWT secret (``PINFLOW_JWT_SECRET`` or ``$PINFLOW_HOME/jwt_secret``) under a fixed label, so
the signature of one kind of token never verifies as the other, and the audience says it
again. A token is never logged nor returned by any endpoint but the try's own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

import jwt

from pinflow.errors import AuthenticationError
from pinflow.services.engine._claims import ClaimedTask

AUDIENCE = "pinflow:execution"
ISSUER = "pinflow"
DEFAULT_TTL = timedelta(seconds=600)
_ALGORITHM = "HS256"
_KEY_LABEL = b"pinflow execution api: try tokens v1"
_CLOCK_SKEW = timedelta(seconds=30)
_REQUIRED = ["exp", "iat", "aud", "sub", "ti_id", "try_number", "dag_id", "run_id", "digest"]


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


def claims_of(claimed: ClaimedTask) -> TryClaims:
    """The claims of a claimed try's token (what an executor sends its worker)."""
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

    def issue(self, claims: TryClaims, *, now: datetime | None = None) -> str:
        stamp = now or datetime.now(UTC)
        body = asdict(claims)
        payload = {
            "sub": f"ti:{claims.ti_id}:{claims.try_number}",
            "aud": AUDIENCE,
            "iss": ISSUER,
            "iat": stamp,
            "nbf": stamp,
            "exp": stamp + self.ttl,
            "jti": secrets.token_hex(8),
            **{k: v for k, v in body.items() if k != "snapshot_digest"},
            "digest": claims.snapshot_digest,
        }
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str) -> TryClaims:
        """The token's claims; ``AuthenticationError`` when it is invalid or expired."""
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
