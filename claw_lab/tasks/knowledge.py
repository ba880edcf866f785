"""Knowledge-base tasks: vectorize a document, update a knowledge base in parallel batches, delete vectors.

The work itself is in `claw_lab.knowledge`; these tasks add input validation, retries,
time limits and progress. `update_knowledge_base` splits its documents into batches and
fans them out as sub-tasks (`claw_lab.tasks.fanout`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, ValidationInfo, field_validator

from claw_lab.errors import PermanentError
from claw_lab.settings import get_settings
from claw_lab.tasks.catalog import claw_task

if TYPE_CHECKING:
    from claw_lab.tasks.base import ClawTask

KnowledgeBaseName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"),
    Field(description="1-64 letters, digits, '_' or '-', starting with a letter or digit"),
]
DocumentId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$"),
    Field(description="1-512 characters, no control characters"),
]
MAX_DOCUMENTS = 10_000


def _check_text(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    limit = get_settings().max_document_chars
    if len(value) > limit:
        raise ValueError(f"is {len(value)} characters, over the {limit}-character limit (CLAW_MAX_DOCUMENT_CHARS)")
    return value


class DocumentInput(BaseModel):
    """One document: its id and either its text or a path the worker can read."""

    model_config = ConfigDict(extra="forbid")

    document_id: DocumentId
    text: str | None = Field(None, description="the document's text")
    path: str | None = Field(
        None, min_length=1, validate_default=True, description="a file under CLAW_DOCUMENT_ROOTS, instead of text"
    )
    metadata: dict[str, JsonValue] = Field(default_factory=dict, description="kept with every chunk and citation")

    _text = field_validator("text")(_check_text)

    @field_validator("path", mode="after")
    @classmethod
    def _text_or_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        has_text = info.data.get("text") is not None
        if value is None and not has_text and "text" in info.data:
            raise ValueError("give the document's text or a path")
        if value is not None and has_text:
            raise ValueError("give the document's text or a path, not both")
        return value


class VectorizeDocument(DocumentInput):
    """Input of ``claw.knowledge.vectorize_document``."""

    knowledge_base: KnowledgeBaseName = "default"


class UpdateKnowledgeBase(BaseModel):
    """Input of ``claw.knowledge.update_knowledge_base``."""

    model_config = ConfigDict(extra="forbid")

    knowledge_base: KnowledgeBaseName = "default"
    documents: list[DocumentInput] = Field(default_factory=list, max_length=MAX_DOCUMENTS)
    directory: str | None = Field(None, min_length=1, description="a folder under CLAW_DOCUMENT_ROOTS to add")
    patterns: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=lambda: ["**/*.txt", "**/*.md"], min_length=1, description="which files of the folder"
    )
    remove: list[DocumentId] = Field(
        default_factory=list, max_length=MAX_DOCUMENTS, validate_default=True, description="document ids to remove"
    )
    chunk_size: int | None = Field(None, ge=64, le=100_000, description="overrides CLAW_CHUNK_SIZE for this update")
    fan_out: bool = Field(True, description="split into parallel sub-tasks of CLAW_KNOWLEDGE_BATCH_* size")
    build_index: bool = Field(True, description="bring the search index up to date at the end")

    @field_validator("documents")
    @classmethod
    def _unique(cls, value: list[DocumentInput]) -> list[DocumentInput]:
        ids = [document.document_id for document in value]
        if len(ids) != len(set(ids)):
            duplicated = sorted({doc for doc in ids if ids.count(doc) > 1})[:5]
            raise ValueError(f"document ids must be unique; repeated: {', '.join(duplicated)}")
        return value

    @field_validator("remove", mode="after")
    @classmethod
    def _something_to_do(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if not value and not info.data.get("documents") and not info.data.get("directory"):
            raise ValueError("nothing to do: give documents, a directory or ids to remove")
        return value


class DeleteKnowledgeVectors(BaseModel):
    """Input of ``claw.knowledge.delete_knowledge_vectors``."""

    model_config = ConfigDict(extra="forbid")

    knowledge_base: KnowledgeBaseName
    document_ids: list[DocumentId] | None = Field(None, min_length=1, max_length=MAX_DOCUMENTS)
    whole_knowledge_base: bool = Field(
        False, validate_default=True, description="delete every vector of the knowledge base"
    )

    @field_validator("whole_knowledge_base", mode="after")
    @classmethod
    def _one_scope(cls, value: bool, info: ValidationInfo) -> bool:
        ids = info.data.get("document_ids")
        if value and ids:
            raise ValueError("give document_ids or whole_knowledge_base, not both")
        if not value and not ids and "document_ids" in info.data:
            raise ValueError("give document_ids, or set whole_knowledge_base to delete everything")
        return value


@claw_task(
    "claw.knowledge.vectorize_document",
    input=VectorizeDocument,
    queue="knowledge",
    soft_time_limit=540,
    time_limit=600,
    max_retries=5,
)
def vectorize_document(task: ClawTask, payload: VectorizeDocument) -> dict[str, Any]:
    """Chunk, embed and store one document in a knowledge base; unchanged content is skipped."""
    from claw_lab.knowledge import Document, backends, read_text, resolve_path, vectorize

    settings = get_settings()
    text = payload.text if payload.text is not None else read_text(resolve_path(str(payload.path), settings), settings)
    current = backends()

    def progress(done: int, total: int) -> None:
        task.report_progress(done, total, f"{done} of {total} chunks embedded")

    [outcome] = vectorize(
        payload.knowledge_base,
        [Document(payload.document_id, text, dict(payload.metadata))],
        embedder=current.embedder,
        store=current.store,
        chunk_size=settings.chunk_size,
        overlap=settings.chunk_overlap,
        progress=progress,
    )
    if outcome.status == "failed":
        raise PermanentError(f"document {payload.document_id!r}: {outcome.error}")
    index = current.store.maintain(payload.knowledge_base) if outcome.status == "vectorized" else "current"
    return {
        "knowledge_base": payload.knowledge_base,
        "document_id": payload.document_id,
        "status": outcome.status,
        "chunks": outcome.chunks
        if outcome.status == "vectorized"
        else current.store.count(payload.knowledge_base, [payload.document_id]),
        "embedder": current.embedder.name,
        "index": index,
    }


@claw_task(
    "claw.knowledge.update_knowledge_base",
    input=UpdateKnowledgeBase,
    queue="knowledge",
    soft_time_limit=3300,
    time_limit=3600,
    max_retries=3,
)
def update_knowledge_base(task: ClawTask, payload: UpdateKnowledgeBase) -> dict[str, Any]:
    """Add, replace and remove documents of a knowledge base, in parallel batches; ends with a summary."""
    from claw_lab.tasks.fanout import update

    return update(task, payload)


@claw_task(
    "claw.knowledge.delete_knowledge_vectors",
    input=DeleteKnowledgeVectors,
    queue="knowledge",
    soft_time_limit=240,
    time_limit=300,
)
def delete_knowledge_vectors(task: ClawTask, payload: DeleteKnowledgeVectors) -> dict[str, Any]:
    """Remove the vectors of some documents, or of a whole knowledge base; deleting again removes nothing."""
    from claw_lab.knowledge import backends

    store = backends().store
    removed = store.delete(payload.knowledge_base, None if payload.whole_knowledge_base else payload.document_ids)
    return {
        "knowledge_base": payload.knowledge_base,
        "scope": "knowledge_base" if payload.whole_knowledge_base else "documents",
        "document_ids": payload.document_ids,
        "chunks_removed": removed,
    }
