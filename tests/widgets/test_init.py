"""The package's face: lazy panels, the missing-extra hint, no ipywidgets outside the notebook, and connect()."""

from __future__ import annotations

import json
from pathlib import Path

from claw_lab.client import HttpManager
from claw_lab.manager import TaskManager
from claw_lab.settings import Settings
from claw_lab.widgets import connect
from tests.support.processes import python_output
from tests.support.stack import record_running_stack


def test_api_worker_and_state_layer_never_import_ipywidgets(settings: Settings) -> None:
    script = """
import json, sys
import claw_lab.api, claw_lab.celery_app, claw_lab.manager, handlers.api

faces = sorted(m for m in sys.modules if m.split(".")[0] == "ipywidgets" or m.startswith("claw_lab.widgets"))
import claw_lab.widgets, claw_lab.widgets.feed, claw_lab.widgets.state, claw_lab.widgets.monitor_model
state = sorted(m for m in sys.modules if m.split(".")[0] in ("ipywidgets", "traitlets"))
from claw_lab.widgets import TaskMonitor
print(json.dumps({"faces": faces, "state": state, "panels": "ipywidgets" in sys.modules}))
"""
    outcome = json.loads(python_output(script, CLAW_REDIS_URL=settings.redis_url, CLAW_API_AUTH_DISABLED="true"))
    assert outcome == {"faces": [], "state": [], "panels": True}


def test_without_the_extra_the_import_says_what_to_install() -> None:
    script = """
import sys
sys.modules["ipywidgets"] = None  # as if the notebook extra were not installed
try:
    import claw_lab.widgets
except ImportError as exc:
    print(exc)
"""
    assert python_output(script) == "claw_lab.widgets needs ipywidgets and JupyterLab: pip install 'claw_lab[notebook]'"


def test_connect_with_a_url_is_an_http_manager() -> None:
    manager = connect("http://127.0.0.1:9/", token="secret")
    assert isinstance(manager, HttpManager)
    assert manager.client.headers["Authorization"] == "Bearer secret"
    assert str(manager.client.base_url) == "http://127.0.0.1:9/api/v1/"
    manager.close()


def test_connect_without_a_url_uses_claw_redis_url(settings: Settings) -> None:
    manager = connect()
    assert isinstance(manager, TaskManager)
    assert manager.settings.redis_url == settings.redis_url
    assert connect() is manager  # panels built without a manager share one feed


def test_connect_finds_the_redis_of_a_running_stack(tmp_path: Path) -> None:
    record_running_stack(tmp_path, "redis://127.0.0.1:6399/0")
    script = "from claw_lab.widgets import connect; print(connect().settings.redis_url)"
    assert python_output(script, cwd=tmp_path, CLAW_REDIS_URL="") == "redis://127.0.0.1:6399/0"


def test_a_panel_reads_shortly_as_text(registry: object) -> None:
    from claw_lab.manager import TaskManager
    from claw_lab.widgets import TaskMonitor

    monitor = TaskMonitor(TaskManager.default())
    try:
        assert repr(monitor) == "TaskMonitor()"
    finally:
        monitor.close()
        monitor.model.feed.close()
