"""``claw-lab demo``: bring a local stack up, run real jobs, follow them live, print what they did, stop.

The tour: the ``ingest_documents`` runbook, run as a tracked job, adds the project's own
``docs/`` to a knowledge base; ``generate_response`` answers a question about claw_lab
from it (retrieval, with citations); the maintenance jobs, an idempotent re-submit and a
cancel-before-start run; the ``health_report`` runbook reports on all of it. Without the
runbooks (papermill, the project's notebooks and docs) the demo vectorizes a short
built-in guide instead; without the knowledge extra only the maintenance jobs run.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from claw_lab import runbooks
from claw_lab.cli.common import app, console, errors
from claw_lab.cli.live import follow
from claw_lab.cli.render import record_view, stats_view, stopped_line, tasks_table, workers_table
from claw_lab.cli.run import stop_signals
from claw_lab.errors import ValidationFailed
from claw_lab.manager import TaskManager
from claw_lab.models import TaskRecord, TaskState
from claw_lab.programs import api_available, module_available
from claw_lab.redis_server import free_port
from claw_lab.settings import Settings, get_settings, redact
from claw_lab.stack import LocalStack, StackFailed, http_answers, port_free

GUIDE_ID = "claw-lab-guide"
GUIDE = """\
claw_lab is an asynchronous job toolkit. Celery workers on Redis run AI generation,
notification, document-vectorization and knowledge-base jobs.

Every job is tracked in a durable registry in Redis: its state, progress, runtime, worker
and error. Listing and counting tasks needs no broadcast to the workers.

A cancel is durable: the registry marks the task and a worker started later still skips
it. A failed, revoked or lost task can be retried with its original arguments, and both
records are linked.

Periodic jobs run from celery beat with the RedBeat scheduler: the cleanup of expired
results every hour and a task-health check every minute.
"""
QUESTION = "What happens to a task that is cancelled before any worker has started it?"
KNOWLEDGE_BASE = "claw-demo"
DOCS = runbooks.PROJECT_RUNBOOKS.parents[1] / "docs"
DOCS_KNOWLEDGE_BASE = "claw-docs"
DOCS_QUESTION = "How does claw_lab keep a cancelled task from running on a worker started later?"
RUN_RUNBOOK = "claw.notebooks.run_runbook"


@dataclass(frozen=True)
class DemoJob:
    """One job the demo submits, and the state it should end in."""

    label: str
    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    expect: TaskState = TaskState.SUCCESS
    countdown: float | None = None
    cancel: bool = False
    idempotency_key: str | None = None


EMBEDDER_PACKAGES = {"wordllama": "wordllama", "hashing": "sklearn", "sentence-transformers": "sentence_transformers"}


def knowledge_ready(settings: Settings) -> bool:
    """Whether the vector store and the configured embedder are installed here."""
    package = EMBEDDER_PACKAGES.get(settings.embedder, "httpx")
    return module_available("lancedb") and module_available(package)


def tour_ready(settings: Settings) -> bool:
    """Whether the runbook tour can run here: papermill, the project's runbooks and its docs/ folder."""
    return runbooks.available(settings) and DOCS.is_dir()


def _ask(knowledge_base: str, question: str) -> dict[str, Any]:
    return {
        "conversation_id": "claw-demo",
        "messages": [{"role": "user", "content": question}],
        "use_knowledge": True,
        "knowledge_base": knowledge_base,
    }


