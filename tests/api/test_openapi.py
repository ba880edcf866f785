"""schemathesis against the app's own OpenAPI: no server error, every response conforming, for every role.

1,000+ generated requests as admin, fewer as viewer and operator, and stateful sequences
that follow the links schemathesis infers (a submitted id is then read, cancelled, retried).

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
ROLE_EXAMPLES = 15
STATEFUL_EXAMPLES = 30
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
) -> Iterator[tuple[str, dict[Role, str]]]:
    """(base URL, a token per role) of ``uvicorn --factory claw_lab.api:create_app``, an idle worker on its Redis."""
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
        yield url, tokens


def _tame(case: Any) -> Any:
    """Keep generated requests from waiting: no long-polls, no control command for every worker."""
    if isinstance(case.query, dict) and "wait" in case.query:
        case.query["wait"] = 0
    if case.path.startswith("/api/v1/workers/") and case.method == "POST":
        body = case.body if isinstance(case.body, dict) else {}
        if not body.get("destinations"):
            case.body = {**body, "destinations": ["nobody@nowhere"]}
    return case


def _exercise(url: str, token: str, examples: int) -> tuple[Counter[str], Counter[int]]:
    """Up to ``examples`` generated requests per operation with ``token``; calls per operation and statuses seen."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    calls: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=min(examples, FEW.get(operation.path, examples)),
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
    return calls, statuses


def test_generated_requests_conform_to_the_schema(api_under_test: tuple[str, dict[Role, str]]) -> None:
    url, tokens = api_under_test
    calls, statuses = _exercise(url, tokens[Role.ADMIN], EXAMPLES)
    assert len(calls) >= 13, calls
    assert sum(calls.values()) >= 1000, calls
    assert not any(status >= 500 for status in statuses), statuses
    for expected in (200, 202, 404, 422):
        assert statuses[expected], statuses


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR], ids=["viewer", "operator"])
def test_generated_requests_conform_for_lesser_roles(api_under_test: tuple[str, dict[Role, str]], role: Role) -> None:
    url, tokens = api_under_test
    calls, statuses = _exercise(url, tokens[role], ROLE_EXAMPLES)
    assert len(calls) >= 13, calls
    assert not any(status >= 500 for status in statuses), statuses
    assert statuses[403], statuses  # worker control (and, for a viewer, every write) is refused as documented
    assert statuses[202] == 0 if role is Role.VIEWER else statuses[202], statuses


def test_stateful_sequences_follow_inferred_links(api_under_test: tuple[str, dict[Role, str]]) -> None:
    """Submit, list, then get, cancel and retry the ids earlier responses returned (links schemathesis infers)."""
    url, tokens = api_under_test
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    calls: Counter[str] = Counter()
    statuses: Counter[int] = Counter()

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": url, "headers": bearer(tokens[Role.OPERATOR]), "timeout": 30}

        def after_call(self, response: Any, case: Any) -> None:
            calls[case.operation.label] += 1
            statuses[response.status_code] += 1

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(
                response, excluded_checks=[positive_data_acceptance], transport_kwargs=kwargs or None
            )

    Sequences.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=6,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    linked = {
        "GET /api/v1/tasks/{task_id}",
        "POST /api/v1/tasks/{task_id}/cancel",
        "POST /api/v1/tasks/{task_id}/retry",
    }
    assert linked & set(calls), calls
    assert sum(calls.values()) >= 100, calls
    assert not any(status >= 500 for status in statuses), statuses
