"""The login throttle's rules, as pure functions of failure counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pinflow.lifecycle.login_throttle import (
    Failures,
    LoginHistory,
    LoginThrottle,
    backoff,
    login_wait,
)

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
T = LoginThrottle()


def test_backoff_doubles_from_the_limit_and_stops_at_the_cap() -> None:
    assert backoff(T.max_failures - 1, T.max_failures, T) is None
    assert backoff(T.max_failures, T.max_failures, T) == T.base_delay
    assert backoff(T.max_failures + 2, T.max_failures, T) == T.base_delay * 4
    assert backoff(10**6, T.max_failures, T) == T.max_delay


def test_the_account_limit_delays_only_addresses_that_failed_on_it() -> None:
    attacked = Failures(T.max_account_failures, NOW)
    owner = LoginHistory(pair=Failures(), client=Failures(), account=attacked)
    attacker = LoginHistory(pair=Failures(1, NOW), client=Failures(1, NOW), account=attacked)
    assert login_wait(owner, T, NOW) == 0
    assert login_wait(attacker, T, NOW) == T.base_delay.total_seconds()


def test_the_wait_runs_from_the_latest_failure() -> None:
    latest = NOW - timedelta(seconds=20)
    history = LoginHistory(Failures(T.max_failures, latest), Failures(), Failures())
    assert login_wait(history, T, NOW) == 10
    assert login_wait(history, T, NOW + timedelta(seconds=11)) == 0
