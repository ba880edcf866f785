"""Every record a listing holds, read page by page (a page holds at most 500)."""

from __future__ import annotations

from typing import Any

from claw_lab.manager import Manager
from claw_lab.models import TaskRecord


def all_records(manager: Manager, **filters: Any) -> list[TaskRecord]:
    """The records matching ``filters``, newest first, following ``next_cursor`` to the end."""
    records: list[TaskRecord] = []
    cursor = None
    while True:
        page = manager.list(limit=500, cursor=cursor, **filters)
        records += page.items
        if not page.next_cursor:
            return records
        cursor = page.next_cursor
