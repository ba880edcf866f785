"""Helpers for API tests: role tokens, settings that accept them, and a real uvicorn server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from claw_lab.celery_app import create_celery_app
from claw_lab.connections import redis_client
from claw_lab.manager import TaskManager
from claw_lab.redis_server import free_port
from claw_lab.registry import Registry
from claw_lab.settings import Settings
from claw_lab.tokens import Role, mint_token

ROLES = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)


def mint_role_tokens() -> tuple[dict[Role, str], list[str]]:
    """One fresh token per role and the ``CLAW_API_TOKENS`` entries that accept them."""
    tokens: dict[Role, str] = {}
    entries: list[str] = []
    for role in ROLES:
        token, entry = mint_token(f"test-{role.name.lower()}", role)
        tokens[role] = token
        entries.append(entry.entry)
    return tokens, entries


def with_tokens(settings: Settings, entries: list[str], **overrides: object) -> Settings:
    """``settings`` accepting exactly ``entries`` (and any other overrides)."""
    return settings.model_copy(update={"api_tokens": entries, "api_auth_disabled": False, **overrides})


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


class LiveServer:
    """A uvicorn server running ``app`` in a thread of this process, on a free loopback port."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> LiveServer:
        """Start serving and wait until uvicorn says it has started."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextmanager
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """``app`` served by uvicorn for the duration of the block."""
    server = LiveServer(app).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def unreachable_manager(settings: Settings) -> Iterator[TaskManager]:
    """A real TaskManager whose Redis and broker URL point at a loopback port nobody listens on."""
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    manager = TaskManager(dead, app=create_celery_app(lambda: dead), registry=Registry(redis_client(dead), dead))
    try:
        yield manager
    finally:
        manager.broker.close()


@contextmanager
def api_process(env: dict[str, str], folder: Path) -> Iterator[str]:
    """``uvicorn --factory claw_lab.api:create_app`` in a subprocess with ``env``; yields its base URL."""
    root = Path(__file__).resolve().parents[2]
    port = free_port()
    log_path = folder / f"uvicorn-{port}.log"
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "claw_lab.api:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, cwd=root, env={**os.environ, **env, "PYTHONPATH": str(root)}, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/openapi.json", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)
