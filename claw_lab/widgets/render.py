"""What every panel view shares: the base panel widget, its status line and thread-safe re-rendering."""

from __future__ import annotations

import threading
from html import escape
from typing import Any

import ipywidgets as widgets

from claw_lab.widgets.feed import FeedStatus
from claw_lab.widgets.state import PanelModel

__all__ = ["Panel", "error_html", "status_html"]

_DOTS = {
    FeedStatus.LIVE: "#16a34a",
    FeedStatus.CONNECTING: "#6b7280",
    FeedStatus.RECONNECTING: "#d97706",
    FeedStatus.CLOSED: "#6b7280",
}


def status_html(model: PanelModel, extra: str = "") -> str:
    """The feed's state (``● live``, ``● reconnecting… (why)``) and the panel's last error, if any."""
    state = model.status
    line = (
        f'<span class="claw-feed claw-feed-{state.status.value}" style="color:{_DOTS[state.status]}">●</span> '
        f"{escape(state.text)}{escape(extra)}"
    )
    return f'<div class="claw-status" style="font-size:12px">{line}</div>' + error_html(model.error)


def error_html(message: str | None) -> str:
    """A manager error as a readable red line (empty when there is none)."""
    if not message:
        return ""
    return f'<div class="claw-error" style="color:#dc2626;font-size:12px">⚠ {escape(message)}</div>'


class Panel(widgets.VBox):  # type: ignore[misc]  # ipywidgets is not typed
    """A panel: a VBox over one `PanelModel`, re-rendered (under a lock) whenever the model changes."""

    dom_class = ""

    def __init__(self, model: PanelModel, children: list[Any], **layout: Any) -> None:
        super().__init__(children=children, **layout)
        if self.dom_class:
            self.add_class("claw-panel")
            self.add_class(self.dom_class)
        self.model = model
        self._render_lock = threading.RLock()
        model.observe(self._rerender)

    def __repr__(self) -> str:
        # Short and stable: the text an output notebook (papermill, nbval) keeps for the panel.
        return f"{type(self).__name__}()"

    def _rerender(self) -> None:
        with self._render_lock:
            self.render()

    def render(self) -> None:
        """Bring the widgets in line with the model (runs on the feed's threads)."""

    def start(self) -> None:
        """Render once and subscribe to the feed (the first read happens on the feed's thread)."""
        self._rerender()
        self.model.open()

    def close(self) -> None:
        """Unsubscribe from the feed and close every widget of the panel."""
        self.model.close()
        for widget in _descendants(self):
            widget.close()
        super().close()


def _descendants(box: widgets.Box) -> list[widgets.Widget]:
    found: list[widgets.Widget] = []
    for child in box.children:
        if isinstance(child, widgets.Box) and not isinstance(child, Panel):
            found += _descendants(child)
        found.append(child)
    return found
