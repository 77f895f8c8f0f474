"""Read-only operations: describe, history, list and count executions.

Why split open and closed: open executions are all in memory, so listing and
counting them never touches SQLite; closed ones are read through the indexes
of ``store.py`` (domain + start or close time), so the cost of a query
depends on what it returns, not on how many executions were ever closed. A
closed execution's summary (WorkflowExecutionInfo) comes from its columns,
never from decoding its state (``summaries.py``), and a count is answered
from an index alone.
Closed executions older than their domain's retention are invisible even
before the periodic sweep deletes them.
"""

from __future__ import annotations

import json

from swfd.local.faults import SWFFault
from swfd.local.paging import INTEGER, NUMBER, key_of, key_token, page, page_size
from swfd.local.state import EventList, Execution, compact
from swfd.local.summaries import CLOSE_TS, SEQ, START_TS, ClosedInfos

_ONE_OF = ("executionFilter", "typeFilter", "tagFilter", "closeStatusFilter")


class QueryOps:
    """Mixin of :class:`~swfd.local.engine.Engine`."""

    def _execution(self, domain: str, execution: dict) -> tuple[Execution, bool]:
        """(execution, is_open) for a WorkflowExecution reference; UnknownResourceFault if none."""
        dom = self.domain(domain, registered=False)
        wid, run_id = execution["workflowId"], execution.get("runId")
        ex = self.open_runs.get(run_id) if run_id else self.open_by_wid.get((domain, wid))
        if ex is not None and ex.domain == domain and ex.workflow_id == wid:
            return ex, True
        found = self.store.find_run_id(domain, wid, run_id)
        ex = self.store.load_execution(found) if found else None
        if ex is None or ex.close_ts <= self.now() - self.retention_seconds(dom):
            raise SWFFault(
                "UnknownResourceFault",
                f"Unknown execution: WorkflowExecution=[workflowId={wid}, runId={run_id or ''}]",
            )
        return ex, False

    def op_DescribeWorkflowExecution(self, p: dict) -> dict:
        ex, _ = self._execution(p["domain"], p["execution"])
        return compact({
            "executionInfo": ex.info(),
            "executionConfiguration": compact({
                "taskStartToCloseTimeout": ex.task_timeout,
                "executionStartToCloseTimeout": ex.execution_timeout,
                "taskList": {"name": ex.task_list},
                "taskPriority": ex.priority,
                "childPolicy": ex.child_policy,
                "lambdaRole": ex.lambda_role,
            }),
            "openCounts": {
                "openActivityTasks": len(ex.activities),
                "openDecisionTasks": 1 if ex.decision is not None else 0,
                "openTimers": len(ex.timers),
                "openChildWorkflowExecutions": len(ex.children),
                "openLambdaFunctions": 0,
            },
            "latestActivityTaskTimestamp": ex.latest_activity_ts,
            "latestExecutionContext": ex.latest_context,
        })

    def op_GetWorkflowExecutionHistory(self, p: dict) -> dict:
        ex, is_open = self._execution(p["domain"], p["execution"])
        total = len(ex.events) if is_open else self.store.event_count(ex.run_id)
        after = key_of(p, "GetWorkflowExecutionHistory", (INTEGER,))  # the last eventId returned
        size = page_size(p)
        if p.get("reverseOrder"):
            last = min(total, after[0] - 1) if after else total
            first = max(1, last - size + 1)
            more, next_key = first > 1, first
        else:
            first = after[0] + 1 if after else 1
            last = min(total, first + size - 1)
            more, next_key = last < total, last
        if last < first:  # a token past either end of the history
            events = []
        elif is_open:
            events = ex.events[first - 1:last]
        else:
            events = self.store.events(ex.run_id, first, last)
        if p.get("reverseOrder"):
            events.reverse()
        return compact({
            "events": EventList(events),
            "nextPageToken": key_token("GetWorkflowExecutionHistory", (next_key,))
            if more else None,
        })

    # -- lists and counts -----------------------------------------------------------

    @staticmethod
    def _check_filters(p: dict) -> None:
        given = [f for f in _ONE_OF if p.get(f)]
        if len(given) > 1:
            raise SWFFault(
                "ValidationException",
                f"only one of executionFilter, typeFilter, tagFilter and closeStatusFilter "
                f"may be given (got {', '.join(given)})",
            )

    def _open_matching(self, p: dict) -> list[Execution]:
        self.domain(p["domain"], registered=False)
        self._check_filters(p)
        tf = p.get("startTimeFilter") or {}
        oldest, latest = tf.get("oldestDate", 0), tf.get("latestDate")
        out = []
        for ex in self.open_runs.values():
            if ex.domain != p["domain"] or ex.start_ts < oldest:
                continue
            if latest is not None and ex.start_ts > latest:
                continue
            if p.get("executionFilter") and ex.workflow_id != p["executionFilter"]["workflowId"]:
                continue
            if p.get("tagFilter") and p["tagFilter"]["tag"] not in ex.tags:
                continue
            typ = p.get("typeFilter")
            if typ and (ex.workflow_type["name"] != typ["name"] or
                        (typ.get("version") and ex.workflow_type["version"] != typ["version"])):
                continue
            out.append(ex)
        return out

    def op_ListOpenWorkflowExecutions(self, p: dict) -> dict:
        descending = not p.get("reverseOrder")  # SWF: newest first unless reversed
        found = sorted(self._open_matching(p), key=lambda e: (e.start_ts, e.seq),
                       reverse=descending)
        items, token = page(found, p, "ListOpenWorkflowExecutions",
                            lambda e: (e.start_ts, e.seq), descending, (NUMBER, NUMBER))
        return compact({"executionInfos": [e.info() for e in items], "nextPageToken": token})

    def op_CountOpenWorkflowExecutions(self, p: dict) -> dict:
        return {"count": len(self._open_matching(p)), "truncated": False}

    def _closed_query(self, p: dict) -> tuple[list[str], list, str]:
        dom = self.domain(p["domain"], registered=False)
        self._check_filters(p)
        if bool(p.get("startTimeFilter")) == bool(p.get("closeTimeFilter")):
            raise SWFFault("ValidationException",
                           "exactly one of startTimeFilter and closeTimeFilter must be given")
        column = "start_ts" if p.get("startTimeFilter") else "close_ts"
        tf = p.get("startTimeFilter") or p.get("closeTimeFilter")
        # "+close_ts": the retention bound must not steer SQLite to the other index; the
        # time column's index covers every column a count filters on (store.py).
        where = [f"{column} >= ?", "+close_ts > ?"]
        args: list = [tf.get("oldestDate", 0), self.now() - self.retention_seconds(dom)]
        if tf.get("latestDate") is not None:
            where.append(f"{column} <= ?")
            args.append(tf["latestDate"])
        if p.get("executionFilter"):
            where.append("workflow_id = ?")
            args.append(p["executionFilter"]["workflowId"])
        if p.get("closeStatusFilter"):
            where.append("close_status = ?")
            args.append(p["closeStatusFilter"]["status"])
        if p.get("typeFilter"):
            where.append("type_name = ?")
            args.append(p["typeFilter"]["name"])
            if p["typeFilter"].get("version"):
                where.append("type_version = ?")
                args.append(p["typeFilter"]["version"])
        if p.get("tagFilter"):
            # instr() first: a cheap test that skips json_each on rows whose tags cannot
            # match (the tag as json.dumps wrote it into the stored list).
            tag = p["tagFilter"]["tag"]
            where.append("instr(tags, ?) > 0 AND"
                         " EXISTS (SELECT 1 FROM json_each(executions.tags) WHERE value = ?)")
            args.extend((json.dumps(tag), tag))
        return where, args, column

    def op_ListClosedWorkflowExecutions(self, p: dict) -> dict:
        where, args, column = self._closed_query(p)
        descending = not p.get("reverseOrder")
        after = key_of(p, "ListClosedWorkflowExecutions", (NUMBER, NUMBER))
        if after is not None:
            where.append(f"({column}, seq) {'<' if descending else '>'} (?, ?)")
            args.extend(after)
        size = page_size(p)
        rows = self.store.closed_summaries(p["domain"], where, args, column, descending,
                                           size + 1, bool(p.get("executionFilter")))
        more = len(rows) > size
        rows = rows[:size]
        last = rows[-1] if rows else None
        return compact({
            "executionInfos": ClosedInfos(rows),
            "nextPageToken": key_token("ListClosedWorkflowExecutions",
                                       (last[START_TS] if column == "start_ts"
                                        else last[CLOSE_TS], last[SEQ]))
            if more else None,
        })

    def op_CountClosedWorkflowExecutions(self, p: dict) -> dict:
        where, args, _ = self._closed_query(p)
        count = self.store.count_closed(p["domain"], where, args, bool(p.get("executionFilter")))
        return {"count": count, "truncated": False}

