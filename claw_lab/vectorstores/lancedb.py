"""The default vector store: LanceDB, one table per knowledge base, in a local directory or an ``s3://`` URI.

Each table records in its schema metadata the embedder it was built with; its vector
column's fixed size is the dimension. Search is exact (a scan) until a table holds
``index_threshold`` rows; then an IVF-HNSW index with 8-bit scalar quantization (cosine)
is built, and `maintain` folds rows added later into it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from claw_lab.errors import ConfigurationError, EmbedderMismatch, PermanentError, TransientError
from claw_lab.vectorstores.base import DocumentVectors, KnowledgeBaseInfo, SearchHit, VectorStore

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    from lancedb.table import Table
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)
T = TypeVar("T")

TABLE_PREFIX = "kb_"
EMBEDDER_KEY = b"claw.embedder"
FORMAT_KEY = b"claw.format"
FORMAT = b"1"
_ID_SEPARATOR = "\x1f"
_COLUMNS = ["document_id", "chunk_index", "text", "metadata", "_distance"]
_WRITE_ATTEMPTS = 6
_COMPACT_EVERY = 64  # table versions between compactions while a table is below the index threshold


def sql_string(value: str) -> str:
    """``value`` as a SQL string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def in_filter(column: str, values: Sequence[str]) -> str:
    """A ``column IN (...)`` predicate over string values."""
    return f"{column} IN ({', '.join(sql_string(value) for value in values)})"


def _schema(dimension: int, embedder: str) -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("document_id", pa.string(), nullable=False),
            pa.field("chunk_index", pa.int32(), nullable=False),
            pa.field("chunk_count", pa.int32(), nullable=False),
            pa.field("start", pa.int32()),
            pa.field("end", pa.int32()),
            pa.field("text", pa.string()),
            pa.field("content_hash", pa.string(), nullable=False),
            pa.field("metadata", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dimension)),
        ],
        metadata={EMBEDDER_KEY: embedder.encode(), FORMAT_KEY: FORMAT},
    )


def _rows(documents: Sequence[DocumentVectors], schema: pa.Schema) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    columns: dict[str, list[Any]] = {name: [] for name in schema.names if name != "vector"}
    for document in documents:
        metadata = json.dumps(document.metadata, sort_keys=True, separators=(",", ":"))
        for chunk in document.chunks:
            columns["id"].append(f"{document.document_id}{_ID_SEPARATOR}{chunk.index}")
            columns["document_id"].append(document.document_id)
            columns["chunk_index"].append(chunk.index)
            columns["chunk_count"].append(len(document.chunks))
            columns["start"].append(chunk.start)
            columns["end"].append(chunk.end)
            columns["text"].append(chunk.text)
            columns["content_hash"].append(document.content_hash)
            columns["metadata"].append(metadata)
    dimension = schema.field("vector").type.list_size
    vectors = np.vstack([d.vectors for d in documents if len(d.chunks)]).astype(np.float32, copy=False)
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    arrays = [pa.array(columns[name], type=schema.field(name).type) for name in columns]
    arrays.append(pa.FixedSizeListArray.from_arrays(flat, dimension))
    return pa.Table.from_arrays(arrays, schema=schema)


