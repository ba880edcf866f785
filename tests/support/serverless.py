"""The Serverless Framework for tests: installed once with npm into a cache directory, run in a temp service dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.processes import stop_group

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"serverless": "3", "serverless-offline": "13", "serverless-python-requirements": "6"}
CACHE = Path(os.environ.get("CLAW_SLS_CACHE", Path.home() / ".cache" / "claw_lab" / "sls"))


def _installed_major(package: str) -> str | None:
    manifest = CACHE / "node_modules" / package / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"]).split(".")[0]


def install_serverless(timeout: float = 600) -> Path:
    """The ``serverless`` executable of v3, installing the pinned majors with npm on first use."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("the serverless tests need Node.js and npm on PATH (e.g. apt-get install nodejs npm)")
    if any(_installed_major(package) != major for package, major in PACKAGES.items()):
        CACHE.mkdir(parents=True, exist_ok=True)
        if not (CACHE / "package.json").exists():
            (CACHE / "package.json").write_text(json.dumps({"name": "claw-lab-sls-cache", "private": True}) + "\n")
        specs = [f"{package}@{major}" for package, major in PACKAGES.items()]
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *specs],
            cwd=CACHE,
            check=True,
            timeout=timeout,
            env={**os.environ, "SLS_TELEMETRY_DISABLED": "1"},
        )
    return CACHE / "node_modules" / ".bin" / "serverless"


def service_dir(target: Path) -> Path:
    """A service directory holding serverless.yml and links to the code it deploys and the cached plugins."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "serverless.yml", target / "serverless.yml")
    for name in ("claw_lab", "handlers", "deploy", "tests"):
        (target / name).symlink_to(ROOT / name)
    (target / "node_modules").symlink_to(CACHE / "node_modules")
    return target


def serverless_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment for serverless: no telemetry, our virtualenv's python3 for the offline runner."""
    return {
        **os.environ,
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "VIRTUAL_ENV": sys.prefix,
        **extra,
    }


@contextmanager
def serverless_offline(
    executable: Path, service: Path, env: dict[str, str], http_port: int, lambda_port: int, timeout: float = 120
) -> Iterator[str]:
    """``serverless offline --stage offline`` in its own process group; yields the base URL once it answers."""
    log = service / "offline.log"
    command = [
        str(executable), "offline", "start", "--stage", "offline", "--host", "127.0.0.1",
        "--httpPort", str(http_port), "--lambdaPort", str(lambda_port),
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=service, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serverless offline exited:\n{log.read_text(errors='replace')}")
            try:
                httpx.get(f"{url}/api/v1/health", timeout=30)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"serverless offline did not answer:\n{log.read_text(errors='replace')}"
                    ) from None
                time.sleep(0.25)
        yield url
    finally:
        stop_group(process)
