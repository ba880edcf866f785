"""The command lines claw_lab runs: celery worker, beat and Flower for its app, uvicorn for its API, JupyterLab."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from claw_lab.errors import ConfigurationError
from claw_lab.settings import Settings

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


FLOWER_APP = "claw_lab.flower_app:app"


def flower_command(port: int, *, address: str = "127.0.0.1", extra: Sequence[str] = ()) -> list[str]:
    """The ``celery flower`` command line for claw_lab's app (secrets go in `flower_env`, never here)."""
    command = [sys.executable, "-m", "celery", "-A", FLOWER_APP, "flower", f"--address={address}", f"--port={port}"]
    return [*command, *extra]


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def flower_env(settings: Settings, address: str) -> dict[str, str]:
    """Flower's own ``FLOWER_*`` variables: its basic auth or OAuth from settings, else an open API on loopback.

    Secrets travel in the child's environment, not on its command line (which ``ps`` shows).
    Flower refuses its REST API to unauthenticated callers unless ``FLOWER_UNAUTHENTICATED_API``
    is set; that is set only for a Flower bound to loopback without any authentication.
    """
    env: dict[str, str] = {}
    if settings.flower_basic_auth is not None:
        env["FLOWER_BASIC_AUTH"] = settings.flower_basic_auth.get_secret_value()
    oauth = {
        "FLOWER_AUTH": settings.flower_auth,
        "FLOWER_AUTH_PROVIDER": settings.flower_auth_provider,
        "FLOWER_OAUTH2_KEY": settings.flower_oauth2_key,
        "FLOWER_OAUTH2_SECRET": settings.flower_oauth2_secret.get_secret_value()
        if settings.flower_oauth2_secret
        else None,
        "FLOWER_OAUTH2_REDIRECT_URI": settings.flower_oauth2_redirect_uri,
    }
    env.update({name: value for name, value in oauth.items() if value})
    if env:
        return env
    if address not in LOOPBACK:
        raise ConfigurationError(
            f"Flower on {address} would be open to anyone: set CLAW_FLOWER_BASIC_AUTH (user:password) "
            "or Flower's OAuth (CLAW_FLOWER_AUTH, CLAW_FLOWER_AUTH_PROVIDER, CLAW_FLOWER_OAUTH2_*), "
            "or keep CLAW_FLOWER_ADDRESS on loopback"
        )
    return {"FLOWER_UNAUTHENTICATED_API": "true"}


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
