from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery.worker.consumer import Consumer
from typer.testing import CliRunner, Result

from claw_lab.cli import app
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.redis_server import free_port
from claw_lab.tokens import TokenVerifier, parse_entries

runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin, env={"COLUMNS": "220"})


def as_json(result: Result) -> dict:  # type: ignore[type-arg]
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_submit_waits_and_prints_the_finished_record(manager: TaskManager, worker: Consumer) -> None:
    result = invoke("submit", "claw.test.echo", "-k", "text=hi", "-k", "repeat=2", "--wait", "--json")
    record = as_json(result)
    assert record["state"] == "SUCCESS"
    assert record["kwargs"] == {"text": "hi", "repeat": 2}
    assert record["result_preview"] == {"text": "hihi"}
    assert manager.get(record["id"]).state is TaskState.SUCCESS


def test_submit_passes_queue_priority_countdown_and_idempotency_key(manager: TaskManager) -> None:
    options = [
        "--queue",
        "knowledge",
        "--priority",
        "8",
        "--countdown",
        "600",
        "--idempotency-key",
        "cli-key-1",
        "--json",
    ]
    first = as_json(invoke("submit", "claw.test.echo", "--kwargs", '{"text": "x"}', *options))
    again = as_json(invoke("submit", "claw.test.echo", "--kwargs", '{"text": "x"}', *options))
    assert again["id"] == first["id"]
    assert (first["queue"], first["priority"], first["state"]) == ("knowledge", 8, "QUEUED")
    assert len(manager.list().items) == 1


def test_kwargs_from_a_file_and_from_stdin(manager: TaskManager, tmp_path: os.PathLike[str]) -> None:
    path = f"{tmp_path}/kwargs.json"
    with open(path, "w") as handle:
        json.dump({"text": "from-file"}, handle)
    from_file = as_json(invoke("submit", "claw.test.echo", "--kwargs", f"@{path}", "--countdown", "600", "--json"))
    from_stdin = as_json(
        invoke("submit", "claw.test.echo", "--kwargs", "-", "--countdown", "600", "--json", stdin='{"text": "in"}')
    )
    assert manager.get(from_file["id"]).kwargs == {"text": "from-file", "repeat": 1}
    assert manager.get(from_stdin["id"]).kwargs == {"text": "in", "repeat": 1}


def test_quiet_submit_prints_only_the_id(manager: TaskManager) -> None:
    result = invoke("submit", "claw.test.echo", "-k", "text=q", "--countdown", "600", "-q")
    assert result.exit_code == 0, result.output
    task_id = result.stdout.strip()
    assert manager.get(task_id).name == "claw.test.echo"


def test_cancel_before_it_runs_then_cancel_again_is_a_conflict(manager: TaskManager) -> None:
    record = manager.submit("claw.test.echo", {"text": "later"}, countdown=600)
    cancelled = as_json(invoke("cancel", record.id, "--json"))
    assert cancelled["state"] == "REVOKED"
    again = invoke("cancel", record.id)
    assert again.exit_code == 4
    assert "already finished" in again.stderr
    assert "Traceback" not in again.output
    assert len(again.stderr.strip().splitlines()) == 1


def test_failure_shows_error_and_traceback_and_retry_links_both_records(manager: TaskManager, worker: Consumer) -> None:
    failed = invoke("submit", "claw.test.fail", "-k", "message=boom", "--wait")
    assert failed.exit_code == 1
    assert "boom" in failed.stdout
    task_id = manager.list(name="claw.test.fail").items[0].id

    status = invoke("status", task_id)
    assert status.exit_code == 0, status.output
    assert "PermanentError: boom" in status.stdout
    assert "traceback" in status.stdout

    retried = as_json(invoke("retry", task_id, "--json"))
    assert retried["retry_of"] == task_id
    assert as_json(invoke("status", task_id, "--json"))["retried_by"] == retried["id"]
    final = as_json(invoke("status", retried["id"], "--wait", "--timeout", "20", "--json"))
    assert final["state"] == "FAILURE"

    running_again = invoke("retry", task_id)
    assert running_again.exit_code == 4
    assert "already retried" in running_again.stderr


def test_tasks_lists_filters_and_pages(manager: TaskManager, worker: Consumer) -> None:
    ids = [manager.submit("claw.test.echo", {"text": str(n)}).id for n in range(3)]
    for task_id in ids:
        assert manager.wait(task_id, timeout=20).state is TaskState.SUCCESS

    first = as_json(invoke("tasks", "--limit", "2", "--json"))
    assert [item["id"] for item in first["items"]] == ids[:0:-1]
    second = as_json(invoke("tasks", "--limit", "2", "--cursor", first["next_cursor"], "--json"))
    assert [item["id"] for item in second["items"]] == ids[:1]
    assert second["next_cursor"] is None

    table = invoke("tasks", "--state", "success", "--name", "claw.test.echo", "--since", "1h", "--limit", "2")
    assert table.exit_code == 0, table.output
    assert ids[2] in table.stdout
    assert ids[1] in table.stdout
    assert f"--cursor {first['next_cursor']}" in table.stdout
    assert as_json(invoke("tasks", "--until", "1h", "--json"))["items"] == []
    assert "no tasks match" in invoke("tasks", "--state", "FAILURE").stdout


def test_stats_count_by_state_and_name(manager: TaskManager, worker: Consumer) -> None:
    ok = manager.submit("claw.test.echo", {"text": "s"})
    bad = manager.submit("claw.test.fail", {})
    manager.wait(ok.id, timeout=20)
    manager.wait(bad.id, timeout=20)
    stats = as_json(invoke("stats", "--json"))
    assert stats["by_state"]["SUCCESS"] == 1
    assert stats["by_state"]["FAILURE"] == 1
    assert stats["by_name"]["claw.test.echo"] == {"SUCCESS": 1}
    view = invoke("stats")
    assert view.exit_code == 0, view.output
    assert "claw.test.fail" in view.stdout
    assert "broker queues" in view.stdout


