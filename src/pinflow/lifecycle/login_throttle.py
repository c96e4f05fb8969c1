"""How long a login must wait, from the failures seen so far (ADR 0018).

Three limits, each with exponential backoff from the latest failure it counts:

* ``RefuseGuessingOneAccount``: failures of one account from one client address;
* ``RefuseSprayingFromOneAddress``: failures from one address, over any usernames;
* ``SlowAttackOnOneAccount``: failures of one account over all addresses. It delays only the
  addresses that have themselves failed on that account, so that the owner, logging in from
  an address that has not been failing, still gets in while the account is under attack.

Pure: counts in, seconds out; the service counts the failures in the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LoginThrottle:
    """The limits. Past a limit, the wait is ``base_delay`` doubled per further failure,
    at most ``max_delay``; failures older than ``window`` are forgotten."""

    max_failures: int = 5  # one account from one address
    max_client_failures: int = 10  # one address, any usernames
    max_account_failures: int = 20  # one account, any addresses
    window: timedelta = timedelta(hours=1)
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=15)


DEFAULT_THROTTLE = LoginThrottle()


@dataclass(frozen=True)
class Failures:
    """Failures within the window, and when the latest of them happened."""

    count: int = 0
    latest: datetime | None = None


@dataclass(frozen=True)
class LoginHistory:
    """The failures a login attempt is judged by: of this account from this address, from
    this address (any usernames), and of this account (any addresses)."""

    pair: Failures
    client: Failures
    account: Failures


def backoff(count: int, limit: int, throttle: LoginThrottle) -> timedelta | None:
    """The delay after ``count`` failures against ``limit``; ``None`` below it."""
    if count < limit:
        return None
    doublings = min(count - limit, 30)  # 2**30 times any sane base is past max_delay already
    delay: timedelta = throttle.base_delay * (1 << doublings)
    return min(throttle.max_delay, delay)


def _remaining(latest: datetime | None, delay: timedelta | None, now: datetime) -> float:
    if latest is None or delay is None:
        return 0.0
    return (latest + delay - now).total_seconds()


def refuse_guessing_one_account(h: LoginHistory, t: LoginThrottle, now: datetime) -> float:
    """Why: one address guessing one account's password is the classic brute force."""
    return _remaining(h.pair.latest, backoff(h.pair.count, t.max_failures, t), now)


def refuse_spraying_from_one_address(h: LoginHistory, t: LoginThrottle, now: datetime) -> float:
    """Why: an address trying a few passwords on many usernames stays under every
    per-account limit (password spraying)."""
    return _remaining(h.client.latest, backoff(h.client.count, t.max_client_failures, t), now)


def slow_attack_on_one_account(h: LoginHistory, t: LoginThrottle, now: datetime) -> float:
    """Why: many addresses, each under its own limit, can still guess one account. Only
    addresses that have failed on the account wait, so this never locks the owner out."""
    if h.pair.count == 0:
        return 0.0
    return _remaining(h.pair.latest, backoff(h.account.count, t.max_account_failures, t), now)


RULES = (refuse_guessing_one_account, refuse_spraying_from_one_address, slow_attack_on_one_account)


def login_wait(history: LoginHistory, throttle: LoginThrottle, now: datetime) -> int:
    """Whole seconds until a login may be tried (0: now), the longest any rule asks."""
    wait = max(rule(history, throttle, now) for rule in RULES)
    return max(0, math.ceil(wait))
