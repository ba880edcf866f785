"""Runbooks: the parameterized notebooks under ``CLAW_RUNBOOK_DIR``, listed, validated and executed with papermill.

This is the one implementation behind ``claw-lab runbook``, the task
``claw.notebooks.run_runbook`` and the scheduled runs: a runbook is a notebook with a
cell tagged ``parameters``; its parameters (name, annotated type, default, trailing
comment) come from papermill's inspection. A run writes its output notebook to
``CLAW_RUNBOOK_OUTPUT/<name>/<UTC timestamp>-<run id>.ipynb`` (a local folder, or
``s3://...`` through papermill's own IO handlers) and, when a cell fails, reports that
cell's error. papermill is imported on first use, so the API and workers load without it.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, ValidationError, create_model

from claw_lab.errors import ConfigurationError, PermanentError, UnknownTask, ValidationFailed
from claw_lab.programs import module_available
from claw_lab.settings import Settings

if TYPE_CHECKING:
    from claw_lab.manager import Manager

PROJECT_RUNBOOKS = Path(__file__).resolve().parents[1] / "notebooks" / "runbooks"
ENGINE = "claw_lab"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TYPES: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}
_TYPES.update({"None": None, "Any": Any})
_TRACEBACK_LINES = 30

Progress = Callable[[int, int], None]
"""Called with (cells executed, cells in the notebook) as a run goes."""


class UnknownRunbook(UnknownTask):
    """Raised when no notebook of that name is in the runbook folder."""

    code = "unknown_runbook"


class RunbookFailed(PermanentError):
    """Raised when a runbook's cell failed; the message names the cell's error and the output notebook."""

    code = "runbook_failed"


@dataclass(frozen=True)
class RunbookParameter:
    """One parameter of a runbook: its name, annotated type, default and help (the line's trailing comment)."""

    name: str
    type: str
    default: Any
    help: str


@dataclass(frozen=True)
class Runbook:
    """A runbook notebook: its name (the file's stem), path, one-line description and parameters."""

    name: str
    path: Path
    description: str
    parameters: tuple[RunbookParameter, ...]

    def to_dict(self) -> dict[str, Any]:
        """The runbook as JSON-ready data."""
        return {**asdict(self), "path": str(self.path)}


@dataclass(frozen=True)
class CellError:
    """The error of the cell a run stopped at."""

    cell: int
    execution_count: int | None
    ename: str
    evalue: str
    traceback: str

    def __str__(self) -> str:
        where = f"cell [{self.execution_count}]" if self.execution_count is not None else f"cell {self.cell}"
        return f"{where}: {self.ename}: {self.evalue}"


@dataclass(frozen=True)
class RunbookRun:
    """What one run did: its output notebook, duration, parameters and, if a cell failed, that error."""

    runbook: str
    run_id: str
    output: str
    parameters: dict[str, Any]
    duration: float
    cells: int
    error: CellError | None = None
    started_at: str = field(default="")

    @property
    def ok(self) -> bool:
        """True when every cell ran without error."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data (a task's result)."""
        return asdict(self)

    def raise_for_error(self) -> None:
        """`RunbookFailed` naming the failing cell's error and the output notebook, if a cell failed."""
        if self.error is not None:
            raise RunbookFailed(
                f"runbook {self.runbook} failed at {self.error} (output notebook: {self.output})",
                details={"output": self.output, "error": asdict(self.error)},
            )


# --- finding and reading runbooks ---------------------------------------------------------------
def runbook_folder(settings: Settings) -> Path:
    """``CLAW_RUNBOOK_DIR``, or the project's ``notebooks/runbooks``."""
    return (settings.runbook_dir or PROJECT_RUNBOOKS).expanduser()


def _papermill() -> Any:
    if not module_available("papermill"):
        raise ConfigurationError("papermill is not installed: pip install 'claw_lab[runbooks]'")
    import papermill

    return papermill


def available(settings: Settings) -> bool:
    """Whether runbooks can be read here (papermill installed and the runbook folder present)."""
    return module_available("papermill") and runbook_folder(settings).is_dir()


def _description(path: Path) -> str:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = "".join(cell.get("source", []))
            for line in source.splitlines():
                if line.strip():
                    return line.strip().lstrip("#").strip()
    return ""


def _default(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def read_runbook(path: Path) -> Runbook:
    """A runbook's name, description and parameters, from papermill's inspection of ``path``."""
    papermill = _papermill()
    inspected = papermill.inspect_notebook(str(path))
    parameters = tuple(
        RunbookParameter(
            name=name,
            type=str(info.get("inferred_type_name") or "None"),
            default=_default(str(info.get("default"))),
            help=str(info.get("help") or ""),
        )
        for name, info in inspected.items()
    )
    return Runbook(name=path.stem, path=path, description=_description(path), parameters=parameters)


def list_runbooks(settings: Settings) -> list[Runbook]:
    """Every runbook in the runbook folder, by name."""
    folder = runbook_folder(settings)
    if not folder.is_dir():
        raise ConfigurationError(f"CLAW_RUNBOOK_DIR: {folder} is not a folder")
    return [read_runbook(path) for path in sorted(folder.glob("*.ipynb")) if _NAME.match(path.stem)]


def get_runbook(name: str, settings: Settings) -> Runbook:
    """The runbook ``name``; `UnknownRunbook` naming the known ones otherwise."""
    folder = runbook_folder(settings)
    path = folder / f"{name}.ipynb"
    if not _NAME.match(name) or not path.is_file():
        known = ", ".join(p.stem for p in sorted(folder.glob("*.ipynb"))) or "none"
        raise UnknownRunbook(
            f"unknown runbook {name!r}; known runbooks: {known}",
            details=[{"field": "runbook", "message": "unknown runbook"}],
        )
    return read_runbook(path)


# --- validating parameters -------------------------------------------------------------------------
def _annotation(text: str) -> Any:
    """The Python type an annotation such as ``int``, ``list[str]`` or ``str | None`` names (``Any`` if unknown)."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return Any
    allowed = (ast.Expression, ast.Name, ast.Subscript, ast.BinOp, ast.BitOr, ast.Tuple, ast.Load, ast.Constant)
    for node in ast.walk(tree):
        if not isinstance(node, allowed) or (isinstance(node, ast.Name) and node.id not in _TYPES):
            return Any
        if isinstance(node, ast.Constant) and node.value is not None:
            return Any
    try:
        return eval(compile(tree, "<annotation>", "eval"), {"__builtins__": {}}, dict(_TYPES))
    except TypeError:
        return Any


def _from_text(value: Any, annotation: Any) -> Any:
    """A command-line string for a non-string parameter, read as JSON when it parses (``3``, ``true``, ``[1]``)."""
    if not isinstance(value, str) or annotation is str:
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def validate_parameters(runbook: Runbook, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` checked against the runbook's declared parameters and their types; `ValidationFailed` otherwise.

    Strings are read as JSON for parameters that are not strings (the command line gives
    strings), so ``-p limit 5`` is the integer 5. Only the given parameters are returned:
    the others keep the notebook's defaults.
    """
    declared = {p.name: _annotation(p.type) for p in runbook.parameters}
    fields: dict[str, Any] = {name: (annotation, None) for name, annotation in declared.items()}
    model = create_model(f"{runbook.name}_parameters", __config__=ConfigDict(extra="forbid"), **fields)
    values = {key: _from_text(value, declared.get(key)) for key, value in given.items()}
    try:
        checked = model.model_validate(values)
    except ValidationError as exc:
        details = []
        for error in exc.errors(include_url=False):
            name = ".".join(str(part) for part in error["loc"])
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = f"unknown parameter (declared: {', '.join(declared) or 'none'})"
            details.append({"field": f"parameters.{name}", "message": message})
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise ValidationFailed(f"runbook {runbook.name}: {summary}", details=details) from None
    return {key: getattr(checked, key) for key in given}


# --- running -------------------------------------------------------------------------------------------
def output_path(settings: Settings, name: str, run_id: str, now: datetime | None = None) -> str:
    """Where a run's output notebook goes: ``CLAW_RUNBOOK_OUTPUT/<name>/<UTC timestamp>-<run id>.ipynb``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    filename = f"{stamp}-{run_id}.ipynb"
    base = settings.runbook_output
    if "://" in base:
        return f"{base.rstrip('/')}/{name}/{filename}"
    folder = Path(base).expanduser() / name
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder.resolve() / filename)


def _engine() -> str:
    """Register (once) the papermill engine that reports cells executed as they finish."""
    from papermill.engines import NBClientEngine, papermill_engines

    if ENGINE in papermill_engines._engines:
        return ENGINE

    class ReportingEngine(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_managed_notebook(
            cls, nb_man: Any, kernel_name: str, claw_progress: Progress | None = None, **kwargs: Any
        ) -> Any:
            if claw_progress is not None:
                complete, total = nb_man.cell_complete, len(nb_man.nb.cells)

                def cell_complete(cell: Any, cell_index: int | None = None, **options: Any) -> None:
                    complete(cell, cell_index=cell_index, **options)
                    claw_progress((cell_index or 0) + 1, total)

                nb_man.cell_complete = cell_complete
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(ENGINE, ReportingEngine)
    return ENGINE


def _cell_error(exc: BaseException) -> CellError:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        lines = _ANSI.sub("", "\n".join(exc.traceback or [])).splitlines()
        return CellError(
            cell=exc.cell_index,
            execution_count=exc.exec_count,
            ename=exc.ename,
            evalue=_ANSI.sub("", str(exc.evalue)),
            traceback="\n".join(lines[-_TRACEBACK_LINES:]),
        )
    return CellError(cell=-1, execution_count=None, ename=type(exc).__name__, evalue=str(exc), traceback="")


@contextlib.contextmanager
def _thread_event_loop() -> Iterator[None]:
    """Close the event loop papermill's kernel client made for a worker thread once the run is over.

    jupyter_core keeps one loop per thread context and never closes it; in a pool thread
    that loop would otherwise outlive the run (and leak its sockets when the thread ends).
    """
    if threading.current_thread() is threading.main_thread():
        yield
        return
    try:
        yield
    finally:
        from jupyter_core.utils import ensure_event_loop

        loop = ensure_event_loop()
        asyncio.set_event_loop(None)
        loop.close()


def execute(
    name: str,
    parameters: dict[str, Any] | None = None,
    *,
    settings: Settings,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> RunbookRun:
    """Validate ``parameters`` and run runbook ``name`` with papermill; a failing cell is in the run's ``error``.

    Invalid parameters raise `ValidationFailed` before anything runs. The kernel is a
    separate process that inherits this process's environment (``CLAW_*`` included).
    """
    runbook = get_runbook(name, settings)
    checked = validate_parameters(runbook, parameters or {})
    papermill = _papermill()
    from nbclient.exceptions import CellControlSignal, DeadKernelError

    run_id = run_id or uuid.uuid4().hex
    now = datetime.now(UTC)
    output = output_path(settings, name, run_id, now)
    started = time.perf_counter()
    error: CellError | None = None
    cells = 0
    try:
        with _thread_event_loop():
            notebook = papermill.execute_notebook(
                str(runbook.path),
                output,
                parameters=checked,
                engine_name=_engine(),
                kernel_name=settings.runbook_kernel,
                cwd=str(runbook.path.parent),
                progress_bar=False,
                start_timeout=settings.runbook_start_timeout,
                execution_timeout=settings.runbook_cell_timeout,
                claw_progress=progress,
            )
        cells = len(notebook.cells)
    except (papermill.PapermillExecutionError, CellControlSignal, DeadKernelError, RuntimeError) as exc:
        error = _cell_error(exc)
    return RunbookRun(
        runbook=name,
        run_id=run_id,
        output=output,
        parameters=checked,
        duration=round(time.perf_counter() - started, 3),
        cells=cells,
        error=error,
        started_at=now.isoformat(),
    )


# --- inside a runbook ----------------------------------------------------------------------------------
def connect(api_url: str = "", token: str = "") -> Manager:
    """The manager a runbook works through, as the notebook panels find theirs (`claw_lab.client.connect`).

    Its parameters are strings, as papermill passes them: an empty ``api_url`` means Redis.
    """
    from claw_lab.client import connect as connect_manager

    return connect_manager(api_url, token)
