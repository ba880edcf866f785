"""The dashboard: live charts and the submit, task, worker and runbook panels as tabs, over one manager and feed."""

from __future__ import annotations

import importlib.util
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from claw_lab.manager import Manager
from claw_lab.widgets.charts import ChartsModel, charts_spec
from claw_lab.widgets.connection import default_manager
from claw_lab.widgets.feed import describe_error
from claw_lab.widgets.monitor import TaskMonitor
from claw_lab.widgets.render import Panel, error_html, status_html
from claw_lab.widgets.runbooks import RunbookPanel
from claw_lab.widgets.state import HEAVY_IMPORTS
from claw_lab.widgets.submit import SubmitPanel
from claw_lab.widgets.workers import WorkerPanel

if TYPE_CHECKING:
    import altair as alt

__all__ = ["ChartsPanel", "Dashboard", "dashboard"]


def _jupyter_chart_class() -> type[alt.JupyterChart]:
    """Altair's `JupyterChart`, its JavaScript bundled by vl-convert when installed (no CDN needed).

    Bundling takes a few seconds, once per kernel.
    """
    with HEAVY_IMPORTS:
        import altair as alt

        if importlib.util.find_spec("vl_convert") is not None:
            alt.JupyterChart.enable_offline()
    return alt.JupyterChart


class ChartsPanel(Panel):
    """Throughput and failure rate over the last hour, runtimes per task and queue depth, redrawn in place."""

    dom_class = "claw-charts"

    def __init__(self, manager: Manager | None = None, *, interval: float = 5.0, history: int = 360) -> None:
        """Re-reads the manager every ``interval`` seconds; keeps ``history`` queue-depth samples."""
        self._status = widgets.HTML()
        self._area = widgets.Box([widgets.HTML("<i>drawing the charts…</i>")])
        self.chart: alt.JupyterChart | None = None
        model = ChartsModel(default_manager(manager), interval=interval, history=history)
        super().__init__(model, [self._status, self._area])
        self.model: ChartsModel = model
        self.start()
        # The chart widget is built off the cell's thread: its first build bundles JavaScript.
        threading.Thread(target=self._build_chart, name="claw-charts", daemon=True).start()

    def _build_chart(self) -> None:
        placeholder = self._area.children
        try:
            chart_class = _jupyter_chart_class()
            # The import lock first: holding the render lock while another panel's thread
            # imports papermill would stall the feed's thread on this panel meanwhile.
            with HEAVY_IMPORTS, self._render_lock:
                if self.model.closed:
                    return
                self.chart = chart_class(charts_spec(self.model), embed_options={"renderer": "svg"})
                self._area.children = [self.chart]
        except Exception as exc:  # shown in the panel: a chart that cannot be built must not be a silent blank
            self._area.children = [widgets.HTML(error_html(f"the charts cannot be drawn: {describe_error(exc)}"))]
        for widget in placeholder:
            widget.close()

    def render(self) -> None:
        model = self.model
        when = f" · updated {model.refreshed_at:%H:%M:%S} UTC" if model.refreshed_at else ""
        self._status.value = status_html(model, when)
        # Altair reads numpy from sys.modules: while another panel's thread is importing it
        # (papermill loads it), the module there is half made. Skip this redraw then; the next
        # refresh draws the newer readings.
        if self.chart is not None and HEAVY_IMPORTS.acquire(blocking=False):
            try:
                self.chart.chart = charts_spec(model)
            finally:
                HEAVY_IMPORTS.release()


class Dashboard(widgets.VBox):  # type: ignore[misc]  # ipywidgets is not typed
    """Tabs over one manager: Charts, Submit, Tasks, Workers and Runbooks (the panels stay reachable as attributes)."""

    def __init__(self, manager: Manager | None = None, **charts: Any) -> None:
        manager = default_manager(manager)
        self.charts = ChartsPanel(manager, **charts)
        self.submit = SubmitPanel(manager=manager)
        self.monitor = TaskMonitor(manager=manager)
        self.workers = WorkerPanel(manager=manager)
        self.runbooks = RunbookPanel(manager=manager)
        tabs = widgets.Tab(children=[self.charts, self.submit, self.monitor, self.workers, self.runbooks])
        tabs.titles = ("Charts", "Submit", "Tasks", "Workers", "Runbooks")
        self.tabs = tabs
        super().__init__(children=[tabs])
        self.add_class("claw-dashboard")

    def close(self) -> None:
        """Close every panel (each unsubscribes from the feed) and the tabs."""
        for panel in (self.charts, self.submit, self.monitor, self.workers, self.runbooks):
            panel.close()
        self.tabs.close()
        super().close()


def dashboard(manager: Manager | None = None) -> Dashboard:
    """The dashboard over ``manager`` (default: `connect()`); display it as a cell's last line."""
    return Dashboard(manager)
