"""JupyterLab in a real browser runs a notebook and its widgets answer clicks from the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support.lab import JupyterLab

pytestmark = pytest.mark.browser


def test_a_widget_answers_a_click_in_the_page(lab: JupyterLab, page: Page) -> None:
    path = lab.write_notebook(
        "smoke.ipynb",
        [
            "import ipywidgets as w\n"
            "label = w.Label('waiting')\n"
            "button = w.Button(description='Press')\n"
            "button.on_click(lambda _: setattr(label, 'value', 'pressed in the page'))\n"
            "w.VBox([button, label])"
        ],
    )
    lab.run_notebook(page, path)
    page.locator(".jp-OutputArea-output button.widget-button", has_text="Press").click()
    expect(page.locator(".jp-OutputArea-output .widget-label")).to_have_text("pressed in the page")
