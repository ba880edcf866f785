"""The one error tree of claw_lab; every face maps these to its own medium (HTTP codes, CLI exits)."""

from __future__ import annotations

from typing import Any


class ClawLabError(Exception):
    """Base of every error claw_lab raises on purpose."""

    code = "claw_lab_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The error as the ``{"code", "message", "details"}`` body every face shows."""
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigurationError(ClawLabError):
    """Raised when a setting is missing or invalid; the message names the variable."""

    code = "configuration_error"


class ValidationFailed(ClawLabError):
    """Raised when input to a task or a call is invalid; ``details`` lists each field and why."""

    code = "validation_error"


class UnknownTask(ValidationFailed):
    """Raised when a task name is not in the catalogue of registered tasks."""

    code = "unknown_task"


class PayloadTooLarge(ValidationFailed):
    """Raised when a task's kwargs exceed ``CLAW_MAX_KWARGS_BYTES`` once serialized."""

    code = "payload_too_large"


class InvalidCursor(ValidationFailed):
    """Raised when a pagination cursor was not produced by claw_lab or is corrupt."""

    code = "invalid_cursor"


class AmbiguousTaskId(ValidationFailed):
    """Raised when a task id prefix matches more than one task; ``details`` lists some of them."""

    code = "ambiguous_task_id"


class TaskNotFound(ClawLabError):
    """Raised when no record exists for a task id (never seen, or past retention)."""

    code = "task_not_found"


class TaskStateConflict(ClawLabError):
    """Raised when an action does not fit the task's state (cancel a finished task, retry a running one)."""

    code = "task_state_conflict"


class BackendUnavailable(ClawLabError):
    """Raised when Redis or the broker cannot be reached within the configured timeouts."""

    code = "backend_unavailable"


class ControlTimeout(ClawLabError):
    """Raised when no worker answered a control command within its timeout."""

    code = "control_timeout"


class AuthenticationFailed(ClawLabError):
    """Raised when a request carries no credentials or unknown ones."""

    code = "unauthenticated"


class PermissionDenied(ClawLabError):
    """Raised when the caller's role does not allow the action."""

    code = "forbidden"


class TransientError(ClawLabError):
    """Raised inside a task for a failure worth retrying (timeouts, 429, 5xx, dropped connections)."""

    code = "transient_error"


class PermanentError(ClawLabError):
    """Raised inside a task for a failure that no retry can fix (bad request, missing document)."""

    code = "permanent_error"


class ForbiddenTarget(PermanentError):
    """Raised when an outbound URL resolves to an address claw_lab refuses to reach (loopback, private, metadata)."""

    code = "forbidden_target"


class RateLimited(TransientError):
    """Raised when an outside service asks to slow down (429, or 503 with Retry-After); ``retry_after`` is its wait."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class EmbedderMismatch(PermanentError):
    """Raised when a knowledge base was built with another embedder or dimension than the configured one."""

    code = "embedder_mismatch"
