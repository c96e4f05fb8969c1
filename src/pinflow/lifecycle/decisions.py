"""Decisions as data: a rule either passes (``None``) or returns a ``Refusal``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

S = TypeVar("S")


class RefusalKind(StrEnum):
    INVALID = "invalid"  # the request itself is wrong (HTTP 400)
    CONFLICT = "conflict"  # the request is fine but the current state forbids it (HTTP 409)


@dataclass(frozen=True)
class Refusal:
    rule: str
    message: str
    kind: RefusalKind = RefusalKind.CONFLICT


@dataclass(frozen=True)
class Rule(Generic[S]):
    """A named check. ``why`` says why the rule exists, for readers and for error reports."""

    name: str
    why: str
    check: Callable[[S], Refusal | None]

    def __call__(self, state: S) -> Refusal | None:
        return self.check(state)


def first_refusal(rules: Iterable[Rule[S]], state: S) -> Refusal | None:
    for rule in rules:
        refusal = rule(state)
        if refusal is not None:
            return refusal
    return None
