"""The local stack behind ``claw-lab up`` and ``claw-lab demo``: Redis, worker, beat, API, Flower, JupyterLab.

Redis is the server at ``CLAW_REDIS_URL`` when one answers there, else a private
``redis-server`` on a free loopback port that lives exactly as long as the stack. The
other components run as child processes (see `claw_lab.processes`) with the resolved
``CLAW_REDIS_URL`` in their environment, and stop in reverse order of starting. While a
stack runs, ``<CLAW_STATE_DIR>/stack.json`` says where its Redis and services are (never
a secret), so ``claw-lab`` commands in another terminal find its private Redis.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import redis
from pydantic import BaseModel, ValidationError

from claw_lab.connections import redis_client
from claw_lab.errors import BackendUnavailable, ClawLabError, ConfigurationError
from claw_lab.processes import ChildProcess, ChildSpec, LineSink
from claw_lab.programs import (
    api_command,
    beat_command,
    flower_command,
    flower_env,
    lab_command,
    require_module,
    worker_command,
)
from claw_lab.redis_server import RedisServer
from claw_lab.settings import Settings, get_settings, redact
from claw_lab.tokens import Role, mint_token

STATE_FILE = "stack.json"


class StackFailed(ClawLabError):
    """Raised when a component of the local stack exits or does not become ready in time."""

    code = "stack_failed"


# --- Redis ---------------------------------------------------------------------------------
def redis_answers(settings: Settings) -> bool:
    """Whether a Redis answers at ``CLAW_REDIS_URL`` with the configured TLS and credentials.

    A server that answers but refuses the credentials is a `ConfigurationError`: starting
    a private Redis instead would silently hide the mistake.
    """
    client = redis_client(settings)
    try:
        return bool(client.ping())
    except redis.AuthenticationError:
        raise ConfigurationError(
            f"Redis at {redact(settings.redis_url)} refused the credentials; check CLAW_REDIS_URL, "
            "CLAW_REDIS_USERNAME and CLAW_REDIS_PASSWORD"
        ) from None
    except redis.ResponseError:
        return True
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def local_plain_url(settings: Settings) -> bool:
    """Whether ``CLAW_REDIS_URL`` is a plain ``redis://`` URL on this machine, without credentials."""
    parts = urlsplit(settings.redis_url)
    return (
        parts.scheme == "redis"
        and (parts.hostname or "localhost") in {"localhost", "127.0.0.1", "::1"}
        and not parts.password
        and settings.redis_password is None
    )


def use_redis_url(url: str) -> None:
    """Point this process (and the children it starts) at ``url`` as ``CLAW_REDIS_URL``.

    Must run before the Celery app is first configured; the process-wide settings and
    registry are rebuilt on next use.
    """
    from claw_lab.celery_app import app, registry

    if app.configured and get_settings().redis_url != url:
        raise RuntimeError("the Celery app is already configured for another Redis")
    os.environ["CLAW_REDIS_URL"] = url
    get_settings.cache_clear()
    registry.cache_clear()


def join_running_stack() -> None:
    """Use the Redis of the ``claw-lab up`` running from this directory when ``CLAW_REDIS_URL`` is not set.

    The stack records its Redis in ``<CLAW_STATE_DIR>/stack.json``, so a private Redis on a
    random port is found by commands in another terminal and by notebooks.
    """
    settings = get_settings()
    if "redis_url" not in settings.model_fields_set:
        stack = running_stack(settings)
        if stack is not None and stack.redis_url:
            use_redis_url(stack.redis_url)


