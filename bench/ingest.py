"""Ingest benchmark: vectorize a generated corpus through a real worker, then time searches at 100k chunks.

Run with ``.venv/bin/python bench/ingest.py`` (``--help`` for sizes). It starts a private
redis-server and one ``celery worker`` (prefork, 2 processes) on temporary directories,
with the default embedder (wordllama) and store (LanceDB), and stops both at the end.

1. End to end: one ``claw.knowledge.update_knowledge_base`` over a folder of
   ``--documents`` files (~``--chars`` characters in all), timed from submit to summary;
   prints documents/s, chunks/s and characters/s.
2. Search: a knowledge base of ``--search-chunks`` chunks (written with the same plain
   functions the worker runs), its ANN index built, then ``--queries`` searches; prints
   p50/p99 of the store search alone and of embed + search.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = [
    "worker",
    "queue",
    "broker",
    "task",
    "retry",
    "backoff",
    "redis",
    "celery",
    "vector",
    "index",
    "chunk",
    "embedding",
    "search",
    "latency",
    "throughput",
    "document",
    "knowledge",
    "model",
    "answer",
    "citation",
    "passage",
    "notebook",
    "runbook",
    "api",
    "lambda",
    "deploy",
    "monitor",
    "health",
    "beat",
    "schedule",
    "cleanup",
    "result",
    "expire",
    "progress",
    "stream",
    "event",
    "token",
    "prompt",
    "context",
    "banana",
    "river",
    "mountain",
    "garden",
    "winter",
    "summer",
    "library",
    "engine",
    "signal",
    "window",
    "harbor",
    "market",
    "village",
]


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 16))
    return " ".join(words).capitalize() + "."


def write_corpus(folder: Path, documents: int, chars: int, rng: random.Random) -> int:
    per_document = chars // documents
    total = 0
    for number in range(documents):
        parts: list[str] = []
        size = 0
        while size < per_document:
            parts.append(sentence(rng))
            size += len(parts[-1]) + 1
        text = " ".join(parts)
        (folder / f"doc{number:05d}.txt").write_text(text)
        total += len(text)
    return total


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def end_to_end(args: argparse.Namespace, work: Path) -> None:
    from claw_lab.redis_server import RedisServer

    corpus = work / "corpus"
    corpus.mkdir()
    chars = write_corpus(corpus, args.documents, args.chars, random.Random(1))
    print(f"corpus: {args.documents} documents, {chars:,} characters")
    with RedisServer() as redis_server:
        env = {
            "CLAW_REDIS_URL": redis_server.url,
            "CLAW_VECTOR_STORE_URI": str(work / "vectors"),
            "CLAW_DOCUMENT_ROOTS": str(corpus),
        }
        os.environ.update(env)
        from claw_lab.manager import TaskManager

        manager = TaskManager.default()
        command = [sys.executable, "-m", "celery", "-A", "claw_lab.celery_app", "worker", "--pool", "prefork",
                   "--concurrency", str(args.concurrency), "--loglevel", "WARNING", "--hostname", "bench@localhost"]  # fmt: skip
        log = (work / "worker.log").open("wb")
        worker = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not manager.workers():
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"worker did not start; see {log.name}")
                time.sleep(0.1)
            # Warm every pool process: the embedder and store load on first use.
            warm = [
                manager.submit(
                    "claw.knowledge.vectorize_document",
                    {"knowledge_base": "warm", "document_id": f"w{n}", "text": "Warm up."},
                )
                for n in range(args.concurrency * 2)
            ]
            for record in warm:
                manager.result(record.id, timeout=120)
            started = time.perf_counter()
            record = manager.submit(
                "claw.knowledge.update_knowledge_base", {"knowledge_base": "bench", "directory": str(corpus)}
            )
            summary = manager.result(record.id, timeout=1800)
            elapsed = time.perf_counter() - started
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            log.close()
            if args.verbose:
                print((work / "worker.log").read_text()[-6000:])
    print(
        f"end to end: {summary['documents']} documents, {summary['chunks']} chunks in {summary['batches']} batches, "
        f"{elapsed:.2f} s -> {summary['documents'] / elapsed:,.0f} documents/s, {summary['chunks'] / elapsed:,.0f} chunks/s, "
        f"{chars / elapsed:,.0f} characters/s (failed: {summary['failed']})"
    )


def search_latency(args: argparse.Namespace, work: Path) -> None:
    from claw_lab.embedders import create_embedder
    from claw_lab.knowledge import Document, vectorize
    from claw_lab.settings import load_settings
    from claw_lab.vectorstores.lancedb import LanceDBStore

    settings = load_settings()
    embedder = create_embedder(settings)
    store = LanceDBStore(
        str(work / "search"), index_threshold=settings.vector_index_threshold, nprobes=settings.vector_nprobes
    )
    rng = random.Random(2)
    # One chunk per document: two or three sentences, well under CLAW_CHUNK_SIZE.
    documents = [
        Document(f"s{n}", " ".join(sentence(rng) for _ in range(rng.randint(2, 3)))) for n in range(args.search_chunks)
    ]
    started = time.perf_counter()
    for at in range(0, len(documents), 10_000):
        vectorize(
            "search",
            documents[at : at + 10_000],
            embedder=embedder,
            store=store,
            chunk_size=settings.chunk_size,
            overlap=settings.chunk_overlap,
        )
    written = time.perf_counter() - started
    started = time.perf_counter()
    action = store.maintain("search")
    indexed = time.perf_counter() - started
    print(
        f"search table: {store.count('search'):,} chunks written in {written:.1f} s; index: {action} in {indexed:.1f} s"
    )
    queries = [sentence(rng) for _ in range(args.queries)]
    vectors = embedder.embed(queries)
    for vector in vectors[:20]:
        store.search("search", embedder.name, vector, 5)
    store_times, total_times = [], []
    for query, vector in zip(queries, vectors, strict=True):
        began = time.perf_counter()
        store.search("search", embedder.name, vector, 5)
        store_times.append(time.perf_counter() - began)
        began = time.perf_counter()
        store.search("search", embedder.name, embedder.embed_one(query), 5)
        total_times.append(time.perf_counter() - began)
    ms = 1000
    print(
        f"search at {args.search_chunks:,} chunks, top 5, {args.queries} queries: "
        f"store p50 {percentile(store_times, 0.5) * ms:.2f} ms, p99 {percentile(store_times, 0.99) * ms:.2f} ms; "
        f"embed+search p50 {percentile(total_times, 0.5) * ms:.2f} ms, p99 {percentile(total_times, 0.99) * ms:.2f} ms "
        f"(mean {statistics.mean(total_times) * ms:.2f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--chars", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--search-chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print the end of the worker's log")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="claw-ingest-") as folder:
        work = Path(folder)
        end_to_end(args, work)
        if not args.skip_search:
            search_latency(args, work)


if __name__ == "__main__":
    main()
