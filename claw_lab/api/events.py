"""Route ``GET /events``: lifecycle events after a cursor, as a long-poll page or a server-sent event stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from claw_lab.api.deps import ManagerDep, Viewer
from claw_lab.api.errors import responses
from claw_lab.errors import ClawLabError
from claw_lab.manager import Manager
from claw_lab.models import EventPage

router = APIRouter(tags=["events"])

MAX_WAIT = 30.0
LAMBDA_MAX_WAIT = 20.0  # API Gateway gives up on an integration after 30 s
STREAM_KEEPALIVE = 15.0
CURSOR_PATTERN = r"^(0|\d{1,19}-\d{1,19})$"  # stream ids are two uint64s


def _wants_stream(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/event-stream" in accept and "aws.event" not in request.scope


@router.get(
    "/events",
    response_model=EventPage,
    responses={
        **responses(400, 401, 403, 422, 503),
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "An EventPage as JSON; with `Accept: text/event-stream` (not on Lambda) an endless stream "
            "of `task` events whose `id` resumes the stream through `Last-Event-ID`.",
        },
    },
)
async def events(
    request: Request,
    manager: ManagerDep,
    caller: Viewer,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="`cursor` of the previous page; omit for 'from now'")
    ] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT, description="seconds to wait for a first event")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", pattern=CURSOR_PATTERN)] = None,
) -> EventPage | Response:
    """Lifecycle events after ``cursor``, oldest first; ``wait`` long-polls, ``text/event-stream`` streams."""
    start = last_event_id or cursor
    if _wants_stream(request):
        first = await run_in_threadpool(manager.events, start, wait=0, limit=limit)
        return StreamingResponse(
            _stream(request, manager, first, limit),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    if "aws.event" in request.scope:
        wait = min(wait, LAMBDA_MAX_WAIT)
    return await run_in_threadpool(partial(manager.events, start, wait=wait, limit=limit))


async def _stream(request: Request, manager: Manager, page: EventPage, limit: int) -> AsyncIterator[str]:
    yield f"retry: 2000\nid: {page.cursor}\n\n"
    while True:
        for event in page.events:
            yield f"id: {event.id}\nevent: task\ndata: {event.model_dump_json()}\n\n"
        if await request.is_disconnected():
            return
        if not page.events:
            yield ": keepalive\n\n"
        try:
            page = await run_in_threadpool(partial(manager.events, page.cursor, wait=STREAM_KEEPALIVE, limit=limit))
        except ClawLabError as exc:
            yield f"event: error\ndata: {json.dumps({'error': exc.to_dict()})}\n\n"
            return
