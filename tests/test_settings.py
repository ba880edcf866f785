"""Settings: the environment read once, bad values named, secrets kept out of sight, TLS options."""

from __future__ import annotations

import ssl

import pytest

from claw_lab.celery_config import celery_config, with_credentials
from claw_lab.connections import redis_client
from claw_lab.errors import ConfigurationError
from claw_lab.settings import load_settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLAW_HEARTBEAT_INTERVAL", "soon"),
        ("CLAW_REDIS_URL", "http://example.com"),
        ("CLAW_DEFAULT_PRIORITY", "12"),
        ("CLAW_REDIS_SSL_CERT_REQS", "sometimes"),
    ],
)
def test_an_invalid_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert variable in caught.value.message


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_TASK_MODULES", "app.tasks, more.tasks ,")
    assert load_settings().task_modules == ["app.tasks", "more.tasks"]


def test_secrets_stay_out_of_reprs_and_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_REDIS_PASSWORD", "pa55-word")
    monkeypatch.setenv("CLAW_API_TOKENS", "ci:operator:" + "a" * 64)
    settings = load_settings()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "pa55-word" not in text
    assert "a" * 64 not in repr(settings)
    assert settings.redis_auth_options()["password"] == "pa55-word"


def test_credentials_given_apart_reach_every_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_REDIS_USERNAME", "claw")
    monkeypatch.setenv("CLAW_REDIS_PASSWORD", "p@ss/word")
    settings = load_settings()
    assert (
        with_credentials("rediss://cache.example:6379/0", settings)
        == "rediss://claw:p%40ss%2Fword@cache.example:6379/0"
    )
    assert with_credentials("redis://u:own@cache.example/0", settings) == "redis://u:own@cache.example/0"


def test_rediss_urls_get_tls_options(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ca = tmp_path / "ca.pem"
    ca.write_text("not used until connecting")
    monkeypatch.setenv("CLAW_REDIS_URL", "rediss://cache.example:6379/0")
    monkeypatch.setenv("CLAW_REDIS_SSL_CA_CERTS", str(ca))
    settings = load_settings()
    expected = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(ca)}
    config = celery_config(settings)
    assert config["broker_use_ssl"] == expected
    assert config["redis_backend_use_ssl"] == expected
    assert config["redbeat_redis_use_ssl"] == expected
    client = redis_client(settings)
    kwargs = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    assert kwargs["ssl_ca_certs"] == str(ca)
    assert kwargs["socket_keepalive"] is True
    assert kwargs["health_check_interval"] == settings.redis_health_check_interval


def test_plain_urls_get_no_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_REDIS_URL", "redis://cache.example:6379/0")
    config = celery_config(load_settings())
    assert "broker_use_ssl" not in config
    assert config["task_serializer"] == "json"
    assert config["accept_content"] == ["json"]