class LanceDBStore(VectorStore):
    """Chunk vectors in LanceDB tables named ``kb_<knowledge base>``."""

    def __init__(
        self,
        uri: str,
        *,
        storage_options: dict[str, str] | None = None,
        index_threshold: int = 20_000,
        nprobes: int = 20,
        refine_factor: int | None = None,
    ) -> None:
        try:
            import lancedb
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ConfigurationError("CLAW_VECTOR_STORE=lancedb needs: pip install 'claw_lab[knowledge]'") from exc
        if "://" not in uri:
            path = Path(uri).expanduser()
            path.mkdir(parents=True, exist_ok=True)
            uri = str(path)
        self.uri = uri
        self.index_threshold = index_threshold
        self.nprobes = nprobes
        self.refine_factor = refine_factor
        # Consistency interval 0: every read sees the latest commit of every other worker.
        self._db = lancedb.connect(uri, storage_options=storage_options or None, read_consistency_interval=timedelta(0))
        self._tables: dict[str, Table] = {}

    # --- tables --------------------------------------------------------------------------
    def _open(self, kb: str) -> Table | None:
        table = self._tables.get(kb)
        if table is None:
            try:
                table = self._db.open_table(TABLE_PREFIX + kb)
            except (ValueError, FileNotFoundError):
                return None
            self._tables[kb] = table
        return table

    def _guarded(self, kb: str, call: Callable[[Table], T], missing: T) -> T:
        """Run ``call`` on the kb's table, reopening it once if another process dropped or recreated it."""
        for attempt in range(2):
            table = self._open(kb)
            if table is None:
                return missing
            try:
                return call(table)
            except (ValueError, OSError, RuntimeError):
                self._tables.pop(kb, None)
                if attempt:
                    raise
        return missing  # pragma: no cover

    @staticmethod
    def _built_with(table: Table, schema: pa.Schema | None = None) -> tuple[str, int]:
        if schema is None:
            schema = table.schema
        embedder = (schema.metadata or {}).get(EMBEDDER_KEY, b"unknown").decode()
        return embedder, int(schema.field("vector").type.list_size)

    def _check(self, kb: str, table: Table, embedder: str, dimension: int, schema: pa.Schema | None = None) -> None:
        built_embedder, built_dimension = self._built_with(table, schema)
        if (built_embedder, built_dimension) != (embedder, dimension):
            raise EmbedderMismatch(
                f"knowledge base {kb!r} was built with {built_embedder} ({built_dimension}-d) but the configured "
                f"embedder is {embedder} ({dimension}-d); set CLAW_EMBEDDER back, or delete the knowledge base "
                "and vectorize its documents again",
                details={"built_with": built_embedder, "dimension": built_dimension, "configured": embedder},
            )

    def _table_for_write(self, kb: str, embedder: str, dimension: int) -> tuple[Table, pa.Schema]:
        table = self._open(kb)
        if table is None:
            table = self._db.create_table(TABLE_PREFIX + kb, schema=_schema(dimension, embedder), exist_ok=True)
            self._tables[kb] = table
        schema = table.schema  # one read of the latest manifest for the check and the rows
        self._check(kb, table, embedder, dimension, schema)
        return table, schema

    # --- reads ---------------------------------------------------------------------------
    def stored_hashes(self, kb: str, document_ids: Sequence[str]) -> dict[str, str]:
        if not document_ids:
            return {}

        def read(table: Table) -> dict[str, str]:
            rows = (
                table.search()
                .where(in_filter("document_id", document_ids))
                .select(["document_id", "chunk_index", "chunk_count", "content_hash"])
                .limit(None)
                .to_arrow()
                .to_pylist()
            )
            seen: dict[str, tuple[set[str], set[int], int, int]] = {}
            for row in rows:
                hashes, indexes, expected, total = seen.get(row["document_id"], (set(), set(), row["chunk_count"], 0))
                hashes.add(row["content_hash"])
                indexes.add(row["chunk_index"])
                seen[row["document_id"]] = (hashes, indexes, expected, total + 1)
            return {
                doc: next(iter(hashes))
                for doc, (hashes, indexes, expected, total) in seen.items()
                if len(hashes) == 1 and total == expected and indexes == set(range(expected))
            }

        return self._guarded(kb, read, {})

    def count(self, kb: str, document_ids: Sequence[str] | None = None) -> int:
        where = in_filter("document_id", document_ids) if document_ids else None
        if document_ids is not None and not document_ids:
            return 0
        return self._guarded(kb, lambda table: int(table.count_rows(where)), 0)

    def search(
        self,
        kb: str,
        embedder: str,
        vector: NDArray[np.float32],
        k: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        def query(table: Table) -> list[SearchHit]:
            self._check(kb, table, embedder, int(vector.shape[0]))
            builder: Any = table.search(vector, vector_column_name="vector")
            builder = builder.distance_type("cosine").limit(k)
            builder = builder.nprobes(self.nprobes)
            if self.refine_factor:
                builder = builder.refine_factor(self.refine_factor)
            if document_ids:
                builder = builder.where(in_filter("document_id", document_ids), prefilter=True)
            rows = builder.select(_COLUMNS).to_list()
            return [
                SearchHit(
                    document_id=row["document_id"],
                    chunk_index=int(row["chunk_index"]),
                    text=row["text"],
                    score=round(1.0 - float(row["_distance"]), 6),
                    metadata=json.loads(row["metadata"] or "{}"),
                )
                for row in rows
            ]

        if document_ids is not None and not document_ids:
            return []
        return self._guarded(kb, query, [])

    def knowledge_bases(self) -> list[KnowledgeBaseInfo]:
        names = sorted(
            name[len(TABLE_PREFIX) :] for name in self._db.list_tables().tables if name.startswith(TABLE_PREFIX)
        )
        found = []
        for kb in names:
            table = self._open(kb)
            if table is None:
                continue
            embedder, dimension = self._built_with(table)
            found.append(
                KnowledgeBaseInfo(kb, table.count_rows(), embedder, dimension, self._vector_index(table) is not None)
            )
        return found

    # --- writes --------------------------------------------------------------------------
    def replace(self, kb: str, embedder: str, documents: Sequence[DocumentVectors], *, known_new: bool = False) -> int:
        documents = [document for document in documents if document.chunks]
        if not documents:
            return 0
        dimension = int(documents[0].vectors.shape[1])
        table, schema = self._table_for_write(kb, embedder, dimension)
        rows = _rows(documents, schema)
        where = in_filter("document_id", [document.document_id for document in documents])
        try:
            # New documents are appended; others merged. Either way the count below catches a
            # concurrent writer, or rows of an earlier interrupted write, and rewrites the documents.
            fresh = known_new or table.count_rows(where) == 0
            for attempt in range(_WRITE_ATTEMPTS):
                if fresh:
                    table.add(rows)
                else:
                    (
                        table.merge_insert("id")
                        .when_matched_update_all()
                        .when_not_matched_insert_all()
                        .when_not_matched_by_source_delete(where)
                        .execute(rows)
                    )
                # A concurrent run over the same documents can leave a second copy: rewrite them alone.
                if table.count_rows(where) == rows.num_rows:
                    return int(rows.num_rows)
                logger.warning(
                    "knowledge base %r: a concurrent or interrupted write left extra rows; rewriting %d chunks",
                    kb,
                    rows.num_rows,
                )
                time.sleep(random.uniform(0.02, 0.2) * (attempt + 1))
                table.delete(where)
                fresh = True
        except OSError as exc:
            raise TransientError(f"vector store write to {kb!r} failed: {exc}") from exc
        except (ValueError, RuntimeError) as exc:
            if "conflict" in str(exc).lower():
                raise TransientError(f"vector store write to {kb!r} conflicted with another writer: {exc}") from exc
            raise PermanentError(f"vector store write to {kb!r} failed: {exc}") from exc
        raise TransientError(f"knowledge base {kb!r}: documents kept being written concurrently; try again")

    def delete(self, kb: str, document_ids: Sequence[str] | None = None) -> int:
        table = self._open(kb)
        if table is None:
            return 0
        if document_ids is None:
            removed = int(table.count_rows())
            with contextlib.suppress(ValueError, FileNotFoundError):  # dropped meanwhile: same outcome
                self._db.drop_table(TABLE_PREFIX + kb)
            self._tables.pop(kb, None)
            return removed
        if not document_ids:
            return 0
        try:
            result = table.delete(in_filter("document_id", document_ids))
        except OSError as exc:
            raise TransientError(f"vector store delete in {kb!r} failed: {exc}") from exc
        return int(result.num_deleted_rows)  # type: ignore[attr-defined]  # the stubs lag the library

    # --- index ---------------------------------------------------------------------------
    @staticmethod
    def _vector_index(table: Table) -> Any | None:
        return next((index for index in table.list_indices() if index.columns == ["vector"]), None)

    def maintain(self, kb: str) -> str:
        """Build the ANN index once the table passes the threshold, or fold new rows into it; returns what it did."""
        from lancedb.index import BTree, IvfHnswSq

        table = self._open(kb)
        if table is None:
            return "missing"
        rows = table.count_rows()
        if rows < self.index_threshold:
            if table.version % _COMPACT_EVERY == 0:
                table.optimize()
                return "compacted"
            return "exact"
        index = self._vector_index(table)
        if index is None:
            partitions = max(1, rows // 4096)
            table.create_index("vector", config=IvfHnswSq(distance_type="cosine", num_partitions=partitions))
            table.create_index("document_id", config=BTree())
            logger.info("knowledge base %r: built a vector index over %d rows (%d partitions)", kb, rows, partitions)
            return "indexed"
        if index.num_unindexed_rows > max(1024, index.num_indexed_rows // 10):
            table.optimize()
            return "optimized"
        return "current"
