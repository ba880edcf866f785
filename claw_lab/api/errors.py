"""The one table from `claw_lab.errors` to HTTP status codes, and the handlers that render every error body."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from claw_lab import errors

logger = logging.getLogger("claw_lab.api")

# Most specific class first is not needed: the lookup walks each error's MRO.
STATUS: dict[type[errors.ClawLabError], int] = {
    errors.ValidationFailed: 422,
    errors.UnknownTask: 422,
    errors.InvalidCursor: 400,
    errors.PayloadTooLarge: 413,
    errors.AuthenticationFailed: 401,
    errors.PermissionDenied: 403,
    errors.TaskNotFound: 404,
    errors.TaskStateConflict: 409,
    errors.BackendUnavailable: 503,
    errors.ControlTimeout: 504,
    errors.ConfigurationError: 500,
    errors.ClawLabError: 500,
}

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

RETRY_AFTER_SECONDS = 1


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine code, a human message and optional specifics."""

    code: str = Field(examples=["task_not_found"])
    message: str
    details: Any = Field(None, description="for validation errors, a list of {field, message}")


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx response."""

    error: ErrorDetail


def status_for(error: errors.ClawLabError) -> int:
    """The HTTP status of a claw_lab error, found by walking its class hierarchy."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON response with the ``{"error": {...}}`` body."""
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def _headers_for(error: errors.ClawLabError) -> dict[str, str] | None:
    if isinstance(error, errors.AuthenticationFailed):
        challenge = 'Bearer realm="claw_lab"'
        if error.details == "invalid_token":
            challenge += ', error="invalid_token"'
        return {"WWW-Authenticate": challenge}
    if isinstance(error, errors.BackendUnavailable):
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return None


def _details(error: errors.ClawLabError) -> Any:
    # Authentication details only choose the challenge header; they are not for the body.
    return None if isinstance(error, errors.AuthenticationFailed) else error.details


async def _claw_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ClawLabError)
    status = status_for(exc)
    if status >= 500:
        logger.warning("%s %s -> %s %s: %s", request.method, request.url.path, status, exc.code, exc.message)
    return error_response(status, exc.code, exc.message, _details(exc), _headers_for(exc))


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"field": _field_name(tuple(error["loc"])), "message": error["msg"]} for error in exc.errors()]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details) or "invalid request"
    return error_response(422, "validation_error", message, details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if isinstance(exc.__cause__, RecursionError):  # FastAPI's body parsing ran out of stack
        message = "the JSON body is nested too deeply to parse"
        return error_response(400, code, message, [{"field": "body", "message": "nested too deeply"}])
    return error_response(exc.status_code, code, str(exc.detail), None, dict(exc.headers or {}) or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed to handle this request; see its logs")


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into the one JSON error body."""
    app.add_exception_handler(errors.ClawLabError, _claw_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting the error body for each status."""
    described = {
        400: "Malformed request (e.g. a cursor this API did not return)",
        401: "Missing or unknown bearer token",
        403: "The token's role does not allow this",
        404: "No such task",
        409: "The action does not fit the task's state",
        413: "Request body or task kwargs too large",
        422: "Invalid input; details name each field",
        503: "Redis or the broker is unreachable",
    }
    return {status: {"model": ErrorBody, "description": described.get(status, "Error")} for status in statuses}
