"""Lifecycle events in the form the registry's Lua scripts take them, and their batching.

A `Transition` names the task, the state it moves to, the attempt, when it happened and
the record fields it carries (under the short names of `FIELDS`); `coalesce` shortens a
worker's batch without changing what the registry ends up recording.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from claw_lab.models import TaskState

# Record field -> short hash field. Short names matter at a million records.
FIELDS = {
    "name": "n", "queue": "q", "priority": "p", "state": "s", "kwargs": "k", "retries": "a",
    "submitted_at": "ts", "started_at": "tb", "finished_at": "tf", "runtime": "rt",
    "worker": "w", "progress_current": "pc", "progress_total": "pt", "progress_message": "pm",
    "error_type": "et", "error_message": "em", "error_traceback": "eb",
    "result_preview": "rp", "retry_of": "ro", "retried_by": "rb", "cancel_requested": "cx", "redeliveries": "rd",
}  # fmt: skip
# Times are stored as integer milliseconds: a listpack keeps those in 8 bytes, not ~18.
_TIME_FIELDS = frozenset({"submitted_at", "started_at", "finished_at"})


def json_preview(value: object, chars: int) -> str:
    """``value`` as JSON text when that fits in ``chars``, else a JSON object saying it was cut.

    The cut form is ``{"truncated": true, "chars": <full length>, "preview": "<first chars>"}``;
    a value JSON cannot encode is written as its ``str``.
    """
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= chars:
        return text
    return json.dumps({"truncated": True, "chars": len(text), "preview": text[:chars]}, ensure_ascii=False)


def ms(seconds: float) -> int:
    """Epoch seconds as the integer milliseconds the registry stores."""
    return round(seconds * 1000)


@dataclass(frozen=True)
class Transition:
    """One lifecycle event for the registry's state machine (see ``apply_event`` in Lua).

    ``init`` holds static fields written only where absent; ``set`` fields are written
    when the transition is accepted, ``note`` fields whatever the verdict; ``via`` names
    a state passed through on the way (shown in the event stream); ``expect`` is an
    optional compare-and-set guard; ``redelivered`` counts one more delivery of the task's
    message (whatever the verdict).
    Keys are record field names (``FIELDS``); values are strings or numbers.
    """

    task_id: str
    state: TaskState
    attempt: int = 0
    at: float = field(default_factory=time.time)
    init: Mapping[str, object] = field(default_factory=dict)
    set: Mapping[str, object] = field(default_factory=dict)
    note: Mapping[str, object] = field(default_factory=dict)
    via: TaskState | None = None
    expect: Mapping[str, object] | None = None
    redelivered: bool = False

    def to_json(self) -> str:
        """The event as the JSON the Lua script decodes, with short field names."""
        body: dict[str, object] = {
            "id": self.task_id,
            "state": str(self.state),
            "attempt": self.attempt,
            "at": str(ms(self.at)),
            "init": _short(self.init),
            "set": _short(self.set),
        }
        if self.note:
            body["note"] = _short(self.note)
        if self.via is not None:
            body["via"] = str(self.via)
        if self.expect is not None:
            body["expect"] = _short(self.expect)
        if self.redelivered:
            body["rd"] = 1
        return json.dumps(body, separators=(",", ":"))


def coalesce(batch: Sequence[Transition]) -> list[Transition]:
    """The same history in fewer events: a STARTED directly followed by the task's end
    becomes one event passing ``via`` STARTED, and a run of PROGRESS keeps only the last.

    Only adjacent events of one task attempt merge, so the resulting states, fields,
    counts and stream entries are those of the full sequence.
    """
    merged: list[Transition | None] = []
    last: dict[tuple[str, int], int] = {}
    for transition in batch:
        key = (transition.task_id, transition.attempt)
        previous_index = last.get(key)
        previous = merged[previous_index] if previous_index is not None else None
        if previous is not None and previous_index is not None:
            if transition.state in _ENDINGS and previous.state is TaskState.STARTED and previous.via is None:
                transition = replace(
                    transition,
                    init={**previous.init, **transition.init},
                    set={**previous.set, **transition.set},
                    note={**previous.note, **transition.note},
                    via=TaskState.STARTED,
                    redelivered=previous.redelivered or transition.redelivered,
                )
                merged[previous_index] = None
            elif transition.state is TaskState.PROGRESS and previous.state is TaskState.PROGRESS:
                transition = replace(
                    transition, set={**previous.set, **transition.set}, note={**previous.note, **transition.note}
                )
                merged[previous_index] = None
        last[key] = len(merged)
        merged.append(transition)
    return [transition for transition in merged if transition is not None]


_ENDINGS = frozenset({TaskState.SUCCESS, TaskState.FAILURE})


def _short(values: Mapping[str, object]) -> dict[str, str]:
    return {
        FIELDS[key]: str(ms(float(value))) if key in _TIME_FIELDS else _text(value)  # type: ignore[arg-type]
        for key, value in values.items()
        if value is not None
    }


def _text(value: object) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)
