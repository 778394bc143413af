"""Errors as HTTP problems: one table, ``application/problem+json`` bodies (RFC 9457).

Every exception the service answers on purpose is a row of `PROBLEMS`: its class, HTTP
status and title. The body is ``{type, title, status, detail}`` plus ``field`` (the input at
fault, when there is one) so that a client can point its user at the right box. Anything not
in the table is a bug: it is logged and answered 500 with no internal detail.

Client input never causes a 500: pydantic's validation errors, malformed JSON, the engine's
`InvalidParameter` and the catalogue's `InvalidQuery` / `UnknownSource` all land here as 422.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalog.errors import (
    InvalidQuery,
    InvalidResponse,
    SourceError,
    SourceTimeout,
    SourceUnreachable,
    UnknownSource,
)
from engine.errors import InvalidParameter, NoObservations

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
#: OGC API - Processes exception types, used where the standard names one.
OGC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0"


#: The OpenAPI description of a problem response, for the routes' ``responses``.
PROBLEM_RESPONSE = {"content": {PROBLEM_JSON: {}}, "description": "a problem (RFC 9457)"}


class ApiProblem(Exception):
    """An error of the web layer itself. ``field`` names the input at fault, if any."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(ApiProblem):
    """No such job, process, product or asset (or a name that is not ours to look up)."""


class NoSuchJob(NotFound):
    """The job id is unknown."""


class NoSuchProcess(NotFound):
    """The process id is unknown."""


class ResultNotReady(NotFound):
    """The job has no results (yet, or ever: failed or dismissed)."""


class JobFailed(ApiProblem):
    """A failed job's results: its error, caused by the order (OGC job-results-failed)."""


class JobFailedOnTheServer(JobFailed):
    """A failed job's results: its error, the service's (a bug, a restart, a catalogue)."""


class QueueFull(ApiProblem):
    """Too many orders are waiting; ``retry_after`` seconds is a fair wait."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unauthorized(ApiProblem):
    """The request needs the service's API key."""


@dataclass(frozen=True)
class Problem:
    """How one exception class is answered."""

    status: int
    title: str
    type: str = "about:blank"


#: The one table. Looked up by walking each exception's MRO, so subclasses come first only
#: where they must answer differently from their base.
PROBLEMS: dict[type[Exception], Problem] = {
    NoSuchJob: Problem(404, "No such job", f"{OGC}/no-such-job"),
    NoSuchProcess: Problem(404, "No such process", f"{OGC}/no-such-process"),
    ResultNotReady: Problem(404, "Result not ready", f"{OGC}/result-not-ready"),
    JobFailedOnTheServer: Problem(500, "Job failed"),
    JobFailed: Problem(422, "Job failed"),
    NotFound: Problem(404, "Not found"),
    QueueFull: Problem(429, "Too many queued orders"),
    Unauthorized: Problem(401, "API key required"),
    InvalidParameter: Problem(422, "Invalid parameter"),
    InvalidQuery: Problem(422, "Invalid parameter"),
    UnknownSource: Problem(422, "Unknown source"),
    NoObservations: Problem(422, "No observations"),
    SourceUnreachable: Problem(502, "Catalogue unreachable"),
    InvalidResponse: Problem(502, "Catalogue answered badly"),
    SourceTimeout: Problem(504, "Catalogue timed out"),
    SourceError: Problem(502, "Catalogue error"),
}


def problem_for(exc: BaseException) -> Problem | None:
    """Return the table row of ``exc``'s class or its nearest listed base; None when unlisted."""
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return None


def field_of(exc: BaseException) -> str | None:
    """Return the input an exception blames, from its ``field`` (or ``source``) attribute."""
    field = getattr(exc, "field", None)
    if field is None and isinstance(exc, UnknownSource):
        field = "source"
    return field if isinstance(field, str) else None


def problem_response(
    status: int, title: str, detail: str, *, type_: str = "about:blank",
    field: str | None = None, headers: dict[str, str] | None = None, **extra: Any,
) -> JSONResponse:
    """Build an ``application/problem+json`` response."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _detail(exc: BaseException) -> str:
    # InvalidParameter carries the message apart from the field; prefer it (the field is
    # in its own member).
    return str(getattr(exc, "message", None) or getattr(exc, "detail", None) or exc)


async def _known(request: Request, exc: Exception) -> JSONResponse:
    problem = problem_for(exc)
    if problem is None:  # registered for a base class but not in the table: a bug
        return await _unexpected(request, exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, QueueFull) else None
    return problem_response(problem.status, problem.title, _detail(exc), type_=problem.type,
                            field=field_of(exc), headers=headers)


def _validation_field(loc: tuple[Any, ...]) -> str:
    """Return the input a pydantic error location blames: ``bbox`` for body.inputs.bbox.0."""
    parts = [p for p in loc if isinstance(p, str)]  # drop list indices and JSON offsets
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    if len(parts) >= 2 and parts[0] == "inputs":
        return parts[1]
    return parts[0] if parts else "body"


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _validation_field(tuple(e.get("loc", ()))),
         "loc": [str(p) for p in e.get("loc", ())],
         "message": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    first: dict[str, Any] = errors[0] if errors else {"field": "body", "message": "invalid"}
    if first.get("type") == "json_invalid":
        detail = f"malformed JSON: {first['message']}"
    else:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(422, "Invalid request", detail, field=first["field"],
                            errors=errors)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    return problem_response(exc.status_code, title, str(exc.detail),
                            headers=dict(exc.headers or {}) or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "Internal error", "an unexpected error occurred; it was logged")


#: The body of every error response, as the OpenAPI document describes it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details; ``field`` names the input at fault.",
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["type", "title", "status"],
}


def problems_in_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every 4xx and 5xx response described as the problem it is.

    FastAPI documents its validation errors as ``application/json`` bodies of its own shape;
    the service answers every error as ``application/problem+json`` (`install`), so a client
    generated from the document, or a checker such as schemathesis, would expect the wrong
    type and body.
    """
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            # What every such route answers that FastAPI and TiTiler's factories leave out.
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "a body that is not JSON"})
            if "{" in path:
                responses.setdefault("404", {"description": "nothing at this path"})
            if "/tiles/" in path and any(p.get("in") == "query"
                                         for p in operation.get("parameters", [])):
                responses.setdefault("400", {"description": "a parameter the renderer "
                                                            "cannot use (colormap, formula...)"})
            for code, response in responses.items():
                if str(code)[0] in "45" and "$ref" not in response:
                    response["content"] = dict(content)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def install(app: FastAPI) -> None:
    """Register the table's handlers on ``app``, and describe them in its OpenAPI."""
    for cls in PROBLEMS:
        app.add_exception_handler(cls, _known)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems_in_openapi(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
