"""serverless.yml for real: ``serverless print`` resolves it, ``serverless offline`` serves the API over HTTP."""

from __future__ import annotations

import json
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from claw_lab.client import HttpManager
from claw_lab.errors import PermissionDenied
from claw_lab.models import TaskState
from claw_lab.redis_server import free_port
from claw_lab.settings import Settings
from claw_lab.tokens import Role
from tests.support.api import mint_role_tokens
from tests.support.serverless import ROOT, install_serverless, serverless_env, serverless_offline, service_dir

pytestmark = pytest.mark.serverless


@pytest.fixture(scope="module")
def serverless() -> Path:
    return install_serverless()


@pytest.fixture(scope="module")
def service(serverless: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return service_dir(tmp_path_factory.mktemp("sls") / "service")


@pytest.fixture(scope="module")
def offline_tokens() -> tuple[dict[Role, str], list[str]]:
    return mint_role_tokens()


@pytest.fixture(scope="module")
def offline_env(settings: Settings, offline_tokens: tuple[dict[Role, str], list[str]]) -> dict[str, str]:
    return serverless_env(
        {
            "CLAW_REDIS_URL": settings.redis_url,
            "CLAW_API_TOKENS": ",".join(offline_tokens[1]),
            "CLAW_TASK_MODULES": "tests.support.tasks",
        }
    )


def test_lambda_requirements_match_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"]) | set(project["optional-dependencies"]["api"])
    lines = (ROOT / "deploy" / "requirements-lambda.txt").read_text().splitlines()
    required = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert required <= declared
    assert any(spec.startswith(("fastapi", "mangum")) for spec in required)


def test_serverless_print_resolves_the_offline_stage(
    serverless: Path, service: Path, offline_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [str(serverless), "print", "--stage", "offline", "--format", "json"],
        cwd=service,
        env=offline_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = json.loads(result.stdout[result.stdout.index("{") :])
    assert config["provider"]["runtime"] == "python3.11"
    assert config["provider"]["environment"]["CLAW_REDIS_URL"] == offline_env["CLAW_REDIS_URL"]
    assert config["functions"]["api"]["handler"] == "handlers/api.handler"
    assert config["functions"]["api"]["events"] == [{"httpApi": "*"}]
    schedules = {name: fn["events"][0]["schedule"] for name, fn in config["functions"].items() if name != "api"}
    assert set(schedules) == {"cleanup", "healthCheck"}
    assert {config["functions"][name]["handler"] for name in schedules} == {
        "handlers/scheduled.cleanup",
        "handlers/scheduled.check_health",
    }
    assert "serverless-python-requirements" in config["plugins"]


@pytest.fixture(scope="module")
def offline_url(serverless: Path, service: Path, offline_env: dict[str, str]) -> Iterator[str]:
    with serverless_offline(serverless, service, offline_env, free_port(), free_port()) as url:
        yield url


def test_submit_status_list_cancel_stats_through_serverless_offline(
    offline_url: str, offline_tokens: tuple[dict[Role, str], list[str]], worker: object
) -> None:
    with HttpManager(offline_url, offline_tokens[0][Role.ADMIN], timeout=30) as client:
        record = client.submit("claw.test.echo", {"text": "offline"})
        done = client.wait(record.id, timeout=30)
        assert done.state is TaskState.SUCCESS
        assert done.result_preview == {"text": "offline"}

        later = client.submit("claw.test.echo", {"text": "never"}, countdown=3600)
        listed = client.list(limit=10)
        assert [item.id for item in listed.items][:2] == [later.id, record.id]
        assert client.cancel(later.id).state is TaskState.REVOKED

        stats = client.stats()
        assert stats.by_state[TaskState.SUCCESS] == 1
        assert stats.by_state[TaskState.REVOKED] == 1
        assert client.health()["status"] == "ok"

    with (
        HttpManager(offline_url, offline_tokens[0][Role.VIEWER], retries=0) as viewer,
        pytest.raises(PermissionDenied),
    ):
        viewer.submit("claw.test.echo", {"text": "nope"})
