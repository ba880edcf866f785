"""The state behind `RunbookPanel`: the runbooks and their parameters, Run now, and the recent runs.

The runbooks are read from the runbook folder here (``CLAW_RUNBOOK_DIR``, through
`claw_lab.runbooks`), so the notebook needs that folder locally; runs are submitted, and
the recent runs read, through the manager, whichever it is. Nothing here imports
ipywidgets.
"""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from claw_lab import runbooks
from claw_lab.errors import ValidationFailed
from claw_lab.manager import Manager
from claw_lab.models import TaskEvent, TaskRecord
from claw_lab.settings import Settings, get_settings
from claw_lab.widgets.feed import EventFeed, describe_error
from claw_lab.widgets.state import HEAVY_IMPORTS, FormModel, form_errors

__all__ = ["RUN_RUNBOOK", "RunbooksModel", "find_lab_root", "output_of", "parameter_schema"]

RUN_RUNBOOK = "claw.notebooks.run_runbook"
_FAILED_OUTPUT = re.compile(r"\(output notebook: (?P<path>[^)]+)\)\s*$")
_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_PY_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def parameter_schema(runbook: runbooks.Runbook) -> dict[str, Any]:
    """A JSON schema of the runbook's parameters (none required: the notebook's defaults apply), for the form."""
    properties: dict[str, Any] = {}
    for parameter in runbook.parameters:
        base = parameter.type.split("|")[0].strip()
        kind = _JSON_TYPES.get(base) or _PY_TYPES.get(type(parameter.default))
        schema: dict[str, Any] = {"type": kind} if kind else {}
        if parameter.default is not None:
            schema["default"] = parameter.default
        if parameter.help:
            schema["description"] = parameter.help
        properties[parameter.name] = schema
    return {"type": "object", "properties": properties}


def output_of(record: TaskRecord) -> str | None:
    """The output notebook of a runbook run: in its result, or named in its failure."""
    preview = record.result_preview
    if isinstance(preview, dict) and isinstance(preview.get("output"), str):
        return str(preview["output"])
    if record.error is not None:
        found = _FAILED_OUTPUT.search(record.error.message)
        if found:
            return found["path"]
    return None


def find_lab_root() -> Path | None:
    """The root folder of the JupyterLab this kernel runs under, if any.

    Jupyter gives its kernels the notebook's path (``JPY_SESSION_NAME``) and lists its
    running servers with their root folders: the root is the server's that holds the notebook.
    """
    notebook = os.environ.get("JPY_SESSION_NAME", "")
    if not notebook:
        return None
    try:
        from jupyter_server.serverapp import list_running_servers

        roots = [Path(server["root_dir"]).resolve() for server in list_running_servers() if server.get("root_dir")]
    except Exception:
        return None
    path = Path(notebook).resolve()
    holding = [root for root in roots if path.is_relative_to(root)]
    return max(holding, key=lambda root: len(root.parts)) if holding else None


class RunbooksModel(FormModel):
    """The runbooks (read here), the last submission (its record, or errors by parameter) and the recent runs."""

    def __init__(
        self,
        manager: Manager,
        feed: EventFeed | None = None,
        *,
        settings: Settings | None = None,
        limit: int = 10,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__(manager, feed)
        self.settings = settings or get_settings()
        self.limit = limit
        self.poll_interval = poll_interval
        self.runbooks: list[runbooks.Runbook] = []
        self.runbooks_error: str | None = None
        self.runs: list[TaskRecord] = []
        self.names: dict[str, str] = {}
        """The runbook of each listed run, by task id."""
        self._last_read = 0.0

    def runbook(self, name: str) -> runbooks.Runbook | None:
        """The loaded runbook called ``name``."""
        return next((runbook for runbook in self.runbooks if runbook.name == name), None)

    # --- reading --------------------------------------------------------------------------------
    def load(self) -> None:
        """Read the runbook folder (here) and the recent runs (through the manager)."""
        try:
            with HEAVY_IMPORTS:  # papermill, on its first use
                self.runbooks = runbooks.list_runbooks(self.settings)
            self.runbooks_error = None
        except Exception as exc:
            self.runbooks_error = describe_error(exc)
        self.read_runs()

    def read_runs(self) -> None:
        """Re-read the most recent runs of ``claw.notebooks.run_runbook``."""
        self._last_read = time.monotonic()

        def get() -> None:
            runs = list(self.manager.list(name=RUN_RUNBOOK, limit=self.limit).items)
            # A listing leaves kwargs out: each run's runbook is read once, by id.
            self.names = {run.id: self.names.get(run.id) or self._runbook_name(run) for run in runs}
            self.runs = runs

        self.attempt(get)
        self.changed()

    def _runbook_name(self, run: TaskRecord) -> str:
        kwargs = run.kwargs if run.kwargs is not None else self.manager.get(run.id).kwargs
        return str((kwargs or {}).get("runbook", ""))

    def on_reload(self) -> None:
        self.feed.run(self.load)  # on the action pool: the first load may wait for papermill's import

    def on_events(self, events: list[TaskEvent]) -> None:
        if any(event.name == RUN_RUNBOOK for event in events):
            self.read_runs()

    def on_tick(self) -> None:
        running = any(not run.state.finished for run in self.runs)
        if self.live and running and time.monotonic() - self._last_read >= self.poll_interval:
            self.read_runs()  # progress (cells executed) moves without lifecycle events

    # --- Run now --------------------------------------------------------------------------------
    def run(self, name: str, parameters: dict[str, Any]) -> Future[Any] | None:
        """Check ``parameters`` against the runbook, then submit it on the action pool; errors land by parameter."""
        if self.busy:
            return None
        runbook = self.runbook(name)
        self.field_errors, self.submitted = {}, None
        try:
            if runbook is None:
                raise ValidationFailed(
                    f"unknown runbook {name!r}", details=[{"field": "runbook", "message": "unknown"}]
                )
            checked = runbooks.validate_parameters(runbook, parameters)
        except ValidationFailed as exc:
            self.fail(_parameter_errors(exc))
            return None
        self.busy = True
        self.changed()

        def act() -> None:
            try:
                self.submitted = self.manager.submit(RUN_RUNBOOK, {"runbook": name, "parameters": _json(checked)})
                self.error = None
            except ValidationFailed as exc:
                self.field_errors = _parameter_errors(exc)
            except Exception as exc:
                self.error = describe_error(exc)
            self.busy = False
            self.read_runs()

        return self.feed.run(act)


def _json(values: dict[str, Any]) -> dict[str, Any]:
    """The parameters as plain JSON values (what the task's input accepts)."""
    return dict(json.loads(json.dumps(values)))


def _parameter_errors(exc: ValidationFailed) -> dict[str, str]:
    """Errors by parameter name: ``parameters.limit`` (checked here) and ``kwargs.parameters`` (the manager's)."""
    errors: dict[str, str] = {}
    details = exc.details if isinstance(exc.details, list) else []
    for detail in details:
        if isinstance(detail, dict) and str(detail.get("field", "")).startswith("parameters."):
            name = str(detail["field"]).split(".", 1)[1]
            errors[name] = str(detail.get("message", ""))
    return errors or form_errors(exc)
