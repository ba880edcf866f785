"""schemathesis against the app's own OpenAPI: 1,000+ generated requests, no server error, every response conforming.

The API runs under uvicorn in a subprocess over a Redis of its own, with an idle worker
(for ``/health``), so generated submissions are never run and never reach the suite's
other workers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import positive_data_acceptance

from claw_lab.connections import redis_client
from claw_lab.redis_server import RedisServer
from claw_lab.registry import Registry
from claw_lab.settings import Settings
from claw_lab.tokens import Role
from tests.support.api import api_process, bearer, mint_role_tokens
from tests.support.workers import celery_worker

EXAMPLES = 100
FEW = {"/api/v1/workers/pool/restart": 4}  # each call waits for replies from named workers that do not exist
# Not checked: that every schema-valid request succeeds. Task names come from the catalogue,
# kwargs are checked against each task's own model and cursors are opaque, so a request
# the static schema allows may rightly get a 400 or 422. Everything else is checked:
# no 5xx, documented status codes, content types, headers and response bodies.


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def api_under_test(
    own_redis: RedisServer, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(base URL, admin token) of ``uvicorn --factory claw_lab.api:create_app`` with an idle worker on its Redis."""
    tokens, entries = mint_role_tokens()
    env = {
        "CLAW_REDIS_URL": own_redis.url,
        "CLAW_API_TOKENS": ",".join(entries),
        "CLAW_TASK_MODULES": "tests.support.tasks",
    }
    own = settings.model_copy(update={"redis_url": own_redis.url})
    registry = Registry(redis_client(own), own)
    tmp = tmp_path_factory.mktemp("schemathesis")
    with celery_worker(registry, tmp, pool="solo", queues="schemathesis-idle", env=env), api_process(env, tmp) as url:
        yield url, tokens[Role.ADMIN]


def _tame(case: Any) -> Any:
    """Keep generated requests from waiting: no long-polls, no control command for every worker."""
    if isinstance(case.query, dict) and "wait" in case.query:
        case.query["wait"] = 0
    if case.path.startswith("/api/v1/workers/") and case.method == "POST":
        body = case.body if isinstance(case.body, dict) else {}
        if not body.get("destinations"):
            case.body = {**body, "destinations": ["nobody@nowhere"]}
    return case


def test_generated_requests_conform_to_the_schema(api_under_test: tuple[str, str]) -> None:
    url, token = api_under_test
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    calls: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        examples = FEW.get(operation.path, EXAMPLES)

        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy().map(_tame))
        def exercise(case: Any) -> None:
            response = case.call_and_validate(
                base_url=url, headers=bearer(token), timeout=30, excluded_checks=[positive_data_acceptance]
            )
            calls[case.operation.label] += 1
            statuses[response.status_code] += 1

        exercise()
    assert len(calls) >= 13, calls
    assert sum(calls.values()) >= 1000, calls
    assert not any(status >= 500 for status in statuses), statuses
    for expected in (200, 202, 404, 422):
        assert statuses[expected], statuses
