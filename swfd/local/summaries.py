"""Closed executions' summaries (WorkflowExecutionInfo), straight from their columns.

Why: a page of ``ListClosedWorkflowExecutions`` holds up to 1,000 of them.
Rebuilding each execution from its stored state to report nine summary fields
cost about 50 ms a page; even building 1,000 dicts from the columns and then
JSON-encoding them costs more than reading the rows. So SQLite writes each
summary's JSON itself (``json_object`` over the columns, in C), the few
optional members (parent, tags, stored as JSON already) are appended in
Python, and a page is a :class:`ClosedInfos`: the server writes it to the wire
with :meth:`ClosedInfos.to_json`; a Python caller (the engine's tests,
embedding code) reading an item gets the decoded dict. Timestamps are
rounded to milliseconds when recorded, so SQLite's 15 significant digits
write them as Python would.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii as _quote

from swfd.local.state import dumps_compact

# The SELECT list of a summary row: (json, tags, parent_wid, parent_rid,
# cancel_requested, start_ts, close_ts, seq). The last three are the page key.
COLUMNS = ("json_object('execution', json_object('workflowId', workflow_id, 'runId', run_id),"
           " 'workflowType', json_object('name', type_name, 'version', type_version),"
           " 'startTimestamp', start_ts, 'closeTimestamp', close_ts,"
           " 'executionStatus', 'CLOSED', 'closeStatus', close_status),"
           " tags, parent_wid, parent_rid, cancel_requested, start_ts, close_ts, seq")
START_TS, CLOSE_TS, SEQ = 5, 6, 7


def row_json(row: tuple) -> str:
    """The compact JSON of one closed execution's WorkflowExecutionInfo."""
    text, tags, parent_wid, parent_rid, cancel_requested = row[:5]
    parent = (f',"parent":{{"workflowId":{_quote(parent_wid)},"runId":{_quote(parent_rid)}}}'
              if parent_wid is not None else "")
    tag_list = f',"tagList":{tags}' if tags != "[]" else ""
    flag = "true" if cancel_requested else "false"
    return f'{text[:-1]}{parent}{tag_list},"cancelRequested":{flag}}}'


def info(row: tuple) -> dict:
    """The same WorkflowExecutionInfo as a dict (the shape of ``Execution.info``)."""
    return json.loads(row_json(row))


class ClosedInfos(Sequence):
    """A page of closed executions' summaries, from their rows (see the module doc)."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [info(row) for row in self.rows[index]]
        return info(self.rows[index])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, ClosedInfos)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ClosedInfos({len(self.rows)} executions)"

    def to_json(self) -> str:
        return "[" + ",".join(map(row_json, self.rows)) + "]"


def encode(result: dict) -> bytes:
    """An operation's result as the compact JSON body the server sends; values with a
    ``to_json`` (a ClosedInfos page, an EventList of stored events) are written from
    what they hold, the rest encoded in one go and the two spliced."""
    special = [key for key, value in result.items() if hasattr(value, "to_json")]
    if not special:
        return dumps_compact(result).encode("utf-8")
    plain = dumps_compact({k: v for k, v in result.items() if k not in special})
    parts = [plain[1:-1]] if plain != "{}" else []
    parts += [f"{_quote(key)}:{result[key].to_json()}" for key in special]
    return ("{" + ",".join(parts) + "}").encode("utf-8")
