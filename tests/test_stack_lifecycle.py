"""``claw-lab up`` as a person runs it: in a terminal (Ctrl-C), through a pipe, beside Flower."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from claw_lab.client import HttpManager
from claw_lab.models import TaskState
from claw_lab.redis_server import RedisServer, free_port
from claw_lab.stack import STATE_FILE, StackState, port_free
from tests.support.stack import (
    ROOT,
    TerminalUp,
    alive,
    claw_lab_command,
    claw_up_in_terminal,
    descendants,
    stack_environment,
)

pytestmark = pytest.mark.subprocess
ELSEWHERE = f"redis://127.0.0.1:{free_port()}/0"  # exported, but nothing answers there


def _token(output: str) -> str:
    return next(re.findall(r"claw_[\w-]{20,}", line)[0] for line in output.splitlines() if "api token" in line)


def _flower(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=10) as response:
        return json.loads(response.read())


def _until(what: str, check: Any, up: TerminalUp, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert up.process.poll() is None, up.output()
        assert time.monotonic() < deadline, f"no {what}:\n{up.output()}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def terminal_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TerminalUp, StackState, HttpManager]]:
    """One stack with Flower and a private Redis, run in a terminal; a dead stack's state file is in its way."""
    state_dir = tmp_path_factory.mktemp("terminal") / "state"
    state_dir.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = StackState(pid=gone.pid, started_at=datetime.now(UTC), children={"worker": gone.pid})
    (state_dir / STATE_FILE).write_text(stale.model_dump_json())
    env = {"CLAW_REDIS_URL": ELSEWHERE, "CLAW_FLOWER_PORT": str(free_port())}
    # One process and prefetch 1: a second message waits in the queue while a task runs.
    args = ("--flower", "--pool", "prefork", "--concurrency", "1", "--stop-timeout", "60")
    with claw_up_in_terminal(state_dir, *args, env=env) as up:
        state = up.wait_ready(timeout=180)
        api = state.urls["api"].removesuffix("/api/v1")
        with HttpManager(api, _token(up.output()), timeout=30) as manager:
            yield up, state, manager


def test_up_replaces_a_dead_stacks_state_file_and_says_what_other_shells_see(
    terminal_stack: tuple[TerminalUp, StackState, HttpManager],
) -> None:
    up, state, _ = terminal_stack
    output = up.output()
    assert "replaced the state file of a stack that is gone" in output
    assert state.pid == up.pid
    assert state.redis_pid is not None  # nothing answers at the exported URL: a private Redis
    assert f"CLAW_REDIS_URL is set to {ELSEWHERE} here, which is not this stack's Redis" in output
    assert "find this stack" not in output


def test_flower_rest_api_sees_the_worker_its_tasks_and_every_priority_of_a_queue(
    terminal_stack: tuple[TerminalUp, StackState, HttpManager],
) -> None:
    up, state, manager = terminal_stack
    flower = state.urls["flower"]
    assert state.worker in _flower(flower, "/api/workers?refresh=true")
    assert "Inspect method" not in up.output()  # Flower started after the worker answered

    running = manager.submit("claw.test.nap", {"seconds": 4})
    _until("running nap", lambda: manager.get(running.id).state is TaskState.PROGRESS, up)
    waiting = [manager.submit("claw.test.echo", {"text": "q"}, priority=level) for level in (1, 9)]
    depth = next(queue for queue in manager.stats().queues if queue.queue == "ai")
    assert depth.depth == 2
    assert len(depth.by_priority) == 2  # two priority sub-queues
    lengths = _flower(flower, "/api/queues/length")["active_queues"]
    assert {"name": "ai", "messages": 2} in lengths

    tasks = _until("tasks in Flower", lambda: running.id in _flower(flower, "/api/tasks"), up)
    assert tasks
    for record in waiting:
        assert manager.wait(record.id, timeout=60).state is TaskState.SUCCESS
    seen = _until(
        "finished tasks in Flower",
        lambda: (found := _flower(flower, "/api/tasks")) and all(r.id in found for r in waiting) and found,
        up,
    )
    assert seen[waiting[0].id]["state"] == "SUCCESS"


def test_ctrl_c_stops_every_child_in_order_after_the_running_task_and_frees_the_ports(
    terminal_stack: tuple[TerminalUp, StackState, HttpManager],
) -> None:
    up, state, manager = terminal_stack
    record = manager.submit("claw.test.nap", {"seconds": 3})
    _until("running nap", lambda: manager.get(record.id).state is TaskState.PROGRESS, up)
    pids = {*state.children.values(), state.redis_pid}
    up.interrupt()
    assert up.process.wait(timeout=120) == 0, up.output()
    output = up.output()
    assert f"Task claw.test.nap[{record.id}] succeeded" in output  # warm: the running task finished
    assert "stopping flower, api, beat, worker" in output
    assert "Unrecoverable error" not in output
    assert "could not record" not in output
    assert not {pid for pid in pids if pid and alive(pid)}
    assert not (up.state_dir / STATE_FILE).exists()
    for url in (state.urls["api"], state.urls["flower"]):
        port = int(url.split(":")[2].split("/")[0])
        assert port_free("127.0.0.1", port), url


def test_a_closed_pipe_and_a_hangup_still_stop_every_child(redis_server: RedisServer, tmp_path: Path) -> None:
    env = stack_environment(tmp_path / "state", {"CLAW_REDIS_URL": redis_server.url})
    process = subprocess.Popen(
        claw_lab_command("up", "--no-api", "--pool", "solo"), cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        seen = b""
        while b"claw_lab is up" not in seen:
            line = process.stdout.readline()
            assert line, seen.decode(errors="replace")
            seen += line
        state = StackState.model_validate_json((tmp_path / "state" / STATE_FILE).read_text())
        tree = descendants(process.pid)
        assert set(state.children.values()) <= tree
        process.stdout.close()  # the `tee` reading the pipe is gone
        process.send_signal(signal.SIGHUP)  # and so is the terminal
        assert process.wait(timeout=90) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert not {pid for pid in tree if alive(pid)}
    assert not (tmp_path / "state" / STATE_FILE).exists()


def test_every_port_is_checked_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        redis_url = f"redis://127.0.0.1:{free_port()}/0"
        env = stack_environment(tmp_path / "state", {"CLAW_REDIS_URL": redis_url, "CLAW_FLOWER_PORT": str(port)})
        done = subprocess.run(
            claw_lab_command("up", "--flower", "--no-api"), cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    assert done.returncode == 6, done.stdout + done.stderr
    assert f"Flower port 127.0.0.1:{port} is already in use" in done.stderr
    assert "redis" not in done.stdout  # nothing was started, not even a private Redis
    assert not (tmp_path / "state").exists()


def test_a_port_left_in_time_wait_is_free_for_a_restart() -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end lingers in TIME_WAIT
        assert not port_free("127.0.0.1", port)  # still listening
    client.close()
    assert port_free("127.0.0.1", port)
