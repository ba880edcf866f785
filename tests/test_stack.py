from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claw_lab.cli import app
from claw_lab.connections import redis_client
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.redis_server import RedisServer, answers, free_port
from claw_lab.registry import Registry
from claw_lab.settings import Settings, load_settings, redact
from tests.support.stack import ROOT, STACK_ENV, alive, claw_lab_command, claw_up, descendants

pytestmark = pytest.mark.subprocess
API_PRESENT = (ROOT / "claw_lab" / "api" / "__init__.py").exists()


def _get(url: str, token: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _token(output: str) -> str:
    return next(
        word for line in output.splitlines() if "api token" in line for word in line.split() if word.startswith("claw_")
    )


def test_up_uses_the_answering_redis_runs_tasks_and_stops_every_child_on_sigterm(
    manager: TaskManager, registry: Registry, settings: Settings, redis_server: RedisServer, tmp_path: Path
) -> None:
    with claw_up(tmp_path, "--pool", "prefork", "--concurrency", "1", env={"CLAW_REDIS_URL": redis_server.url}) as up:
        state = up.wait_ready()
        assert state.redis_url == redis_server.url
        assert state.redis_pid is None  # nothing private: the answering server is used
        assert set(state.children) == ({"worker", "beat", "api"} if API_PRESENT else {"worker", "beat"})
        up.wait_for("worker heartbeat", lambda: state.worker in {w.hostname for w in manager.workers()})

        record = manager.submit("claw.test.echo", {"text": "up"})
        done = manager.wait(record.id, timeout=60)
        assert done.state is TaskState.SUCCESS, up.output()
        assert done.worker == state.worker

        restart = CliRunner().invoke(app, ["pool-restart", str(state.worker), "--json"])
        assert restart.exit_code == 0, restart.output
        assert json.loads(restart.stdout)["acknowledged"] == [state.worker]

        if API_PRESENT:
            api = state.urls["api"]
            status, health = _get(f"{api}/health")
            assert status in (200, 503)
            assert "redis" in json.dumps(health)
            assert _get(f"{api}/tasks")[0] == 401
            status, page = _get(f"{api}/tasks?limit=5", _token(up.output()))
            assert status == 200
            assert record.id in [item["id"] for item in page["items"]]

        tree = descendants(up.pid)
        assert set(state.children.values()) <= tree
        assert up.terminate() == 0
    assert not {pid for pid in tree if alive(pid)}, up.output()
    assert answers(redis_server.url)  # not ours to stop
    assert state.worker not in {w.hostname for w in manager.workers()}
    assert not (tmp_path / "state" / "stack.json").exists()
    assert "stopping" in up.output()


def test_up_starts_a_private_redis_when_none_answers_and_other_shells_find_it(tmp_path: Path) -> None:
    configured = f"redis://127.0.0.1:{free_port()}/0"
    with claw_up(tmp_path, "--no-api", "--pool", "solo", env={"CLAW_REDIS_URL": configured}) as up:
        state = up.wait_ready()
        assert state.redis_pid is not None
        assert state.redis_url is not None
        assert state.redis_url != configured
        assert answers(state.redis_url)
        assert set(state.children) == {"worker", "beat"}
        private = load_settings(redis_url=state.redis_url)
        workers = Registry(redis_client(private), private)
        up.wait_for("worker heartbeat", lambda: state.worker in {w.hostname for w in workers.workers()})

        # Another shell in the same directory, without CLAW_REDIS_URL, talks to the private Redis.
        shell = {k: v for k, v in up.env.items() if k != "CLAW_REDIS_URL"}
        submit = claw_lab_command("submit", "claw.test.echo", "-k", "text=private", "--wait", "--json")
        done = subprocess.run(submit, cwd=ROOT, env=shell, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr + up.output()
        assert json.loads(done.stdout)["worker"] == state.worker

        tree = descendants(up.pid)
        assert state.redis_pid in tree
        assert up.terminate() == 0
    assert not {pid for pid in tree if alive(pid)}, up.output()
    assert not answers(state.redis_url, timeout=0.2)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://127.0.0.1:{port}/0", "no Redis answers"),
        ("redis://user:secret@127.0.0.1:{port}/0", "no Redis answers"),
    ],
)
def test_up_refuses_a_private_redis_when_told_or_when_the_url_is_not_plain_local(
    tmp_path: Path, url: str, message: str
) -> None:
    configured = url.format(port=free_port())
    flags = ("--no-private-redis",) if "secret" not in url else ()
    with claw_up(tmp_path, *flags, env={"CLAW_REDIS_URL": configured}) as up:
        assert up.process.wait(timeout=60) == 6
    assert message in up.output()
    assert redact(configured) in up.output()
    assert "secret" not in up.output()
    assert "Traceback" not in up.output()


