"""How an Airflow task runs in its task process: context, templating, callbacks.

At compile time an Airflow task that needs more than Pinflow's own call (a ``**context``
parameter, ``ti``/``dag_run``/``macros``... parameters, a Jinja template in an argument or in
``bash_command``/``env``, a ``templates_dict``, callbacks) gets two reserved arguments in its
spec: ``RUNNER_ARG`` naming ``run`` here, and ``EXTRAS`` saying what to do. The task process
then calls ``run(invocation)`` (``pinflow.sdk.context``), which builds Airflow's context,
renders the templated fields (reporting them for the try's "Rendered template"), calls the
task and fires its callbacks. Every other task's spec is what it was: the runtime knows
nothing of Airflow (docs/adr/0034).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from pinflow.compat.airflow._callbacks import fire
from pinflow.compat.airflow._context import airflow_context, build_context
from pinflow.compat.airflow._options import EXTRAS
from pinflow.compat.airflow._templating import environment, is_template, render, report_rendered
from pinflow.runtime.contract import SkipTask
from pinflow.sdk.arguments import CONTEXT_PARAMETERS
from pinflow.sdk.context import RUNNER_ARG, TaskInvocation
from pinflow.spec.models import DagSpec, TaskSpec

RUNNER = "pinflow.compat.airflow._runner:run"
# Context values a task function receives alike with or without the runner (Pinflow passes
# them by name itself); a parameter named after any other Airflow context value needs it.
_SAME_IN_PINFLOW = frozenset({"params", "run_id", "ds", "map_index", "try_number", "conf"})
AIRFLOW_CONTEXT = frozenset(
    {
        "conn",
        "dag",
        "dag_run",
        "data_interval_end",
        "data_interval_start",
        "ds_nodash",
        "inlets",
        "logical_date",
        "macros",
        "outlets",
        "task",
        "task_instance",
        "task_instance_key_str",
        "templates_dict",
        "test_mode",
        "ti",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "triggering_asset_events",
        "var",
    }
)
# Pinflow's own context names, still passed by name to a task run through the runner.
_PINFLOW_ONLY = ("dag_id", "task_id", "staging_dir", "idempotency_key")
# Every parameter name an Airflow task's call leaves for the task process to fill.
CONTEXT_NAMES = frozenset(CONTEXT_PARAMETERS) | AIRFLOW_CONTEXT


# --- compile time ---------------------------------------------------------------------------


def needs_context(function: Callable[..., Any]) -> bool:
    """Whether ``function`` takes Airflow's context beyond what Pinflow passes by name."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD or p.name in AIRFLOW_CONTEXT for p in parameters
    )


def airflow_fields(
    fields: dict[str, Any], extras: Mapping[str, Any] | None, function: Callable[..., Any] | None
) -> dict[str, Any]:
    """A task's spec fields with its Airflow extras (callbacks, ``templates_dict``, whether its
    function takes the context) in ``args``; the hook operators and ``@task`` call."""
    wanted = dict(extras or {})
    if function is not None and needs_context(function):
        wanted["context"] = True
    if not wanted:
        return fields
    args = dict(fields.get("args") or {})
    args[EXTRAS] = {**args.get(EXTRAS, {}), **wanted}
    return {**fields, "args": args}


def templated_bash_fields(
    command: str, env: Mapping[str, str] | None, append_env: bool, cwd: str | None
) -> dict[str, Any] | None:
    """A ``BashOperator``'s fields when its command or ``env`` is a template (rendered at run
    time, then wrapped as ``_operators._wrapped`` does); ``None`` when neither is."""
    if not is_template(command) and not is_template(env or {}):
        return None
    bash: dict[str, Any] = {"command": command, "env": dict(env) if env is not None else None}
    bash.update(append_env=append_env, cwd=cwd)
    return {"kind": "bash", "bash_command": command, "args": {EXTRAS: {"bash": bash}}}


def finish_airflow_tasks(spec: DagSpec, dag_extras: Mapping[str, Any]) -> DagSpec:
    """The spec with the runner named on every task that needs it, the DAG's default
    callbacks and ``render_template_as_native_obj`` applied."""
    tasks = [_finished(task, dag_extras) for task in spec.tasks]
    if all(new is old for new, old in zip(tasks, spec.tasks, strict=True)):
        return spec
    return spec.model_copy(update={"tasks": tasks})


