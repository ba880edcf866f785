"""pyproject.toml is the one source of dependencies; environment.yml and the Makefile follow it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Installing this extra pulls torch; conda users follow docs/backends.md instead.
NOT_IN_ENVIRONMENT = {"sentence-transformers"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_lists_exactly_the_project_dependencies() -> None:
    project = _project()
    wanted = set(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        if extra not in NOT_IN_ENVIRONMENT:
            wanted |= set(requirements)
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict))
    assert set(pip) - {"-e ."} == wanted
    assert "-e ." in pip
    python = next(
        entry for entry in environment["dependencies"] if isinstance(entry, str) and entry.startswith("python")
    )
    assert python.removeprefix("python") == project["requires-python"]


def test_make_install_installs_every_extra_the_suite_needs() -> None:
    extras = re.search(r"^EXTRAS \?= (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert extras is not None
    assert set(extras.group(1).split(",")) == set(_project()["optional-dependencies"]) - NOT_IN_ENVIRONMENT
