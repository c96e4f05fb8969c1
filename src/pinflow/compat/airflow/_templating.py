"""Jinja templating of an Airflow task's templated fields, in the task process at run time.

Airflow renders ``bash_command``, ``env``, a PythonOperator's ``op_args``/``op_kwargs``/
``templates_dict`` (and a TaskFlow task's arguments) with the task's context just before it
runs: ``{{ ds }}``, ``{{ macros.ds_add(ds, 7) }}``, ``{{ ti.xcom_pull('extract') }}``,
``{{ params.x }}``, ``{{ var.value.x }}``, ``{% for %}``. So does this module, in a
``SandboxedEnvironment`` (a template cannot reach Python internals) with Airflow's
``StrictUndefined`` (a misspelt name fails the try instead of rendering as nothing), or
Jinja's native one for ``render_template_as_native_obj=True``. The rendered values are
reported over the try's channel, secrets masked, and kept with the try ("Rendered template").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate, native_concat
from jinja2.sandbox import SandboxedEnvironment

from pinflow.sdk import task_api
from pinflow.spec.masking import redact

log = logging.getLogger(__name__)
_MARKERS = ("{{", "{%", "{#")
# A rendered field shown in the UI is cut at this many characters of its text.
MAX_SHOWN = 64 * 1024


class SandboxedNativeEnvironment(SandboxedEnvironment):
    """The sandbox, rendering ``{{ [1, 2] }}`` to a list rather than its text."""

    code_generator_class = NativeCodeGenerator
    concat = staticmethod(native_concat)  # type: ignore[assignment]
    template_class = NativeTemplate


def environment(native: bool = False) -> jinja2.Environment:
    kind = SandboxedNativeEnvironment if native else SandboxedEnvironment
    return kind(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, cache_size=0)


def is_template(value: object) -> bool:
    """Whether ``value`` (or a string in it) has Jinja markers."""
    if isinstance(value, str):
        return any(marker in value for marker in _MARKERS)
    if isinstance(value, Mapping):
        return any(is_template(v) for v in value.values())
    if isinstance(value, list | tuple | set):
        return any(is_template(v) for v in value)
    return False


def render(value: Any, context: Mapping[str, Any], env: jinja2.Environment) -> Any:
    """``value`` with every string in it rendered (Airflow's ``render_template``): strings,
    and the items of lists, tuples, sets and the values of dicts; anything else as it is."""
    if isinstance(value, str):
        if not any(marker in value for marker in _MARKERS):
            return value
        return env.from_string(value).render(**context)
    if isinstance(value, Mapping):
        return {k: render(v, context, env) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return type(value)(render(v, context, env) for v in value)
    return value


def render_template_fields(
    task: Any, context: Mapping[str, Any], *, native: bool = False
) -> dict[str, Any]:
    """Render ``task``'s ``template_fields`` in place (a BaseOperator's ``execute(context)``
    then reads rendered attributes, as in Airflow), report them for the try, and return them.
    The hook an operator class calls before its ``execute``."""
    env = environment(native)
    rendered: dict[str, Any] = {}
    for name in getattr(task, "template_fields", ()):
        value = render(getattr(task, name, None), context, env)
        setattr(task, name, value)
        rendered[name] = value
    report_rendered(rendered)
    return rendered


def shown(value: Any) -> Any:
    """``value`` as kept for the UI: JSON data, text cut at ``MAX_SHOWN``."""
    if isinstance(value, str):
        return value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "…"
    if isinstance(value, Mapping):
        return {str(k): shown(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [shown(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return shown(repr(value))


def report_rendered(fields: Mapping[str, Any]) -> None:
    """Keep ``fields`` with the running try (its "Rendered template"), over its channel,
    redacted: the secrets this process read are ``***``, as is a field or key whose name
    looks sensitive (``pinflow.spec.masking``). Without a channel (a task run outside an
    executor) there is nowhere to keep them."""
    if not fields:
        return
    try:
        task_api.call("rendered_fields", fields=redact(shown(dict(fields))))
    except task_api.TaskApiUnavailable as exc:
        log.warning("the rendered fields are not kept: %s", exc)
