"""The command lines claw_lab runs: celery worker, beat and Flower for its app, uvicorn for its API, JupyterLab."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from claw_lab.errors import ConfigurationError

CELERY_APP = "claw_lab.celery_app:app"
API_FACTORY = "claw_lab.api:create_app"


def celery_command(*args: str) -> list[str]:
    """``python -m celery -A claw_lab.celery_app:app ARGS`` with this interpreter."""
    return [sys.executable, "-m", "celery", "-A", CELERY_APP, *args]


def worker_command(
    *,
    hostname: str | None = None,
    pool: str | None = None,
    concurrency: int | None = None,
    queues: str | None = None,
    loglevel: str = "INFO",
    extra: Sequence[str] = (),
) -> list[str]:
    """The ``celery worker`` command line for claw_lab's app."""
    command = celery_command("worker", "--loglevel", loglevel)
    options = {"--hostname": hostname, "--pool": pool, "--concurrency": concurrency, "--queues": queues}
    for option, value in options.items():
        if value is not None:
            command += [option, str(value)]
    return [*command, *extra]


def beat_command(*, loglevel: str = "INFO", extra: Sequence[str] = ()) -> list[str]:
    """The ``celery beat`` command line (RedBeat scheduler, from the app's configuration)."""
    return [*celery_command("beat", "--loglevel", loglevel), *extra]


def api_command(host: str, port: int, *, reload: bool = False, extra: Sequence[str] = ()) -> list[str]:
    """The ``uvicorn`` command line serving ``claw_lab.api:create_app``."""
    command = [sys.executable, "-m", "uvicorn", "--factory", API_FACTORY, "--host", host, "--port", str(port)]
    return [*command, *(["--reload"] if reload else []), *extra]


def flower_command(port: int, *, address: str = "127.0.0.1") -> list[str]:
    """The ``celery flower`` command line, monitoring the same app on a loopback port."""
    return celery_command("flower", f"--address={address}", f"--port={port}")


def lab_command(port: int, root: Path) -> list[str]:
    """The ``jupyter lab`` command line, on a loopback port, rooted at ``root``."""
    return [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
    ]  # fmt: skip


def module_available(module: str) -> bool:
    """Whether ``module`` can be imported (a real module or package, not an empty namespace)."""
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return False
    return spec is not None and spec.origin is not None


def require_module(module: str, install: str) -> None:
    """Fail with the ``pip install`` hint ``install`` when an optional component's module is missing."""
    if not module_available(module):
        raise ConfigurationError(f"{module} is not installed: pip install {install}")


def api_available() -> bool:
    """Whether the HTTP API and its server can run in this environment."""
    return all(module_available(name) for name in ("claw_lab.api", "fastapi", "uvicorn"))
