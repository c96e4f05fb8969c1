"""The one place where errors become HTTP responses.

Two body styles, chosen by path:

* the seed's lifecycle routes and the rest of Pinflow's own ``/api/*`` namespace answer
  ``{"message": ...}`` (seed 001), except a run refused on a deprecated version, whose body is
  the seed's ``{"statusCode": 400, "message": ...}`` exactly;
* Airflow's namespace (``/api/v2``, ``/auth``) answers ``{"detail": ...}`` as Airflow does.

Problems with a location (``tasks[2].depends_on[0]``) are listed under ``problems``. Request
validation answers 422 with the location of each bad field; the offending *input* is never
echoed back, since it may be a password. Anything unexpected is logged with its traceback and
answered with a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pinflow.errors import (
    AuthenticationError,
    ConflictError,
    DataLostError,
    InvalidInputError,
    LoginThrottledError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PinflowError,
)
from pinflow.lifecycle.version_rules import PreventRunOnDeprecated

log = logging.getLogger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[PinflowError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (DataLostError, 410),
    (LoginThrottledError, 429),
    (PayloadTooLargeError, 413),
    (InvalidInputError, 400),
)
_AIRFLOW_PREFIXES = ("/api/v2", "/auth")
_SUMMARY_ERRORS = 3


def status_of(exc: PinflowError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 400


def airflow_style(request: Request) -> bool:
    path = request.url.path
    return any(path == p or path.startswith(p + "/") for p in _AIRFLOW_PREFIXES) or (
        not path.startswith("/api/")
    )


def _body(request: Request, message: Any, **extra: Any) -> dict[str, Any]:
    key = "detail" if airflow_style(request) else "message"
    return {key: message, **{k: v for k, v in extra.items() if v}}


def _headers(exc: PinflowError) -> dict[str, str] | None:
    if isinstance(exc, AuthenticationError):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, LoginThrottledError):
        return {"Retry-After": str(exc.retry_after)}
    return None


def _pinflow_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PinflowError)
    return pinflow_error_response(request, exc)


def pinflow_error_response(request: Request, exc: PinflowError) -> JSONResponse:
    """The response for ``exc`` (also rendered outside the app, by the body limit)."""
    status = status_of(exc)
    if exc.details.get("rule") == PreventRunOnDeprecated.name:
        return JSONResponse({"statusCode": status, "message": exc.message}, status_code=status)
    problems = getattr(exc, "problems", None) or []
    listed = [{"location": p.location, "message": p.message} for p in problems]
    body = _body(request, exc.message, problems=listed)
    return JSONResponse(body, status_code=status, headers=_headers(exc))


_NOT_JSON = "the request body is not valid JSON"
_NOT_UTF8 = (
    "The request body is not UTF-8 text ({reason} at byte {start}): send a JSON document "
    "encoded as UTF-8, with Content-Type: application/json."
)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(err.get("loc", ())), "msg": _message(err), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def _message(err: dict[str, Any]) -> str:
    """The error's text; a body that does not parse says where and what to send instead."""
    if err.get("type") != "json_invalid":
        return str(err.get("msg", ""))
    where = err.get("loc", ())
    near = f" near character {where[1]}" if len(where) > 1 else ""
    cause = (err.get("ctx") or {}).get("error")
    why = f" ({cause})" if cause else ""
    return f"{_NOT_JSON}{near}{why}: send one JSON document, UTF-8 encoded"


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(_field_errors(exc))
    if airflow_style(request):
        return JSONResponse({"detail": errors}, status_code=422)
    summary = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:_SUMMARY_ERRORS]
    )
    return JSONResponse(
        {"message": f"Invalid request: {summary}", "detail": errors}, status_code=422
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):  # FastAPI's "error parsing the body"
        detail = _NOT_UTF8.format(reason=cause.reason, start=cause.start)
    return JSONResponse(_body(request, detail), status_code=exc.status_code, headers=exc.headers)


def _refused_value(request: Request, exc: Exception) -> JSONResponse:
    """The database refused a value (a NUL character on PostgreSQL; an integer beyond 64 bits,
    which SQLite's driver raises as ``OverflowError``): the request's fault, reported without
    the SQL or its parameters."""
    cause = exc.orig if isinstance(exc, DataError) else exc
    log.info("database refused a value on %s %s: %s", request.method, request.url.path, cause)
    message = "Invalid input: the database refused a value (a NUL character or a huge number)."
    return JSONResponse(_body(request, message), status_code=400)


def _unencodable(request: Request, exc: Exception) -> JSONResponse:
    """Text that cannot be stored or hashed: JSON's ``"\\ud800"`` escape parses to an unpaired
    surrogate, which no UTF-8 column (nor the digest) accepts."""
    log.info("unencodable text on %s %s: %s", request.method, request.url.path, exc)
    message = (
        "Invalid input: a string holds an unpaired UTF-16 surrogate (a lone \\ud800-\\udfff "
        "escape), which is not valid Unicode. Send valid UTF-8 text."
    )
    return JSONResponse(_body(request, message), status_code=400)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(_body(request, "Internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PinflowError, _pinflow_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _refused_value)
    app.add_exception_handler(OverflowError, _refused_value)
    app.add_exception_handler(UnicodeEncodeError, _unencodable)
    app.add_exception_handler(Exception, _unexpected)
