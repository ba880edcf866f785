from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from claw_lab.cli import app
from claw_lab.manager import TaskManager
from claw_lab.redis_server import free_port

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tasks", "--bogus"], "No such option: --bogus; see 'claw-lab tasks --help'"),
        (["tasks", "--limit", "many"], "Invalid value for '--limit'"),
        (["submit", "claw.test.echo", "--kwargs", "{x"], "not valid JSON"),
    ],
)
def test_usage_errors_are_one_line_with_their_exit_status(args: list[str], message: str) -> None:
    result = runner.invoke(app, args, prog_name="claw-lab", env={"COLUMNS": "80"})
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert line.endswith("(usage_error)")
    assert message in line
    assert not set("╭│╰─") & set(result.stderr)


def test_a_long_error_stays_on_one_line_in_a_narrow_terminal(manager: TaskManager) -> None:
    task_id = "no-such-task-" + "x" * 100
    result = runner.invoke(app, ["status", task_id], env={"COLUMNS": "80"})
    assert result.exit_code == 3
    (line,) = result.stderr.splitlines()
    assert task_id in line
    assert line.endswith("(task_not_found)")


@pytest.fixture(scope="module")
def silent_redis() -> Iterator[str]:
    """A TCP listener on loopback that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"redis://:hunter2@127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()
    for connection in held:
        connection.close()


def _run_all(commands: list[list[str]], url: str, timeout: float) -> list[tuple[int, str]]:
    """Run ``claw-lab`` commands side by side against ``url``; (exit status, stderr) of each."""
    env = {**os.environ, "CLAW_REDIS_URL": url, "CLAW_STATE_DIR": "/nonexistent", "COLUMNS": "80"}
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "claw_lab.cli", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    try:
        return [(process.wait(timeout=timeout), process.communicate()[1]) for process in running]
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_read_commands_give_up_on_a_redis_that_never_answers(silent_redis: str) -> None:
    # Each used to hang for ~21 s; the command's own timeout (CLAW_CLI_TIMEOUT) ends it.
    results = _run_all([["tasks"], ["stats"], ["workers", "--live"]], silent_redis, timeout=20)
    for code, stderr in results:
        assert code == 5, stderr
        (line,) = stderr.splitlines()
        assert "Redis at redis://:***@127.0.0.1:" in line
        assert "Timeout reading from socket" in line
        assert "hunter2" not in line


def test_unreachable_backend_errors_name_the_url_and_the_cause() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    (pool_restart, tasks) = _run_all([["pool-restart"], ["tasks"]], url, timeout=60)
    for code, stderr in (pool_restart, tasks):
        assert code == 5, stderr
        assert f"at {url.replace('hunter2', '***')} is unreachable" in stderr
        assert "Connection refused" in stderr
        assert "hunter2" not in stderr
    assert "the broker at" in pool_restart[1]
