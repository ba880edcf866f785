from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from claw_lab.settings import Settings
from tests.support.jobs import job_settings
from tests.support.openai_server import OpenAICompatibleServer


@pytest.fixture(scope="session")
def openai_server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as server:
        yield server


@pytest.fixture
def knowledge_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "documents"
    folder.mkdir()
    return folder


@pytest.fixture
def jobs(settings: Settings, tmp_path: Path, knowledge_dir: Path) -> Iterator[Settings]:
    """Default back-ends (wordllama, LanceDB) on a fresh directory, small chunks and batches, files allowed."""
    with job_settings(
        vector_store_uri=str(tmp_path / "vectors"),
        chunk_size="200",
        chunk_overlap="40",
        knowledge_batch_documents="4",
        document_roots=str(knowledge_dir),
    ) as current:
        yield current