# --- the state file --------------------------------------------------------------------------
class StackState(BaseModel):
    """What ``stack.json`` records about a running stack: PIDs and addresses, never secrets."""

    pid: int
    started_at: datetime
    redis_url: str | None = None
    redis_pid: int | None = None
    worker: str | None = None
    children: dict[str, int] = {}
    urls: dict[str, str] = {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded_stack(settings: Settings) -> StackState | None:
    """The stack recorded in ``<state_dir>/stack.json``, alive or not."""
    path = settings.state_dir / STATE_FILE
    try:
        return StackState.model_validate_json(path.read_text())
    except (OSError, ValidationError):
        return None


def running_stack(settings: Settings) -> StackState | None:
    """The stack recorded in ``<state_dir>/stack.json`` if its ``claw-lab`` process is still alive."""
    state = recorded_stack(settings)
    return state if state is not None and _alive(state.pid) else None


def survivors(state: StackState) -> dict[str, int]:
    """Processes a recorded stack started that are still alive, by name (``redis`` included)."""
    pids = {**state.children, **({"redis": state.redis_pid} if state.redis_pid else {})}
    return {name: pid for name, pid in pids.items() if _alive(pid)}


def port_free(host: str, port: int) -> bool:
    """Whether a server can bind ``host:port`` now, binding as uvicorn does (``SO_REUSEADDR``).

    A connection of a server that just stopped may linger in TIME_WAIT on the port; that
    does not stop a new server from binding it, so it does not count as in use.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def http_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether an HTTP server answers at ``url`` with any status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


# --- the stack -------------------------------------------------------------------------------
class LocalStack:
    """Redis plus claw_lab's processes on one machine; ``stop()`` ends everything it started, by PID."""

    def __init__(
        self,
        settings: Settings,
        *,
        sink: LineSink | None = None,
        log_dir: Path | None = None,
        stop_timeout: float = 20.0,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.env = env or {}
        self.sink = sink
        self.log_dir = log_dir
        self.stop_timeout = stop_timeout
        self.cwd = cwd or Path.cwd()
        self.redis: RedisServer | None = None
        self.redis_url: str | None = None
        self.children: list[ChildProcess] = []
        self.urls: dict[str, str] = {}
        self.worker_hostname: str | None = None
        self._state_path: Path | None = None

    # --- Redis ---------------------------------------------------------------------------
    def start_redis(self, *, allow_private: bool = True) -> str:
        """Use the Redis at ``CLAW_REDIS_URL`` if it answers, else start a private one; returns the URL.

        The private fallback is for a plain local URL only: when ``CLAW_REDIS_URL`` names a
        remote host, TLS or credentials, a server that does not answer is an error, not
        something to paper over with an empty local Redis.
        """
        if redis_answers(self.settings):
            self.redis_url = self.settings.redis_url
        elif not (allow_private and local_plain_url(self.settings)):
            raise ConfigurationError(f"no Redis answers at CLAW_REDIS_URL ({redact(self.settings.redis_url)})")
        else:
            self.redis = RedisServer().start()
            self.redis_url = self.redis.url
        use_redis_url(self.redis_url)
        self.settings = get_settings()
        return self.redis_url

    @property
    def private_redis(self) -> bool:
        """True when the stack started its own redis-server."""
        return self.redis is not None

    # --- children ------------------------------------------------------------------------
    def child_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """This process's environment, the stack's ``env``, the resolved Redis URL and unbuffered output."""
        if self.redis_url is None:
            raise RuntimeError("start_redis() first")
        resolved = {"CLAW_REDIS_URL": self.redis_url, "PYTHONUNBUFFERED": "1"}
        return {**os.environ, **self.env, **resolved, **(extra or {})}

    def start(self, name: str, command: Sequence[str], env: dict[str, str] | None = None) -> ChildProcess:
        """Start one named child with the stack's environment."""
        spec = ChildSpec(name=name, command=command, env=self.child_env(env), cwd=self.cwd)
        log_file = self.log_dir / f"{name}.log" if self.log_dir is not None else None
        child = ChildProcess(spec, sink=self.sink, log_file=log_file)
        self.children.append(child)
        self._write_state()
        return child

    def start_worker(
        self,
        *,
        hostname: str | None = None,
        pool: str | None = None,
        concurrency: int | None = None,
        queues: str | None = None,
        loglevel: str = "INFO",
    ) -> ChildProcess:
        """Start a celery worker; its hostname is recorded so readiness can be checked by heartbeat."""
        self.worker_hostname = hostname or f"claw-{secrets.token_hex(3)}@{socket.gethostname()}"
        command = worker_command(
            hostname=self.worker_hostname, pool=pool, concurrency=concurrency, queues=queues, loglevel=loglevel
        )
        return self.start("worker", command)

    def start_beat(self, *, loglevel: str = "INFO") -> ChildProcess:
        """Start celery beat with the RedBeat scheduler."""
        return self.start("beat", beat_command(loglevel=loglevel))

    def start_api(self, host: str, port: int) -> str:
        """Start the API under uvicorn with a freshly minted admin token; returns that token."""
        require_module("fastapi", "'claw_lab[api]'")
        require_module("uvicorn", "'claw_lab[api]'")
        self._check_port(host, port, "API", "--api-port or CLAW_API_PORT")
        token, entry = mint_token("local-admin", Role.ADMIN)
        tokens = ",".join([*self.settings.api_tokens, entry.entry])
        self.start("api", api_command(host, port), {"CLAW_API_TOKENS": tokens})
        self.urls["api"] = f"http://{host}:{port}/api/v1"
        self.urls["docs"] = f"http://{host}:{port}/docs"
        self._write_state()
        return token

    def start_flower(self, port: int) -> None:
        """Start Flower on a loopback port, watching the same app, its REST API open to loopback callers.

        Start it once the worker answers (`worker_answers`): Flower inspects the workers at
        start and logs a warning for each inspection nobody answered.
        """
        require_module("flower", "'claw_lab[flower]'")
        self._check_port("127.0.0.1", port, "Flower", "--flower-port or CLAW_FLOWER_PORT")
        self.start("flower", flower_command(port), flower_env(self.settings, "127.0.0.1"))
        self.urls["flower"] = f"http://127.0.0.1:{port}"
        self._write_state()

    def flower_ready(self) -> bool:
        """Whether Flower answers its REST API."""
        return "flower" in self.urls and http_answers(self.urls["flower"] + "/api/workers?refresh=false")

    def start_lab(self, port: int, root: Path) -> str:
        """Start JupyterLab with a fresh login token; returns that token."""
        require_module("jupyterlab", "jupyterlab")
        self._check_port("127.0.0.1", port, "JupyterLab", "--lab-port or CLAW_LAB_PORT")
        token = secrets.token_urlsafe(24)
        self.start("lab", lab_command(port, root), {"JUPYTER_TOKEN": token})
        self.urls["lab"] = f"http://127.0.0.1:{port}/lab"
        self._write_state()
        return token

    def _check_port(self, host: str, port: int, what: str, option: str) -> None:
        self.check_ports([(what, host, port, option)])

    @staticmethod
    def check_ports(wanted: Sequence[tuple[str, str, int, str]]) -> None:
        """`ConfigurationError` naming every ``(what, host, port, option)`` whose port is in use."""
        busy = [
            f"{what} port {host}:{port} is already in use (choose another with {option})"
            for what, host, port, option in wanted
            if not port_free(host, port)
        ]
        if busy:
            raise ConfigurationError("; ".join(busy))

    def replace_state(self) -> StackState | None:
        """Take over ``stack.json``: refuse when a live stack owns it; returns a dead stack's state it replaces."""
        state = recorded_stack(self.settings)
        if state is None or state.pid == os.getpid():
            return None
        if _alive(state.pid):
            raise ConfigurationError(
                f"a stack already runs from {self.settings.state_dir} (claw-lab pid {state.pid}); "
                "stop it first, or give this one another CLAW_STATE_DIR"
            )
        (self.settings.state_dir / STATE_FILE).unlink(missing_ok=True)
        return state

    # --- readiness and supervision -----------------------------------------------------------
    def exited(self) -> ChildProcess | None:
        """The first child that has ended, if any."""
        return next((child for child in self.children if child.returncode is not None), None)

    def wait_for(
        self, what: str, ready: Callable[[], bool], timeout: float = 60.0, *, stop: threading.Event | None = None
    ) -> bool:
        """Poll ``ready`` until true (True) or ``stop`` is set (False).

        `StackFailed` when a child exits or ``timeout`` passes first.
        """
        deadline = time.monotonic() + timeout
        while not ready():
            gone = self.exited()
            if gone is not None:
                raise StackFailed(f"{gone.name} exited with status {gone.returncode} before {what} was ready")
            if time.monotonic() > deadline:
                raise StackFailed(f"{what} was not ready after {timeout:.0f}s")
            if stop is not None and stop.wait(0.1):
                return False
            if stop is None:
                time.sleep(0.1)
        return True

    def worker_ready(self) -> bool:
        """Whether the stack's worker has written its first heartbeat."""
        from claw_lab.manager import TaskManager

        try:
            return self.worker_hostname in {w.hostname for w in TaskManager.default().workers()}
        except BackendUnavailable:
            return False

    def worker_answers(self) -> bool:
        """Whether the stack's worker answers control commands (what Flower asks it on start)."""
        from claw_lab.manager import TaskManager

        try:
            workers = TaskManager.default().workers(live=True)
        except BackendUnavailable:
            return False
        return any(worker.live for worker in workers if worker.hostname == self.worker_hostname)

    def api_ready(self) -> bool:
        """Whether the API answers its health endpoint."""
        return "api" in self.urls and http_answers(self.urls["api"] + "/health")

    # --- state file ------------------------------------------------------------------------
    def _write_state(self) -> None:
        url = self.redis_url
        state = StackState(
            pid=os.getpid(),
            started_at=datetime.now(UTC),
            redis_url=url if url and (self.private_redis or not urlsplit(url).password) else None,
            redis_pid=self.redis.pid if self.redis else None,
            worker=self.worker_hostname,
            children={child.name: child.pid for child in self.children},
            urls=self.urls,
        )
        path = self.settings.state_dir / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state.model_dump(mode="json"), indent=2))
        temporary.replace(path)
        self._state_path = path

    # --- shutdown --------------------------------------------------------------------------
    def stop(self, *, force: bool = False) -> dict[str, int]:
        """Stop every child in reverse order (SIGTERM, then SIGKILL), then a private Redis; exit codes by name."""
        codes: dict[str, int] = {}
        for child in reversed(self.children):
            if force:
                child.kill()
                codes[child.name] = child.stop(timeout=5)
            else:
                codes[child.name] = child.stop(timeout=self.stop_timeout)
        self.children.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self._state_path is not None:
            self._state_path.unlink(missing_ok=True)
            self._state_path = None
        return codes

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
