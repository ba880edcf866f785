from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from claw_lab.knowledge import Backends, backends
from claw_lab.settings import Settings
from tests.support.jobs import job_settings


@pytest.fixture
def kb_settings(tmp_path: Path) -> Iterator[Settings]:
    """The default embedder (wordllama) and store (LanceDB) on a fresh directory."""
    with job_settings(vector_store_uri=str(tmp_path / "vectors"), chunk_size="200", chunk_overlap="40") as settings:
        yield settings


@pytest.fixture
def kb(kb_settings: Settings) -> Backends:
    return backends()