@pytest.mark.skipif(not API_PRESENT, reason="the API package is not there")
def test_a_busy_api_port_is_refused_before_anything_starts(
    redis_server: RedisServer, registry: Registry, tmp_path: Path
) -> None:
    with RedisServer() as squatter:  # anything listening on the port will do
        env = {"CLAW_REDIS_URL": redis_server.url, "CLAW_API_PORT": str(squatter.port)}
        with claw_up(tmp_path, "--pool", "solo", env=env) as up:
            code = up.process.wait(timeout=120)
    assert code == 6, up.output()
    assert "already in use" in up.output()
    assert "stopped" not in up.output()  # checked before anything started
    assert not descendants(up.pid)


def test_worker_command_runs_a_worker_that_shutdown_stops(
    manager: TaskManager, redis_server: RedisServer, tmp_path: Path
) -> None:
    hostname = f"cli-{uuid.uuid4().hex[:6]}@localhost"
    env = {**os.environ, **STACK_ENV, "CLAW_REDIS_URL": redis_server.url}
    log = tmp_path / "worker.log"
    command = claw_lab_command("worker", "--hostname", hostname, "--pool", "solo", "--without-mingle")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while hostname not in {w.hostname for w in manager.workers()}:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        result = CliRunner().invoke(app, ["shutdown", hostname, "--yes", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["acknowledged"] == [hostname]
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_demo_runs_real_jobs_and_leaves_nothing_running(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CLAW_")},
        "CLAW_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "CLAW_STATE_DIR": str(tmp_path / "state"),
        "CLAW_API_PORT": str(free_port()),
        "CLAW_RUNBOOK_OUTPUT": str(tmp_path / "runs"),
        "COLUMNS": "200",
    }
    process = subprocess.Popen(
        claw_lab_command("demo", "--timeout", "120"), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=400)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, output
    assert "every job ended as expected" in output
    assert "task-health check" in output
    assert "REVOKED" in output  # the job cancelled before it could run
    assert "the key returned the task it first created" in output
    # The tour: docs/ ingested by a runbook run as a tracked job, a question answered from it, a health report.
    assert "answer to: How does claw_lab keep a cancelled task" in output
    assert "architecture.md" in output  # a citation from the project's own docs
    outputs = {path.parent.name for path in (tmp_path / "runs").glob("*/*.ipynb")}
    assert outputs == {"ingest_documents", "health_report"}
    for path in (tmp_path / "runs").glob("*/*.ipynb"):
        assert f"{path.parent.name} (SUCCESS): {path}" in output
    assert "stopped" in output
    assert not descendants(process.pid)
    assert not (tmp_path / "state" / "stack.json").exists()


def test_a_child_that_exits_stops_the_whole_stack(
    manager: TaskManager, registry: Registry, redis_server: RedisServer, tmp_path: Path
) -> None:
    with claw_up(tmp_path, "--no-api", "--pool", "solo", env={"CLAW_REDIS_URL": redis_server.url}) as up:
        state = up.wait_ready()
        tree = descendants(up.pid)
        # Control commands are broadcasts: wait until the worker listens for them.
        up.wait_for(
            "a live worker", lambda: any(w.live for w in manager.workers(live=True) if w.hostname == state.worker)
        )
        result = CliRunner().invoke(app, ["shutdown", str(state.worker), "--yes"])
        assert result.exit_code == 0, result.output
        code = up.process.wait(timeout=120)
    assert code == 1, up.output()
    assert f"worker (pid {state.children['worker']}) exited with status 0" in up.output()
    assert not {pid for pid in tree if alive(pid)}
