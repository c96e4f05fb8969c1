"""Secrets masking, as Airflow's secrets masker does it: which names are sensitive, and a
masker that replaces known secret values with ``***`` wherever they appear.

Two rules, usable on both sides of a try's channel (pure, standard library only):

- **By name** (``is_sensitive``): a variable whose key, or a field of a connection's extra or
  of any mapping, whose name contains ``password``, ``token``, ``secret``... is a secret.
  The API shows such values as ``***`` (``redact_keys``).
- **By value** (``SecretsMasker``): every secret value a task obtained (a connection's
  password, the sensitive fields of its extra, a sensitive variable) is registered, with the
  forms it takes once quoted (JSON, URL, ``repr``); any text, or the strings of any JSON-like
  value, then has those values replaced. Values shorter than ``MIN_LENGTH`` characters are not
  registered: masking ``"a"`` or ``"1234"`` would mask every log line (Airflow's rule).

``MASKER`` is the process-wide masker a task process registers into (``pinflow.sdk.task_api``
does, for what it reads over its channel) and its output streams and rendered fields are
redacted with (docs/adr/0034).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
MIN_LENGTH = 5
# Airflow's default sensitive field names (a name is sensitive if it contains one):
SENSITIVE = frozenset({"access_token", "api_key", "apikey", "authorization", "passphrase"})
SENSITIVE |= {"passwd", "password", "private_key", "secret", "token", "keyfile_dict"}
SENSITIVE |= {"service_account"}


def is_sensitive(key: str) -> bool:
    """Whether a value named ``key`` is a secret (case-insensitive substring match)."""
    lowered = key.lower()
    return any(word in lowered for word in SENSITIVE)


def redact_keys(value: Any) -> Any:
    """``value`` with the value of every sensitive key of its mappings (at any depth) shown
    as ``***``: what can be masked without knowing the secrets themselves."""
    if isinstance(value, Mapping):
        return {k: MASK if is_sensitive(str(k)) else redact_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_keys(v) for v in value]
    return value


def quoted_forms(secret: str) -> set[str]:
    """``secret`` and the forms it takes once quoted: inside a JSON string, a URL (path or
    form encoded) and a Python ``repr`` (a traceback's, a printed dict's)."""
    forms = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}
    forms |= {urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    return {form for form in forms if len(form) >= MIN_LENGTH}


class SecretsMasker:
    """Known secret values, and the redaction of text and JSON-like values with them."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __bool__(self) -> bool:
        """Whether anything is registered (nothing to redact otherwise: the fast path)."""
        return self._pattern is not None

    def add(self, secret: Any, name: str | None = None) -> None:
        """Register ``secret``: a string, or every string in a mapping or list. With ``name``
        (a variable's key, a field's name), only if the name is sensitive; in a mapping, the
        values of its sensitive keys only."""
        if name is not None and not is_sensitive(name):
            if isinstance(secret, Mapping):
                for key, value in secret.items():
                    self.add(value, str(key))
            return
        if isinstance(secret, str):
            self._add_text(secret)
        elif isinstance(secret, Mapping):
            for value in secret.values():
                self.add(value)
        elif isinstance(secret, Iterable) and not isinstance(secret, bytes):
            for value in secret:
                self.add(value)

    def _add_text(self, secret: str) -> None:
        if len(secret) < MIN_LENGTH:
            return
        new = quoted_forms(secret)
        # A log is redacted line by line: each line of a multi-line secret (a private key)
        # is a secret of its own.
        new.update(*(quoted_forms(line) for line in secret.splitlines() if line.strip()))
        new -= self._secrets
        if not new:
            return
        self._secrets |= new
        # Longest first: a secret that contains another is replaced whole.
        ordered = sorted(self._secrets, key=lambda s: (-len(s), s))
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def clear(self) -> None:
        """Forget every registered secret."""
        self._secrets.clear()
        self._pattern = None

    def add_connection(self, fields: Mapping[str, Any]) -> None:
        """Register a connection's secrets (as the channel serves it: ``password`` and the
        JSON text ``extra``): its password, the values of its extra's sensitive keys."""
        password = fields.get("password")
        if isinstance(password, str):
            self.add(password)
        extra = fields.get("extra")
        if isinstance(extra, str) and extra:
            try:
                parsed = json.loads(extra)
            except ValueError:
                return  # not JSON: no field names to go by
            if isinstance(parsed, Mapping):
                self.add(parsed, "extra")

    def redact_text(self, text: str) -> str:
        """``text`` with every registered secret (and quoted form) replaced by ``***``."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def redact(self, value: Any, name: str | None = None) -> Any:
        """``value`` redacted: its strings with the registered secrets replaced, the values of
        sensitive keys (and the whole value when ``name`` is sensitive) shown as ``***``.
        Lists, tuples and sets come back as lists (JSON's shape); other values as they are."""
        if name is not None and is_sensitive(name) and value not in (None, ""):
            return MASK
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, Mapping):
            return {k: self.redact(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [self.redact(v) for v in value]
        return value


MASKER = SecretsMasker()


def mask_secret(secret: Any, name: str | None = None) -> None:
    """Register ``secret`` in this process's masker (Airflow's ``mask_secret``)."""
    MASKER.add(secret, name)


def redact(value: Any, name: str | None = None) -> Any:
    """``value`` redacted with this process's masker."""
    return MASKER.redact(value, name)
