"""Where a problem is: ``tasks[2].inputs["my arg"]``, as every check of a spec reports it."""

from __future__ import annotations

import json
import re

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_location(*parts: str | int) -> str:
    """A readable location, e.g. ``tasks[2].inputs["my arg"]`` for ``tasks, 2, inputs, my arg``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out
