"""Runbook schedules: ``CLAW_RUNBOOK_SCHEDULES`` entries become RedBeat entries next to the periodic jobs."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf

from claw_lab.celery_app import app
from claw_lab.celery_config import celery_config
from claw_lab.manager import TaskManager
from claw_lab.programs import beat_command
from claw_lab.settings import load_settings

TASK = "claw.notebooks.run_runbook"
SCHEDULES = [
    {"runbook": "health_report", "every": 1, "parameters": {"window_minutes": 5}},
    {"runbook": "retry_failed", "cron": "0 6 * * 1", "name": "weekly-retries"},
]


def test_schedules_are_beat_entries_beside_the_periodic_jobs() -> None:
    schedule = celery_config(load_settings(runbook_schedules=SCHEDULES))["beat_schedule"]
    assert set(schedule) == {"cleanup-expired-results", "check-task-health", "runbook-health_report", "weekly-retries"}
    assert schedule["runbook-health_report"]["schedule"].total_seconds() == 1
    weekly = schedule["weekly-retries"]
    assert (weekly["task"], weekly["kwargs"]) == (TASK, {"runbook": "retry_failed", "parameters": {}})
    assert weekly["schedule"].day_of_week == {1}
    assert weekly["schedule"].hour == {6}


def test_a_schedule_needs_exactly_one_timing() -> None:
    from claw_lab.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"CLAW_RUNBOOK_SCHEDULES\.0: .*either cron or every"):
        load_settings(runbook_schedules=[{"runbook": "health_report"}])
    with pytest.raises(ConfigurationError, match="five fields"):
        load_settings(runbook_schedules=[{"runbook": "health_report", "cron": "* *"}])


@pytest.mark.subprocess
def test_a_configured_schedule_becomes_a_redbeat_entry_that_submits_the_task(
    manager: TaskManager, tmp_path: Path
) -> None:
    env = {**os.environ, "CLAW_RUNBOOK_SCHEDULES": json.dumps(SCHEDULES)}
    with (tmp_path / "beat.log").open("wb") as log:
        beat = subprocess.Popen(
            [*beat_command(loglevel="INFO"), "--max-interval", "1"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while not manager.list(name=TASK).items:
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "beat.log").read_text()
            time.sleep(0.2)
    finally:
        beat.terminate()
        beat.wait(20)
    prefix = ensure_conf(app).key_prefix
    weekly = RedBeatSchedulerEntry.from_key(prefix + "weekly-retries", app=app)
    assert (weekly.task, weekly.kwargs) == (TASK, {"runbook": "retry_failed", "parameters": {}})
    assert weekly.schedule.day_of_week == {1}
    assert weekly.schedule.minute == {0}
    every = RedBeatSchedulerEntry.from_key(prefix + "runbook-health_report", app=app)
    assert every.schedule.run_every.total_seconds() == 1
    assert every.last_run_at is not None
    [run] = manager.list(name=TASK).items
    assert manager.get(run.id).kwargs == {"runbook": "health_report", "parameters": {"window_minutes": 5}}
