"""The runbook task: ``claw.notebooks.run_runbook`` runs a runbook notebook with papermill on a worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationInfo, field_validator

from claw_lab.settings import get_settings
from claw_lab.tasks.catalog import claw_task

if TYPE_CHECKING:
    from claw_lab.tasks.base import ClawTask


class RunRunbook(BaseModel):
    """Input of ``claw.notebooks.run_runbook``."""

    model_config = ConfigDict(extra="forbid")

    runbook: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$", description="the notebook's name, no suffix")
    parameters: dict[str, JsonValue] = Field(
        default_factory=dict, validate_default=True, description="values for its parameters cell"
    )

    @field_validator("parameters", mode="after")
    @classmethod
    def _declared(cls, value: dict[str, JsonValue], info: ValidationInfo) -> dict[str, JsonValue]:
        """Check the parameters against the notebook where the runbooks are at hand (else the worker does)."""
        from claw_lab import runbooks
        from claw_lab.errors import ValidationFailed

        settings = get_settings()
        name = info.data.get("runbook")
        if name is None or not runbooks.available(settings):
            return value
        try:
            runbooks.validate_parameters(runbooks.get_runbook(name, settings), value)
        except ValidationFailed as exc:
            raise ValueError(exc.message) from None
        return value


@claw_task(
    "claw.notebooks.run_runbook",
    input=RunRunbook,
    queue="maintenance",
    soft_time_limit=3300,
    time_limit=3600,
    max_retries=0,
)
def run_runbook(task: ClawTask, payload: RunRunbook) -> dict[str, Any]:
    """Run a runbook notebook with papermill; the result names its output notebook (and the failing cell's error)."""
    from claw_lab import runbooks

    def progress(done: int, total: int) -> None:
        task.report_progress(done, total, f"{done} of {total} cells executed")

    run = runbooks.execute(
        payload.runbook, dict(payload.parameters), settings=get_settings(), run_id=task.request.id, progress=progress
    )
    run.raise_for_error()
    return run.to_dict()
