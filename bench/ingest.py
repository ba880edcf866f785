"""Ingest benchmark: vectorize a generated corpus through a real worker, then time searches at 100k chunks.

Run with ``.venv/bin/python bench/ingest.py`` (``--help`` for sizes). It starts a private
redis-server and one ``celery worker`` (prefork, 2 processes) on temporary directories,
with the default embedder (wordllama) and store (LanceDB), and stops both at the end.

1. End to end: ``--runs`` times one ``claw.knowledge.update_knowledge_base`` over a folder of
   ``--documents`` files (~``--chars`` characters in all; ``--corpus`` picks a mix of
   document sizes or uniform ones, see `Corpus`), timed from submit to summary; prints
   documents/s, chunks/s and characters/s for each run (into a fresh knowledge base) and
   their median; then the first run once more, which must find every document unchanged.
2. Search: a knowledge base of ``--search-chunks`` chunks (written with the same plain
   functions the worker runs), its ANN index built, then ``--queries`` searches; prints
   p50/p99 of the store search alone and of embed + search.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if TYPE_CHECKING:
    from claw_lab.manager import TaskManager

CHUNK_SIZE = 800  # CLAW_CHUNK_SIZE's default, which the worker uses here

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


COMMON = [
    *["the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "with", "was", "on", "be", "by"],
    *["this", "are", "or", "from", "at", "which", "an", "have", "not", "but", "can", "when", "each", "all"],
    *["will", "one", "more", "if", "they", "their", "than", "its", "also", "into", "only", "after", "how", "new"],
]
SYLLABLES = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiouy"] + ["th", "ch", "st", "er", "an", "on", "ex", "qu"]


class Corpus:
    """Generated English-like text: a Zipf-distributed vocabulary and a chosen mix of document sizes.

    ``mixed``: three in four documents are short (80-400 characters), one in five medium
    (400-1,500), one in twenty long (1,500-4,000), so many documents span several chunks.
    ``uniform``: every document is about the same size (the average). Words follow a Zipf
    law over up to ``vocabulary`` distinct forms (common English words first, then generated
    ones), which is how often real text repeats its words.
    """

    def __init__(self, rng: random.Random, vocabulary: int = 30_000) -> None:
        self.rng = rng
        invented = {"".join(rng.choices(SYLLABLES, k=rng.randint(1, 4))) for _ in range(vocabulary)}
        self.words = list(dict.fromkeys([*COMMON, *WORDS, *sorted(invented)]))[:vocabulary]
        self.cumulative = list(itertools.accumulate(1 / (rank + 1) ** 1.05 for rank in range(len(self.words))))

    def sentence(self) -> str:
        words = self.rng.choices(self.words, cum_weights=self.cumulative, k=self.rng.randint(6, 20))
        if len(words) > 10 and self.rng.random() < 0.3:
            words[self.rng.randint(3, len(words) - 4)] += ","
        return " ".join(words).capitalize() + "."

    def text(self, size: int) -> str:
        parts: list[str] = []
        length = 0
        while length < size:
            parts.append(self.sentence())
            length += len(parts[-1]) + 1
        return " ".join(parts)

    def sizes(self, documents: int, chars: int, shape: str) -> list[int]:
        if shape == "uniform":
            return [chars // documents] * documents
        bands = [(80, 400)] * 15 + [(400, 1_500)] * 4 + [(1_500, 4_000)]  # 75 %, 20 %, 5 %
        drawn = [self.rng.randint(*self.rng.choice(bands)) for _ in range(documents)]
        scale = chars / sum(drawn)
        return [max(40, round(size * scale)) for size in drawn]


def write_corpus(folder: Path, documents: int, chars: int, shape: str, rng: random.Random) -> list[int]:
    """Write the corpus as one file per document; returns the documents' lengths."""
    corpus = Corpus(rng)
    lengths = []
    for number, size in enumerate(corpus.sizes(documents, chars, shape)):
        text = corpus.text(size)
        (folder / f"doc{number:05d}.txt").write_text(text)
        lengths.append(len(text))
    return lengths


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def end_to_end(args: argparse.Namespace, work: Path) -> None:
    from claw_lab.redis_server import RedisServer

    corpus = work / "corpus"
    corpus.mkdir()
    lengths = write_corpus(corpus, args.documents, args.chars, args.corpus, random.Random(1))
    chars = sum(lengths)
    over = sum(1 for length in lengths if length > CHUNK_SIZE)
    print(
        f"corpus ({args.corpus}): {args.documents} documents, {chars:,} characters; lengths p50 "
        f"{percentile(lengths, 0.5):,}, p95 {percentile(lengths, 0.95):,}, max {max(lengths):,}; "
        f"{over} longer than one {CHUNK_SIZE}-character chunk"
    )
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
            runs = []
            for number in range(args.runs):  # each run a fresh knowledge base: nothing to skip
                runs.append(ingest(manager, f"bench{number}", corpus))
                print(describe(f"run {number + 1}", *runs[-1], chars))
            again = ingest(manager, "bench0", corpus)  # run 1 again: every document unchanged
        finally:
            os.killpg(worker.pid, signal.SIGTERM)  # the worker and its pool: their own process group
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            log.close()
            if args.verbose:
                print((work / "worker.log").read_text()[-6000:])
    from claw_lab.vectorstores.lancedb import LanceDBStore

    median = sorted(runs, key=lambda run: run[1])[len(runs) // 2]
    print(describe(f"end to end (median of {len(runs)})", *median, chars))
    stored = LanceDBStore(str(work / "vectors")).count("bench0")
    summary, elapsed = again
    print(
        f"run 1 again: {summary['unchanged']} of {summary['documents']} unchanged, {summary['vectorized']} vectorized "
        f"in {elapsed:.2f} s; bench0 holds {stored} chunks (run 1 wrote {runs[0][0]['chunks']})"
    )


def ingest(manager: TaskManager, kb: str, corpus: Path) -> tuple[dict[str, Any], float]:
    """One ``update_knowledge_base`` over the corpus folder: its summary and seconds from submit to summary."""
    started = time.perf_counter()
    record = manager.submit("claw.knowledge.update_knowledge_base", {"knowledge_base": kb, "directory": str(corpus)})
    summary = manager.result(record.id, timeout=1800)
    return summary, time.perf_counter() - started


def describe(label: str, summary: dict[str, Any], elapsed: float, chars: int) -> str:
    return (
        f"{label}: {summary['documents']} documents, {summary['chunks']} chunks in {summary['batches']} batches, "
        f"{elapsed:.2f} s -> {summary['documents'] / elapsed:,.0f} documents/s, "
        f"{summary['chunks'] / elapsed:,.0f} chunks/s, {chars / elapsed:,.0f} characters/s (failed: {summary['failed']})"
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
    corpus = Corpus(random.Random(2))
    # One chunk per document: two or three sentences, well under CLAW_CHUNK_SIZE.
    documents = [
        Document(f"s{n}", " ".join(corpus.sentence() for _ in range(corpus.rng.randint(2, 3))))
        for n in range(args.search_chunks)
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
    queries = [corpus.sentence() for _ in range(args.queries)]
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
    parser.add_argument(
        "--corpus", choices=["mixed", "uniform"], default="mixed", help="document sizes (see Corpus); default mixed"
    )
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="end-to-end runs, each into a fresh knowledge base")
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
