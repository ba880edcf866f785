"""One JupyterLab and one Chromium per session; each test opens its own notebook in a fresh page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from claw_lab.settings import Settings
from tests.support.lab import CHROMIUM, CHROMIUM_ARGS, JupyterLab, save_screenshot


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: `make test` installs chromium with apt when run as root")


@pytest.fixture(scope="session")
def lab(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """JupyterLab whose kernels reach the test Redis (``CLAW_*`` come through the server's environment)."""
    require_chromium()  # no point in a server nothing will look at
    claw_env = {key: value for key, value in os.environ.items() if key.startswith("CLAW_")}
    server = JupyterLab(tmp_path_factory.mktemp("lab"), claw_env).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright (Playwright's own browser download is not used)."""
    require_chromium()
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests leave their screenshots (also copied to ``CLAW_SCREENSHOT_DIR`` when set)."""
    return tmp_path_factory.getbasetemp() / "screenshots"


@pytest.fixture
def page(browser: Browser, lab: JupyterLab, screenshots: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page; a screenshot of how it ended is kept, and the test's kernels are stopped."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    save_screenshot(page, screenshots, f"{request.node.name}-end", publish=False)
    context.close()
    lab.shutdown_kernels()
