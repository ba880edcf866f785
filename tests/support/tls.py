"""A managed-Redis lookalike on loopback: redis-server speaking only TLS (a trustme CA), an ACL user with a password."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import trustme

from claw_lab.redis_server import find_redis_server, free_port

USERNAME = "claw"
PASSWORD = "tls-s3cret-pw"


@contextmanager
def tls_redis(folder: Path) -> Iterator[dict[str, str]]:
    """Start the server; yields the ``CLAW_*`` variables that reach it (URL, CA file, user, password)."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    ca, chain, key = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    authority.cert_pem.write_to_path(str(ca))
    certificate.cert_chain_pems[0].write_to_path(str(chain))
    certificate.private_key_pem.write_to_path(str(key))
    port = free_port()
    server = subprocess.Popen(
        [
            find_redis_server(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(chain), "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca),
            "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(folder),
            "--user", "default", "off", "--user", USERNAME, "on", f">{PASSWORD}", "~*", "&*", "+@all",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        "CLAW_REDIS_URL": f"rediss://127.0.0.1:{port}/0",
        "CLAW_REDIS_SSL_CA_CERTS": str(ca),
        "CLAW_REDIS_USERNAME": USERNAME,
        "CLAW_REDIS_PASSWORD": PASSWORD,
        "CLAW_TASK_MODULES": "tests.support.tasks",
        "CLAW_HEARTBEAT_INTERVAL": "0.5",
    }
    try:
        client = redis.Redis.from_url(env["CLAW_REDIS_URL"], username=USERNAME, password=PASSWORD, ssl_ca_certs=str(ca))
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the TLS redis-server did not answer"
                time.sleep(0.05)
        client.close()
        yield env
    finally:
        server.terminate()
        server.wait(10)


def other_ca(folder: Path) -> Path:
    """A CA file of another authority, which did not sign the server's certificate."""
    path = folder / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path
