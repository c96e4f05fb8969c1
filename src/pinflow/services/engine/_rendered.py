"""A try's rendered template fields (Airflow's "Rendered template"), kept on its try row.

An Airflow task renders its templated fields (``bash_command``, ``env``, ``op_kwargs``,
``templates_dict``...) in its own process just before it runs and reports them over its
channel; they are kept with that try (``task_instance_try.rendered_fields``), so each try
shows what it actually ran, and the API and UI read them from there. Fenced like a
heartbeat: only the live try writes (docs/adr/0034).

Secrets: the task process and its channel redact the secrets the try read before the fields
arrive here; this store masks again what it can without them, the values of keys whose name
looks sensitive (``env={"PGPASSWORD": ...}``). The values of the connections and variables
the try's DAG could read are not known here without decrypting them all: not done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import update

from pinflow.errors import InvalidInputError
from pinflow.lifecycle.try_rules import position_while_running
from pinflow.runtime.xcoms import encode_json
from pinflow.services.engine._try_rows import expect, lock_ti
from pinflow.services.engine._try_tokens import TryClaims
from pinflow.spec.masking import redact_keys
from pinflow.store.db import Database
from pinflow.store.tables import TaskInstanceTry

# Bytes of JSON the rendered fields of one try may take (the shown text is cut before).
MAX_RENDERED = 1024 * 1024


def set_rendered_fields(db: Database, claims: TryClaims, fields: Mapping[str, Any]) -> None:
    """Keep ``fields`` (JSON: field name -> rendered value) as the running try's rendered
    fields, replacing what it reported before; ``ConflictError`` for a try that is no longer
    the live one, ``InvalidInputError`` for fields that are not a JSON object or too large."""
    if not isinstance(fields, Mapping) or not all(isinstance(k, str) for k in fields):
        raise InvalidInputError("The rendered fields are a JSON object of field names.")
    try:
        size = len(encode_json(dict(fields)))
    except TypeError as exc:
        raise InvalidInputError(f"The rendered fields are not JSON: {exc}") from None
    if size > MAX_RENDERED:
        raise InvalidInputError(
            f"The rendered fields are {size} bytes of JSON; at most {MAX_RENDERED} are kept. "
            "Render large values into files instead.",
            {"size": size, "limit": MAX_RENDERED},
        )
    with db.transaction() as s:
        ti = lock_ti(s, claims.ti_id)
        expect(
            ti,
            position_while_running(claims.try_number),
            f"keep the rendered fields of try {claims.try_number} of",
        )
        s.execute(
            update(TaskInstanceTry)
            .where(
                TaskInstanceTry.ti_id == claims.ti_id,
                TaskInstanceTry.try_number == claims.try_number,
            )
            .values(rendered_fields=redact_keys(dict(fields)))
        )
