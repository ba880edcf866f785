"""Subprocesses of the tests: a fresh Python's last line of output; stopping by process group, never by name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python_output(script: str, cwd: Path = ROOT, **env: str) -> str:
    """The last line ``script`` prints in a fresh interpreter (``NAME=""`` removes a variable)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    for name in [name for name in env if env[name] == ""]:
        environment.pop(name)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def stop_group(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the process group of ``process`` (started with its own session); SIGKILL it after ``timeout``."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