def plan(
    catalogue: set[str], *, knowledge: bool = True, tour: bool = False, timeout: float = 180
) -> list[list[DemoJob]]:
    """The demo's jobs in stages (a stage starts when the previous one has finished), richest first."""
    stages: list[list[DemoJob]] = []
    if knowledge and tour and RUN_RUNBOOK in catalogue:
        ingest = {"knowledge_base": DOCS_KNOWLEDGE_BASE, "source": str(DOCS), "query": "", "timeout": timeout}
        ingest_job = DemoJob(
            "ingest docs/ (runbook ingest_documents)", RUN_RUNBOOK, _runbook("ingest_documents", ingest)
        )
        ask = _ask(DOCS_KNOWLEDGE_BASE, DOCS_QUESTION)
        stages.append([ingest_job])
        stages.append([DemoJob("answer a question about claw_lab", "claw.ai.generate_response", ask)])
    elif knowledge and "claw.knowledge.vectorize_document" in catalogue:
        vectorize = {"document_id": GUIDE_ID, "text": GUIDE, "knowledge_base": KNOWLEDGE_BASE}
        stages.append([DemoJob("vectorize the built-in guide", "claw.knowledge.vectorize_document", vectorize)])
        ask = _ask(KNOWLEDGE_BASE, QUESTION)
        stages.append([DemoJob("answer a question from it", "claw.ai.generate_response", ask)])
    health, cleanup = "claw.maintenance.check_task_health", "claw.maintenance.cleanup_expired_results"
    notify = {"channel": "log", "subject": "claw_lab demo", "message": "The demo's jobs ran; see their records."}
    key = f"claw-demo-cleanup-{secrets.token_hex(4)}"
    stages.append(
        [
            DemoJob("task-health check", health),
            DemoJob("retention cleanup", cleanup, idempotency_key=key),
            DemoJob("same idempotency key again", cleanup, idempotency_key=key),
            DemoJob("cancelled before it runs", health, countdown=600, cancel=True, expect=TaskState.REVOKED),
            DemoJob("notification to the worker log", "claw.ai.send_notification", notify),
        ]
    )
    if tour and RUN_RUNBOOK in catalogue:
        report = {"window_minutes": 15, "timeout": timeout}
        stages.append(
            [DemoJob("health report (runbook health_report)", RUN_RUNBOOK, _runbook("health_report", report))]
        )
    return [[job for job in stage if job.name in catalogue] for stage in stages]


def _runbook(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"runbook": name, "parameters": parameters}


def _start(stack: LocalStack, stop: threading.Event, with_api: bool) -> str | None:
    with console.status("starting Redis, a worker and beat" + (" and the API" if with_api else "")):
        url = stack.start_redis()
        console.print(
            f"[bold]redis[/]  {redact(url)}"
            + (" [dim](private redis-server for this demo)[/]" if stack.private_redis else "")
        )
        stack.start_worker(concurrency=2, loglevel="WARNING")
        stack.start_beat(loglevel="WARNING")
        token = None
        if with_api:
            host, port = stack.settings.api_host, stack.settings.api_port
            token = stack.start_api(host, port if port_free(host, port) else free_port())
        stack.wait_for("the worker", stack.worker_ready, 120, stop=stop)
        if with_api:
            stack.wait_for("the API", stack.api_ready, 120, stop=stop)
    return token


def _run_stage(manager: TaskManager, stage: list[DemoJob], timeout: float) -> list[tuple[DemoJob, TaskRecord]]:
    submitted: list[tuple[DemoJob, TaskRecord]] = []
    for job in stage:
        try:
            record = manager.submit(job.name, job.kwargs, countdown=job.countdown, idempotency_key=job.idempotency_key)
        except ValidationFailed as exc:
            console.print(f"[yellow]skipped {job.label}:[/] {exc.message}")
            continue
        if job.idempotency_key and any(earlier.id == record.id for _, earlier in submitted):
            console.print(f"[dim]{job.label}: the key returned the task it first created ({record.id})[/]")
            continue
        if job.cancel:
            record = manager.cancel(record.id)
        submitted.append((job, record))
    if not submitted:
        return []
    labels = [job.label for job, _ in submitted]
    final = follow(manager, [record.id for _, record in submitted], console=console, timeout=timeout, labels=labels)
    return list(zip([job for job, _ in submitted], final, strict=True))


def _answer(manager: TaskManager, record: TaskRecord) -> Panel:
    """The generated answer and its citations, from the task's return value."""
    question = str((record.kwargs or {}).get("messages", [{}])[-1].get("content", ""))
    result = manager.result(record.id, timeout=10)
    body = Text(str(result.get("text", "")) if isinstance(result, dict) else str(result))
    citations = result.get("citations", []) if isinstance(result, dict) else []
    for citation in citations if isinstance(citations, list) else []:
        if isinstance(citation, dict):
            body.append(
                f"\n[{citation.get('number')}] {citation.get('document_id')} (score {citation.get('score')})", "dim"
            )
    return Panel(body, title=f"[bold]answer[/] to: {question}", border_style="green", expand=False)


def _outputs(manager: TaskManager, results: list[tuple[DemoJob, TaskRecord]]) -> list[str]:
    """Where each runbook run's output notebook went (also a failed one's: its error message names it)."""
    lines = []
    for job, record in results:
        if job.name != RUN_RUNBOOK:
            continue
        if record.state is TaskState.SUCCESS:
            where = str(manager.result(record.id, timeout=10)["output"])
        else:
            where = record.error.message.rsplit("output notebook: ", 1)[-1].rstrip(")") if record.error else "-"
        lines.append(f"[bold]output notebook[/] {job.kwargs['runbook']} ({record.state.value}): {where}")
    return lines


