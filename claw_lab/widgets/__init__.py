"""Notebook panels (ipywidgets) to submit, watch and control claw_lab's jobs from JupyterLab.

Needs the ``notebook`` extra: ``pip install 'claw_lab[notebook]'``. The panels load on first
use; the state layer (`claw_lab.widgets.feed`, `.state`, `.monitor_model`) never imports
ipywidgets.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if importlib.util.find_spec("ipywidgets") is None:
    raise ImportError(
        "claw_lab.widgets needs ipywidgets and JupyterLab: pip install 'claw_lab[notebook]'", name="ipywidgets"
    )

if TYPE_CHECKING:
    from claw_lab.widgets.connection import connect
    from claw_lab.widgets.dashboard_panel import dashboard
    from claw_lab.widgets.follow_panel import follow, submit_and_follow
    from claw_lab.widgets.monitor import TaskMonitor
    from claw_lab.widgets.runbooks import RunbookPanel
    from claw_lab.widgets.submit import SubmitPanel
    from claw_lab.widgets.workers import WorkerPanel

__all__ = [  # noqa: RUF022  (grouped, not sorted)
    # connecting
    "connect",
    # panels
    "SubmitPanel",
    "TaskMonitor",
    "WorkerPanel",
    "RunbookPanel",
    "dashboard",
    # one-cell displays
    "follow",
    "submit_and_follow",
]

_HOMES = {
    "connect": "claw_lab.widgets.connection",
    "SubmitPanel": "claw_lab.widgets.submit",
    "TaskMonitor": "claw_lab.widgets.monitor",
    "WorkerPanel": "claw_lab.widgets.workers",
    "RunbookPanel": "claw_lab.widgets.runbooks",
    "dashboard": "claw_lab.widgets.dashboard_panel",
    "follow": "claw_lab.widgets.follow_panel",
    "submit_and_follow": "claw_lab.widgets.follow_panel",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'claw_lab.widgets' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