def test_workers_lists_the_running_worker(manager: TaskManager, worker: Consumer) -> None:
    hostname = worker.hostname
    listed = json.loads(invoke("workers", "--json").stdout)
    assert hostname in [entry["hostname"] for entry in listed]
    live = json.loads(invoke("workers", "--live", "--json").stdout)
    assert next(entry for entry in live if entry["hostname"] == hostname)["live"] is True
    assert hostname in invoke("workers").stdout


def test_events_show_the_lifecycle_of_a_task(manager: TaskManager, worker: Consumer) -> None:
    record = manager.submit("claw.test.echo", {"text": "e"})
    manager.wait(record.id, timeout=20)
    result = invoke("events", "--since", "5m", "--json")
    assert result.exit_code == 0, result.output
    states = [event["state"] for event in map(json.loads, result.stdout.splitlines()) if event["task_id"] == record.id]
    assert states[0] == "QUEUED"
    assert states[-1] == "SUCCESS"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["claw.nope"], "unknown task"),
        (["claw.test.echo", "--kwargs", "{not json"], "not valid JSON"),
        (["claw.test.echo", "--kwargs", "[1]"], "JSON object"),
        (["claw.test.echo", "-k", "textonly"], "key=value"),
        (["claw.test.echo", "-k", "text=hi", "-k", "repeat=99"], "kwargs.repeat"),
        (["claw.test.echo", "-k", "text=hi", "--priority", "12"], "priority"),
        (["claw.test.echo", "-k", "text=hi", "--queue", "nope"], "queue"),
        (["claw.test.echo", "--kwargs", "@/nonexistent/kwargs.json"], "cannot read"),
    ],
)
def test_bad_input_is_one_clear_line_and_enqueues_nothing(manager: TaskManager, args: list[str], message: str) -> None:
    result = invoke("submit", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert manager.list().items == []
    assert sum(queue.depth for queue in manager.stats().queues) == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["status", "no-such-task"], 3, "no task no-such-task"),
        (["status", "bad id!"], 2, "task_id"),
        (["tasks", "--cursor", "garbage"], 2, "cursor"),
        (["tasks", "--state", "NOPE"], 2, "state"),
        (["tasks", "--since", "yesterday-ish"], 2, "ISO"),
        (["retry", "no-such-task"], 3, "no task"),
    ],
)
def test_errors_become_a_message_and_an_exit_status(
    manager: TaskManager, args: list[str], code: int, message: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_unreachable_redis_exits_with_backend_unavailable() -> None:
    env = {**os.environ, "CLAW_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "CLAW_STATE_DIR": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-m", "claw_lab.cli", "tasks"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 5
    assert "unreachable" in done.stderr
    assert "Traceback" not in done.stderr


def test_token_create_prints_a_token_that_matches_its_entry() -> None:
    minted = as_json(invoke("token", "create", "--name", "ci", "--role", "operator", "--json"))
    entry = parse_entries([minted["entry"]])
    assert entry[0].name == "ci"
    assert entry[0].role.name == "OPERATOR"
    assert TokenVerifier(entry).verify(minted["token"]) == entry[0]

    human = invoke("token", "create", "--name", "ops", "--role", "admin")
    assert human.exit_code == 0, human.output
    lines = human.stdout.splitlines()
    token = next(line for line in lines if line.startswith("claw_"))
    entry_line = next(line for line in lines if line.startswith("ops:admin:"))
    assert human.stdout.count(token) == 1
    assert TokenVerifier(parse_entries([entry_line])).verify(token) is not None


def test_token_create_rejects_a_bad_role_or_name() -> None:
    assert invoke("token", "create", "--name", "x", "--role", "root").exit_code == 2
    assert invoke("token", "create", "--name", "no spaces", "--role", "viewer").exit_code == 2


def test_shutdown_asks_first_and_does_nothing_when_declined(manager: TaskManager, worker: Consumer) -> None:
    result = invoke("shutdown", worker.hostname, stdin="n\n")
    assert result.exit_code == 1
    assert worker.hostname in [w.hostname for w in manager.workers()]


def test_demo_plan_uses_the_richer_jobs_only_when_registered_and_usable() -> None:
    from claw_lab.cli.demo import plan

    maintenance = {"claw.maintenance.check_task_health", "claw.maintenance.cleanup_expired_results"}
    (only,) = plan(maintenance)
    assert {job.name for job in only} == maintenance
    assert [job.expect for job in only].count(TaskState.REVOKED) == 1
    keys = [job.idempotency_key for job in only if job.idempotency_key]
    assert len(keys) == 2
    assert len(set(keys)) == 1

    everything = maintenance | {
        "claw.knowledge.vectorize_document",
        "claw.ai.generate_response",
        "claw.ai.send_notification",
    }
    stages = plan(everything)
    assert [stage[0].name for stage in stages[:2]] == ["claw.knowledge.vectorize_document", "claw.ai.generate_response"]
    assert stages[1][0].kwargs["knowledge_base"] == stages[0][0].kwargs["knowledge_base"]
    assert len(plan(everything, knowledge=False)) == 1

    tour = plan({*everything, "claw.notebooks.run_runbook"}, tour=True)
    runs = [job.kwargs for stage in tour for job in stage if job.name == "claw.notebooks.run_runbook"]
    assert [run["runbook"] for run in runs] == ["ingest_documents", "health_report"]
    assert tour[1][0].kwargs["knowledge_base"] == runs[0]["parameters"]["knowledge_base"]
    assert Path(runs[0]["parameters"]["source"]).name == "docs"