def _finished(task: TaskSpec, dag_extras: Mapping[str, Any]) -> TaskSpec:
    extras = dict(task.args.get(EXTRAS) or {})
    literal = {k: v for k, v in task.args.items() if not k.startswith("__")}
    templated = sorted(name for name, value in literal.items() if is_template(value))
    if task.kind == "python" and templated:
        extras["templated"] = templated
    if task.kind in ("python", "bash") and dag_extras.get("callbacks"):
        extras["callbacks"] = {**dag_extras["callbacks"], **extras.get("callbacks", {})}
    if not extras or task.kind not in ("python", "bash"):
        return task
    if dag_extras.get("native"):
        extras["native"] = True
    args = {**task.args, EXTRAS: extras, RUNNER_ARG: RUNNER}
    return task.model_copy(update={"args": args})


# --- run time (in the task process) ---------------------------------------------------------


def run(invocation: TaskInvocation) -> Any:
    """Run an Airflow task: its context built, its fields rendered, its callbacks fired."""
    extras: Mapping[str, Any] = invocation.args.get(EXTRAS) or {}
    env = environment(bool(extras.get("native")))
    templates = render(extras.get("templates_dict"), _bare(invocation), env)
    fields = {"templates_dict": templates} if templates is not None else {}
    context = build_context(invocation.context, fields)
    callbacks: Mapping[str, list[str]] = extras.get("callbacks") or {}
    with airflow_context(context):
        fire(callbacks, "on_execute_callback", context)
        try:
            if invocation.kind == "bash":
                result = _run_bash(invocation, extras, context, env)
            else:
                result = _run_python(invocation, extras, context, env)
        except SkipTask:
            fire(callbacks, "on_skipped_callback", context)
            raise
        except BaseException as exc:
            context["exception"] = exc
            pinflow = invocation.context
            retried = pinflow.try_number <= pinflow.max_tries
            fire(callbacks, "on_retry_callback" if retried else "on_failure_callback", context)
            raise
        fire(callbacks, "on_success_callback", context)
        return result


def _bare(invocation: TaskInvocation) -> dict[str, Any]:
    """The context a ``templates_dict`` is rendered with (before it is in the context)."""
    return build_context(invocation.context, {})


def _run_python(
    invocation: TaskInvocation, extras: Mapping[str, Any], context: dict[str, Any], env: Any
) -> Any:
    function = invocation.function
    if function is None:
        raise ValueError(f"python task {invocation.context.task_id!r} has no function")
    kwargs = {k: v for k, v in invocation.kwargs.items() if k != EXTRAS}
    templated = [name for name in extras.get("templated", ()) if name in kwargs]
    for name in templated:
        kwargs[name] = render(kwargs[name], context, env)
    rendered: dict[str, Any] = {}
    if templated:
        rendered["op_kwargs"] = {name: kwargs[name] for name in templated}
    if context.get("templates_dict") is not None:
        rendered["templates_dict"] = context["templates_dict"]
    report_rendered(rendered)
    kwargs.update(_context_arguments(function, kwargs, context, invocation))
    return function(**kwargs)


def _context_arguments(
    function: Callable[..., Any],
    bound: Mapping[str, Any],
    context: Mapping[str, Any],
    invocation: TaskInvocation,
) -> dict[str, Any]:
    """What Airflow passes a task function from its context: the values its parameters
    name, and the whole context to a ``**kwargs``/``**context`` parameter."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}
    pinflow = invocation.context
    own = {"dag_id": pinflow.dag_id, "task_id": pinflow.task_id}
    own.update(staging_dir=pinflow.staging_dir, idempotency_key=pinflow.idempotency_key)
    passed = {
        name: context[name] if name in context else own[name]
        for name in parameters
        if name not in bound and (name in context or name in _PINFLOW_ONLY)
    }
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        passed.update({k: v for k, v in context.items() if k not in bound and k not in passed})
    return passed


def _run_bash(
    invocation: TaskInvocation, extras: Mapping[str, Any], context: dict[str, Any], env: Any
) -> Any:
    from pinflow.compat.airflow._operators import _wrapped

    if invocation.run_bash is None:
        raise ValueError(f"bash task {invocation.context.task_id!r} cannot run a command")
    bash = extras.get("bash")
    if bash is None:  # a bash task without templates, run for its callbacks
        return invocation.run_bash(invocation.bash_command or "")
    text = environment(False)  # a command is text, whatever the DAG renders natively
    command = str(render(bash["command"], context, text))
    variables = render(bash.get("env"), context, text)
    rendered: dict[str, Any] = {"bash_command": command}
    if variables is not None:
        rendered["env"] = variables
    report_rendered(rendered)
    owner = f"BashOperator {invocation.context.task_id!r}"
    wrapped = _wrapped(owner, command, variables, bool(bash.get("append_env")), bash.get("cwd"))
    return invocation.run_bash(wrapped)
