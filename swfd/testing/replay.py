"""Check a workflow's code against recorded histories before a deploy: ``check_replay``.

A running execution's history was made by the code that was deployed when
it ran. Deploying code that would decide differently at some point of that
history (an activity added before another, a timer removed) breaks the
execution at its next decision. Record histories (``swfd history WORKFLOW_ID
--json > booking-1.json``, or ``swfd start ... --wait --json``) and replay
them in a test: :func:`check_replay` raises ``swfd.NonDeterminismError``
naming the event and the line where the code now disagrees.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Union

History = Union[str, "os.PathLike[str]", dict, list]


def load_history(history: History) -> list[dict[str, Any]]:
    """The events of ``history``, oldest first, with boto3's ``datetime`` timestamps.

    ``history``: the path of a file holding ``swfd history --json`` output (a list
    of events) or ``swfd start --wait --json`` output (an object with ``events``),
    that JSON already parsed, or a list of HistoryEvent dicts (boto3's). A
    ValueError names the file and the event that is not a history event.
    """
    where = "history"
    if isinstance(history, (str, os.PathLike)):
        where = str(history)
        try:
            history = json.loads(Path(history).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{where}: not a readable JSON history ({exc})") from None
    if isinstance(history, dict):
        if "events" not in history:
            raise ValueError(f"{where}: a JSON object without 'events': expected the output "
                             "of 'swfd history --json' or 'swfd start --wait --json'")
        history = history["events"]
    if not isinstance(history, list) or not history:
        raise ValueError(f"{where}: expected a non-empty list of history events, got "
                         f"{type(history).__name__}")
    events = []
    for index, event in enumerate(history):
        if not isinstance(event, dict) or not isinstance(event.get("eventType"), str) \
                or not isinstance(event.get("eventId"), int):
            raise ValueError(  # noqa: TRY004 - bad data in a file, not a caller's type error
                f"{where}: event #{index} is not a history event (it needs "
                f"eventType and an integer eventId): {str(event)[:200]}")
        stamp = event.get("eventTimestamp")
        if isinstance(stamp, str):
            try:
                event = {**event, "eventTimestamp": datetime.fromisoformat(stamp)}
            except ValueError:
                raise ValueError(f"{where}: event {event['eventId']} has an eventTimestamp "
                                 f"that is not ISO 8601: {stamp!r}") from None
        events.append(event)
    events.sort(key=lambda e: e["eventId"])
    if events[0]["eventType"] != "WorkflowExecutionStarted":
        raise ValueError(f"{where}: the history does not begin with WorkflowExecutionStarted "
                         f"(event {events[0]['eventId']} is {events[0]['eventType']}): "
                         "replay needs the whole history")
    return events


def dump_history(events: list[dict[str, Any]]) -> str:
    """``events`` as ``swfd history --json`` prints them (timestamps in ISO 8601), for a
    history recorded in a test (``WorkflowRun.save_history``) to replay later."""
    def encode(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"cannot encode {type(value).__name__} in a history")

    return json.dumps(events, default=encode, indent=2) + "\n"


def check_replay(definition: Any, history: History) -> None:
    """Replay ``definition`` (an ``async def`` workflow) against ``history``; raise
    ``swfd.NonDeterminismError`` where the code would now decide otherwise.

    ``history`` as :func:`load_history` takes it. A history of another workflow
    type is a ValueError (replaying it would prove nothing).
    """
    events = load_history(history)
    started = events[0].get("workflowExecutionStartedEventAttributes", {})
    recorded = started.get("workflowType", {})
    if recorded and (recorded.get("name"), recorded.get("version")) != (
            definition.name, definition.version):
        raise ValueError(f"the history is of workflow type {recorded.get('name')} "
                         f"{recorded.get('version')}, not {definition.name} "
                         f"{definition.version}")
    try:
        from swfd.flow.replay import check_history
    except ImportError as exc:
        raise ImportError("swfd.testing.check_replay needs swfd.flow (async def workflows), "
                          f"which this swfd does not have: {exc}") from exc
    check_history(definition, events)
