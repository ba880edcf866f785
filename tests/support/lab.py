"""A JupyterLab server of our own on a free loopback port, and Playwright steps to run its notebooks."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_lab.redis_server import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CLAW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The "get notified about Jupyter news?" toast would cover the page.
PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}


class JupyterLab:
    """``jupyter lab`` in a subprocess: temp root and config dirs, a random token, stopped by its PID."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.root = base / "notebooks"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.log = base / "jupyterlab.log"
        config = base / "config"
        (config / "labconfig").mkdir(parents=True)
        (config / "labconfig" / "page_config.json").write_text(json.dumps(PAGE_CONFIG))
        self.root.mkdir()
        self.env = {
            **os.environ,
            **env,
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_DATA_DIR": str(base / "data"),
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
            "IPYTHONDIR": str(base / "ipython"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> JupyterLab:
        """Start the server and wait until ``/api/status`` answers."""
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}", "--ServerApp.password=", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]  # fmt: skip
        if os.geteuid() == 0:
            command.append("--allow-root")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                self.api("/api/status")
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Terminate the server (its kernels go with it); kill it if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def api(self, path: str, method: str = "GET") -> Any:
        """Call a Jupyter REST endpoint with the token and decode its JSON (None for an empty body)."""
        request = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def write_notebook(self, name: str, cells: list[str]) -> str:
        """Write a notebook of code ``cells`` into the server's root; returns its path there."""
        notebook = {
            "cells": [
                {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
                for source in cells
            ],
            "metadata": {
                "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                "language_info": {"name": "python"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (self.root / name).write_text(json.dumps(notebook, indent=1))
        return name

    def wait_for_kernel(self, path: str, timeout: float = 60) -> None:
        """Wait until the notebook's session has a kernel that reports idle."""
        deadline = time.monotonic() + timeout
        while True:
            states = [s["kernel"]["execution_state"] for s in self.api("/api/sessions") if s.get("path") == path]
            if states == ["idle"]:
                return
            assert time.monotonic() < deadline, f"the kernel of {path} never became idle (sessions: {states})"
            time.sleep(0.2)

    def run_notebook(self, page: Page, path: str) -> None:
        """Open ``path`` in ``page``, wait for its kernel, run all cells and wait until the last one ran."""
        from playwright.sync_api import expect

        # A workspace of its own, so JupyterLab does not reopen the notebooks of earlier tests.
        workspace = Path(path).stem
        page.goto(f"{self.url}/lab/workspaces/{workspace}/tree/{path}?token={self.token}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for()
        self.wait_for_kernel(path)
        expect(page.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle")
        first_prompt = page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt").first
        for attempt in range(3):
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name=re.compile("^Run All Cells")).click()
            try:  # a kernel that only just connected may drop the first request
                expect(first_prompt).not_to_have_text("[ ]:", timeout=10_000)
                break
            except AssertionError:
                if attempt == 2:
                    raise
        last_prompt = page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt").last
        expect(last_prompt).to_have_text(re.compile(r"\[\d+\]:"), timeout=60_000)

    def shutdown_kernels(self) -> None:
        """Stop every kernel (a test's notebook stops listening once its test is over)."""
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", method="DELETE")


def save_screenshot(target: Page | Locator, folder: Path, name: str, *, publish: bool = True) -> Path:
    """Screenshot a page or one element into ``folder``; ``publish`` also copies it to ``CLAW_SCREENSHOT_DIR``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    target.screenshot(path=str(path))
    if publish and (target_dir := os.environ.get("CLAW_SCREENSHOT_DIR")):
        Path(target_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target_dir) / path.name)
    return path