@app.command()
def demo(
    timeout: Annotated[float, typer.Option(min=1, help="Seconds each stage of jobs may take.")] = 180.0,
    api: Annotated[
        bool, typer.Option("--api/--no-api", help="Also serve the HTTP API during the demo (when installed).")
    ] = True,
    keep_logs: Annotated[
        bool, typer.Option("--keep-logs", help="Keep the processes' log files after a successful run.")
    ] = False,
) -> None:
    """Bring the local stack up, run real jobs from the catalogue, follow them live, print their records, stop."""
    log_dir = Path(tempfile.mkdtemp(prefix="claw-demo-"))
    settings = get_settings()
    # Answers come from the demo's own documents (no language-model service), kept in a
    # vector store that is discarded with the logs.
    env = {
        "CLAW_LLM_PROVIDER": "retrieval",
        "CLAW_VECTOR_STORE_URI": str(log_dir / "vectors"),
        "CLAW_DOCUMENT_ROOTS": str(DOCS),
    }
    stack = LocalStack(settings, log_dir=log_dir, env=env)
    knowledge = knowledge_ready(settings)
    tour = tour_ready(settings)
    stop = threading.Event()
    succeeded = False
    console.rule("[bold]claw_lab demo")
    with stop_signals(stop, stack):
        try:
            token = _start(stack, stop, api and api_available())
            if stop.is_set():
                return
            manager = TaskManager.default()
            catalogue = {task.name for task in manager.task_types()}
            listing = Table("registered task", "queue", "description", title="catalogue", header_style="bold")
            for task in manager.task_types():
                listing.add_row(task.name, task.queue, task.description)
            console.print(listing)
            if not knowledge and "claw.knowledge.vectorize_document" in catalogue:
                console.print("[yellow]the knowledge and AI jobs need: pip install 'claw_lab[knowledge]'[/]")
            results: list[tuple[DemoJob, TaskRecord]] = []
            for stage in plan(catalogue, knowledge=knowledge, tour=tour, timeout=timeout):
                if stage and not stop.is_set():
                    results += _run_stage(manager, stage, timeout)
            for job, record in results:
                console.print(record_view(record, kwargs=False, preview_chars=300))
                if job.name == "claw.ai.generate_response" and record.state is TaskState.SUCCESS:
                    console.print(_answer(manager, record))
            table = tasks_table(manager.list(limit=50).items, width=console.width)
            table.title = "every task of the demo, newest first"
            console.print(table)
            console.print(stats_view(manager.stats()))
            console.print(workers_table(manager.workers()))
            for line in _outputs(manager, results):
                console.print(line, soft_wrap=True)
            if token is not None and "api" in stack.urls:
                healthy = http_answers(stack.urls["api"] + "/health")
                console.print(f"[bold]api[/] {stack.urls['api']} answered /health: {'yes' if healthy else 'no'}")
                console.print(f"[bold]api docs[/] {stack.urls['docs']} [dim](while a stack runs: make up)[/]")
            lab = (
                "make lab opens notebooks/explore.ipynb"
                if module_available("jupyterlab")
                else "needs the notebook extra"
            )
            console.print(f"[bold]JupyterLab[/] http://127.0.0.1:{settings.lab_port}/lab [dim]({lab})[/]")
            wrong = [
                f"{job.label} ended {record.state}, expected {job.expect}"
                for job, record in results
                if record.state is not job.expect
            ]
            if wrong:
                raise StackFailed("; ".join(wrong))
            succeeded = not stop.is_set()
        except Exception:
            for child in stack.children:
                tail = child.output_tail()
                if tail:
                    errors.rule(f"{child.name} log ({child.log_file})")
                    errors.print(tail, markup=False, highlight=False)
            raise
        finally:
            with console.status("stopping"):
                codes = stack.stop()
            console.print(stopped_line(codes))
            if succeeded and not keep_logs:
                shutil.rmtree(log_dir, ignore_errors=True)
            else:
                console.print(f"[dim]process logs: {log_dir}[/]")
    if succeeded:
        console.rule("[bold green]demo finished: every job ended as expected")
