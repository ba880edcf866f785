"""Checks of what callers hand a manager (task kwargs, submit options, ids, cursors), failing with the field named."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from pydantic import ValidationError

from claw_lab.errors import InvalidCursor, PayloadTooLarge, UnknownTask, ValidationFailed
from claw_lab.priority import MAX_PRIORITY
from claw_lab.tasks.catalog import CATALOG, QUEUES, TaskSpec

MAX_PAGE = 500
THROUGHPUT_MINUTES = 60  # per-minute counts are kept this long
MAX_COUNTDOWN = 30 * 24 * 3600
_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def invalid(field: str, message: str) -> ValidationFailed:
    """A `ValidationFailed` about one field."""
    return ValidationFailed(f"{field}: {message}", details=[{"field": field, "message": message}])


def field_errors(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    """pydantic's errors as ``{"field", "message"}`` details, fields under ``prefix``."""
    return [
        {"field": ".".join([prefix, *(str(p) for p in error["loc"])]), "message": error["msg"]}
        for error in exc.errors(include_url=False)
    ]


def check_task_id(task_id: str) -> str:
    """``task_id`` if it can be a task id (safe in keys and URL paths), else `ValidationFailed`."""
    if not _TASK_ID.match(task_id):
        raise invalid("task_id", "must be 1-128 letters, digits, '-', '_', '.' or ':'")
    return task_id


def task_spec(name: str) -> TaskSpec:
    """The catalogue entry of task ``name``; `UnknownTask` naming the known ones otherwise."""
    spec = CATALOG.get(name)
    if spec is None:
        known = ", ".join(sorted(CATALOG))
        raise UnknownTask(
            f"unknown task {name!r}; known tasks: {known}", details=[{"field": "name", "message": "unknown task"}]
        )
    return spec


def task_kwargs(spec: TaskSpec, kwargs: dict[str, Any] | None, max_bytes: int) -> dict[str, Any]:
    """``kwargs`` validated by the task's input model (defaults filled in), as the JSON a message carries."""
    try:
        payload = spec.input_model.model_validate(kwargs or {}).model_dump(mode="json")
    except ValidationError as exc:
        details = field_errors(exc, "kwargs")
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise ValidationFailed(f"invalid input for {spec.name}: {summary}", details=details) from None
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    if size > max_bytes:
        raise PayloadTooLarge(
            f"kwargs are {size} bytes, over the {max_bytes}-byte limit",
            details=[{"field": "kwargs", "message": f"{size} bytes > {max_bytes}"}],
        )
    return payload


def submit_options(
    queue: str | None, priority: int | None, countdown: float | None, idempotency_key: str | None
) -> None:
    """Refuse a submit option out of range, naming it."""
    if queue is not None and queue not in QUEUES:
        raise invalid("queue", f"must be one of {', '.join(QUEUES)}")
    if priority is not None and not (isinstance(priority, int) and 0 <= priority <= MAX_PRIORITY):
        raise invalid("priority", f"must be an integer from 0 to {MAX_PRIORITY}")
    if countdown is not None and not 0 <= countdown <= MAX_COUNTDOWN:
        raise invalid("countdown", "must be between 0 and 30 days")
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise invalid("idempotency_key", "must be 1-200 printable ASCII characters without spaces")


def encode_cursor(seq: int) -> str:
    """An opaque page cursor for "records older than seq"."""
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The seq inside a cursor made by `encode_cursor`; `InvalidCursor` for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, seq = text.split(":", 1)
        if version != "v1" or not seq.isdigit():
            raise ValueError(text)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(
            "cursor is not one this API returned", details=[{"field": "cursor", "message": "invalid cursor"}]
        ) from None
