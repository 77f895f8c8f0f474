"""Admin commands of ``swfd --config FILE <command>``.

Each command is a function ``(settings, args) -> int``. Exit codes: 0 success,
2 usage or configuration error, 1 any other error (an unknown workflow id, an
unreachable endpoint, a failed plugin), always as a one-line message on stderr
rather than a traceback. Output is a readable table by default and JSON on
stdout with ``--json``.

With ``endpoint_url = embedded`` the commands talk to the running daemon's
endpoint; they never open its database (the daemon holds it locked).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from swfd.process import EXIT_ERROR, EXIT_OK, EXIT_USAGE

#: Attempts per SWF call when throttled or unreachable: an interactive command
#: fails within seconds instead of retrying forever like the daemon.
MAX_ATTEMPTS = 5
#: ``check`` is a quick diagnosis: it tries less.
CHECK_MAX_ATTEMPTS = 2

Handler = Callable[[Any, argparse.Namespace], int]


class CommandError(Exception):
    """A failure to report as one line; ``exit_code`` 1 (error) or 2 (usage)."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR):
        super().__init__(message)
        self.exit_code = exit_code


# --------------------------------------------------------------------------- parser


def add_commands(subparsers: Any) -> None:
    """Add the admin commands to the ``swfd`` argument parser."""
    _add(subparsers, "check", cmd_check, "check config, plugins and connectivity")
    _add(subparsers, "register", cmd_register, "register the domain and the plugins' types")

    start = _add(subparsers, "start", cmd_start, "start a workflow execution")
    start.add_argument("type", metavar="TYPE", help="workflow type name")
    start.add_argument(
        "--version", dest="type_version", metavar="V",
        help="type version (default: the only registered version of TYPE)",
    )
    start.add_argument("--task-list", metavar="TL", help="decision task list (default: the type's)")
    start.add_argument("--input", metavar="DATA", help="input, passed to SWF as is")
    start.add_argument("--workflow-id", metavar="ID", help="workflow id (default: a new UUID)")
    start.add_argument("--execution-timeout", metavar="S", type=_duration,
                       help="execution start-to-close, whole seconds")
    start.add_argument("--task-timeout", metavar="S", type=_duration,
                       help='decision task start-to-close, whole seconds or "NONE"')
    start.add_argument("--child-policy", choices=["TERMINATE", "REQUEST_CANCEL", "ABANDON"])
    start.add_argument("--tag", action="append", default=[], metavar="T", help="tag (up to 5)")
    start.add_argument("--wait", action="store_true", help="wait for the execution to close")
    start.add_argument(
        "--timeout", type=float, default=300.0, metavar="S",
        help="with --wait: give up after S seconds (default 300)",
    )

    for name, handler, help_text in (
        ("describe", cmd_describe, "describe a workflow execution"),
        ("history", cmd_history, "print the event history of a workflow execution"),
        ("cancel", cmd_cancel, "request cancellation of a workflow execution"),
    ):
        parser = _add(subparsers, name, handler, help_text)
        _execution_arguments(parser)

    listing = _add(subparsers, "list", cmd_list, "list open (or closed) workflow executions")
    listing.add_argument("--closed", action="store_true", help="closed executions instead")
    listing.add_argument("--type", dest="type_name", metavar="NAME", help="only this type")

    signal = _add(subparsers, "signal", cmd_signal, "signal a workflow execution")
    signal.add_argument("workflow_id", metavar="ID")
    signal.add_argument("signal_name", metavar="NAME")
    signal.add_argument("--input", metavar="DATA")
    signal.add_argument("--run-id", metavar="R", help="run id (default: the latest run)")

    terminate = _add(subparsers, "terminate", cmd_terminate, "terminate a workflow execution")
    _execution_arguments(terminate)
    terminate.add_argument("--reason", metavar="R")


def _add(subparsers: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    parser.set_defaults(handler=_reported(name, handler))
    return parser


def _duration(value: str) -> str:
    """An SWF duration as SWF wants it: whole seconds as a string, or NONE."""
    if value.upper() == "NONE":
        return "NONE"
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected whole seconds or NONE, got {value!r}")
    return str(int(value))


def _execution_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workflow_id", metavar="ID")
    parser.add_argument("--run-id", metavar="R", help="run id (default: the latest run)")


def _reported(name: str, handler: Handler) -> Handler:
    """Turn every expected failure into one line on stderr and an exit code."""

    @functools.wraps(handler)
    def run(settings: Any, args: argparse.Namespace) -> int:
        from swfd.swf.models import DoesNotExist, retry_bounds

        _setup_logging()
        attempts = CHECK_MAX_ATTEMPTS if name == "check" else MAX_ATTEMPTS
        try:
            with retry_bounds(max_attempts=attempts):
                return handler(settings, args)
        except CommandError as exc:
            _fail(name, str(exc))
            return exc.exit_code
        except DoesNotExist as exc:
            _fail(name, str(exc))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            _fail(name, f"{error.get('Code', 'error')}: {error.get('Message', exc)}")
        except BotoCoreError as exc:
            _fail(name, f"cannot reach SWF at {_endpoint_label(settings)}: {exc}")
        except KeyboardInterrupt:
            _fail(name, "interrupted")
        return EXIT_ERROR

    return run


def _setup_logging() -> None:
    """Retries (logged by swfd.swf.retry) reach stderr as plain ``swfd: ...`` lines."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("swfd: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)


def _fail(command: str, message: str) -> None:
    print(f"swfd: {command}: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- plumbing


def _endpoint_label(settings: Any) -> str:
    from swfd.swf.client import endpoint_url_for

    return endpoint_url_for(settings) or f"AWS ({settings.region})"


def _embedded_listening(settings: Any) -> tuple[bool, str]:
    """Whether something accepts connections at the embedded endpoint's address."""
    from swfd.swf.client import endpoint_url_for

    url = endpoint_url_for(settings)
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2.0):
            return True, url
    except OSError:
        return False, url


def not_listening_message(url: str) -> str:
    return f"no swfd local endpoint is listening on {url} — is the daemon running?"


def _client(settings: Any) -> Any:
    """A client for the configured endpoint; with embedded, only if the daemon serves it."""
    from swfd.swf.client import client_for

    if settings.is_embedded:
        listening, url = _embedded_listening(settings)
        if not listening:
            raise CommandError(not_listening_message(url))
    return client_for(settings)


def _execution(settings: Any, client: Any, args: argparse.Namespace):
    from swfd.swf.executions import latest_run_id
    from swfd.swf.models import WorkflowExecution

    run_id = args.run_id or latest_run_id(client, settings.domain, args.workflow_id)
    return WorkflowExecution(settings.domain, args.workflow_id, run_id, client=client)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _print_json(data: Any) -> None:
    print(json.dumps(data, default=_json_default, indent=2, sort_keys=False))


def _time(value: Any) -> str:
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _load_registry(settings: Any) -> Any:
    try:
        from swfd.plugins import load_plugins
    except ImportError as exc:
        raise CommandError(f"plugin support is not available: {exc}") from exc
    try:
        return load_plugins(settings)
    except Exception as exc:  # a broken plugin is reported by name, not as a traceback
        raise CommandError(f"plugins failed to load: {exc}") from exc


# --------------------------------------------------------------------------- history text

_SUMMARY_FIRST = (
    "workflowType", "activityType", "activityId", "timerId", "signalName", "markerName",
    "workflowExecution", "workflowId", "taskList", "decisionType", "cause", "reason",
    "timeoutType", "identity", "input", "result", "details", "control",
)
_SUMMARY_SKIP = {"decisionTaskCompletedEventId"}
SUMMARY_WIDTH = 100


def _short(value: Any, width: int = 40) -> str:
    if isinstance(value, dict):
        if {"name", "version"} <= value.keys():
            return f"{value['name']}/{value['version']}"
        if value.keys() == {"name"}:
            return str(value["name"])
        if "workflowId" in value:
            return str(value["workflowId"])
        return "{…}"
    if isinstance(value, list):
        return f"[{len(value)}]"
    if isinstance(value, datetime):
        return _time(value)
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def event_attributes(event: dict) -> dict:
    """The ``<eventType>EventAttributes`` of an event (empty when absent)."""
    event_type = event.get("eventType", "")
    return event.get(event_type[:1].lower() + event_type[1:] + "EventAttributes", {})


def summarize_event(event: dict, width: int = SUMMARY_WIDTH) -> str:
    """A one-line ``key=value`` summary of an event's attributes, important keys first."""
    attributes = event_attributes(event)
    keys = [k for k in _SUMMARY_FIRST if k in attributes]
    keys += [k for k in attributes if k not in keys and k not in _SUMMARY_SKIP]
    text = " ".join(f"{key}={_short(attributes[key])}" for key in keys)
    return text if len(text) <= width else text[: width - 1] + "…"


def history_table(events: list[dict]) -> str:
    return table(
        ["ID", "TIME", "TYPE", "SUMMARY"],
        ([e["eventId"], _time(e.get("eventTimestamp")), e["eventType"], summarize_event(e)]
         for e in events),
    )


# --------------------------------------------------------------------------- commands


def cmd_check(settings: Any, args: argparse.Namespace) -> int:
    """Config, plugins, connectivity: one line each, exit 1 if any failed."""
    results: list[dict[str, Any]] = []

    def report(check: str, status: str, detail: str) -> None:
        results.append({"check": check, "status": status, "detail": detail})

    report("config", "ok", f"{settings.path}: domain {settings.domain!r}, "
           f"endpoint {_endpoint_label(settings)}")
    try:
        registry = _load_registry(settings)
        activities = sorted(f"{n}/{v}" for n, v in registry.activities)
        workflows = sorted(f"{n}/{v}" for n, v in registry.workflows)
        report("plugins", "ok", f"{len(activities)} activity types"
               f"{' (' + ', '.join(activities) + ')' if activities else ''}, "
               f"{len(workflows)} workflow types"
               f"{' (' + ', '.join(workflows) + ')' if workflows else ''}")
    except CommandError as exc:
        report("plugins", "FAIL", str(exc))
    _check_endpoint(settings, report)

    failed = any(r["status"] == "FAIL" for r in results)
    if args.json:
        _print_json({"ok": not failed, "checks": results})
    else:
        print(table(["CHECK", "STATUS", "DETAIL"],
                    ([r["check"], r["status"], r["detail"]] for r in results)))
    return EXIT_ERROR if failed else EXIT_OK


def _check_endpoint(settings: Any, report: Callable[[str, str, str], None]) -> None:
    from swfd.swf.client import client_for
    from swfd.swf.models import DoesNotExist, Domain

    if settings.is_embedded:
        listening, url = _embedded_listening(settings)
        if not listening:
            # Not a config error: the daemon starts its embedded endpoint itself.
            report("endpoint", "warn", not_listening_message(url)
                   + " (the daemon starts it; nothing more to check until then)")
            return
    label = _endpoint_label(settings)
    try:
        domain = Domain(settings.domain, client=client_for(settings)).upstream()
    except DoesNotExist:
        if settings.register:
            report("endpoint", "ok", f"{label} answers; domain {settings.domain!r} is not "
                   "registered yet (the daemon registers it at start)")
        else:
            report("endpoint", "FAIL", f"{label} answers, but domain {settings.domain!r} does "
                   "not exist and register = no (run `swfd register`)")
        return
    except ClientError as exc:
        error = exc.response.get("Error", {})
        report("endpoint", "FAIL", f"{label}: {error.get('Code')}: {error.get('Message')}")
        return
    except BotoCoreError as exc:
        report("endpoint", "FAIL", f"cannot reach SWF at {label}: {exc}")
        return
    report("endpoint", "ok", f"{label} answers; domain {domain.name!r} is {domain.status} "
           f"(retention {domain.retention_period} days)")


def cmd_register(settings: Any, args: argparse.Namespace) -> int:
    """Register the domain and every plugin type; print drift between plugins and SWF."""
    from swfd.swf.registration import register_all

    registry = _load_registry(settings)
    client = _client(settings)
    differences = register_all(client, settings.domain, registry, settings.retention_days)
    activities = sorted(f"{n}/{v}" for n, v in registry.activities)
    workflows = sorted(f"{n}/{v}" for n, v in registry.workflows)
    if args.json:
        _print_json({"domain": settings.domain, "activityTypes": activities,
                     "workflowTypes": workflows, "differences": differences})
        return EXIT_OK
    print(f"domain {settings.domain}: {len(activities)} activity types, "
          f"{len(workflows)} workflow types registered")
    for line in differences:
        print(f"differs: {line}")
    return EXIT_OK


def _resolve_version(settings: Any, client: Any, name: str) -> str:
    from swfd.swf.models import REGISTERED
    from swfd.swf.querysets import WorkflowTypeQuerySet

    types = WorkflowTypeQuerySet(settings.domain, client).filter(status=REGISTERED, name=name)
    versions = sorted(t.version for t in types)
    if not versions:
        raise CommandError(
            f"no registered workflow type named {name!r} in domain {settings.domain!r}"
        )
    if len(versions) > 1:
        raise CommandError(
            f"workflow type {name!r} has several registered versions ({', '.join(versions)}): "
            "pass --version",
            EXIT_USAGE,
        )
    return versions[0]


def cmd_start(settings: Any, args: argparse.Namespace) -> int:
    """Start an execution; with --wait, wait for it to close and print its history."""
    from swfd.swf.executions import start_workflow_execution, wait_until_closed

    if len(args.tag) > 5:
        raise CommandError(f"at most 5 --tag values, got {len(args.tag)}", EXIT_USAGE)
    client = _client(settings)
    version = args.type_version or _resolve_version(settings, client, args.type)
    execution = start_workflow_execution(
        client,
        settings.domain,
        args.type,
        version,
        args.workflow_id,
        task_list=args.task_list,
        input=args.input,
        execution_start_to_close_timeout=args.execution_timeout,
        task_start_to_close_timeout=args.task_timeout,
        child_policy=args.child_policy,
        tag_list=args.tag,
    )
    started = {
        "domain": settings.domain,
        "workflowId": execution.workflow_id,
        "runId": execution.run_id,
        "workflowType": {"name": args.type, "version": version},
    }
    if not args.wait:
        if args.json:
            _print_json(started)
        else:
            print(f"started {args.type}/{version} workflow id {execution.workflow_id} "
                  f"run {execution.run_id}")
        return EXIT_OK

    if not args.json:
        print(f"started {args.type}/{version} workflow id {execution.workflow_id} "
              f"run {execution.run_id}; waiting up to {args.timeout:g} s", flush=True)
    closed = wait_until_closed(execution, args.timeout)
    if closed is None:
        raise CommandError(
            f"workflow id {execution.workflow_id} run {execution.run_id} is still open "
            f"after {args.timeout:g} s"
        )
    events = execution.history()
    result = _close_attributes(events)
    if args.json:
        _print_json({**started, "closeStatus": closed.close_status, **result, "events": events})
    else:
        print(history_table(events))
        print(" ".join([f"closed: {closed.close_status}"]
                       + [f"{key}={_short(value, 200)}" for key, value in result.items()]))
    return EXIT_OK if closed.close_status == "COMPLETED" else EXIT_ERROR


def _close_attributes(events: list[dict]) -> dict:
    """result/reason/details of the closing event, for scripts waiting on an execution."""
    if not events:
        return {}
    attributes = event_attributes(events[-1])
    return {k: attributes[k] for k in ("result", "reason", "details", "cause") if k in attributes}


def cmd_describe(settings: Any, args: argparse.Namespace) -> int:
    execution = _execution(settings, _client(settings), args)
    response = execution.describe()
    if args.json:
        _print_json(response)
        return EXIT_OK
    info = response["executionInfo"]
    config = response.get("executionConfiguration", {})
    counts = response.get("openCounts", {})
    rows = [
        ("workflow id", info["execution"]["workflowId"]),
        ("run id", info["execution"]["runId"]),
        ("type", _short(info["workflowType"])),
        ("status", info["executionStatus"]),
        ("close status", info.get("closeStatus", "")),
        ("started", _time(info.get("startTimestamp"))),
        ("closed", _time(info.get("closeTimestamp"))),
        ("cancel requested", "yes" if info.get("cancelRequested") else "no"),
        ("tags", ", ".join(info.get("tagList", []))),
        ("parent", _short(info["parent"]) if info.get("parent") else ""),
        ("task list", _short(config.get("taskList", {}))),
        ("task priority", config.get("taskPriority", "")),
        ("child policy", config.get("childPolicy", "")),
        ("execution timeout", config.get("executionStartToCloseTimeout", "")),
        ("task timeout", config.get("taskStartToCloseTimeout", "")),
        ("open activities", counts.get("openActivityTasks", 0)),
        ("open decisions", counts.get("openDecisionTasks", 0)),
        ("open timers", counts.get("openTimers", 0)),
        ("open children", counts.get("openChildWorkflowExecutions", 0)),
        ("latest activity task", _time(response.get("latestActivityTaskTimestamp"))),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}".rstrip())
    return EXIT_OK


def cmd_history(settings: Any, args: argparse.Namespace) -> int:
    events = _execution(settings, _client(settings), args).history()
    if args.json:
        _print_json(events)
    else:
        print(history_table(events))
    return EXIT_OK


def cmd_list(settings: Any, args: argparse.Namespace) -> int:
    from swfd.swf.models import CLOSED, OPEN
    from swfd.swf.querysets import WorkflowExecutionQuerySet

    queryset = WorkflowExecutionQuerySet(settings.domain, _client(settings))
    executions = queryset.filter(CLOSED if args.closed else OPEN, workflow_type=args.type_name)
    executions.sort(key=lambda e: e.start_timestamp or datetime.min.replace(tzinfo=timezone.utc))
    if args.json:
        _print_json([
            {
                "workflowId": e.workflow_id,
                "runId": e.run_id,
                "workflowType": {"name": e.workflow_type[0], "version": e.workflow_type[1]}
                if e.workflow_type else None,
                "executionStatus": e.status,
                "closeStatus": e.close_status,
                "startTimestamp": e.start_timestamp,
                "closeTimestamp": e.close_timestamp,
                "tagList": list(e.tag_list),
                "cancelRequested": e.cancel_requested,
            }
            for e in executions
        ])
        return EXIT_OK
    print(table(
        ["WORKFLOW ID", "RUN ID", "TYPE", "STATUS", "STARTED", "CLOSED"],
        ([e.workflow_id, e.run_id, "/".join(e.workflow_type or ()),
          e.close_status or e.status, _time(e.start_timestamp), _time(e.close_timestamp)]
         for e in executions),
    ))
    return EXIT_OK


def _acted(args: argparse.Namespace, verb: str, execution: Any) -> int:
    if args.json:
        _print_json({"workflowId": execution.workflow_id, "runId": execution.run_id,
                     "action": verb})
    else:
        print(f"{verb} workflow id {execution.workflow_id} run {execution.run_id}")
    return EXIT_OK


def cmd_signal(settings: Any, args: argparse.Namespace) -> int:
    execution = _execution(settings, _client(settings), args)
    execution.signal(args.signal_name, input=args.input)
    return _acted(args, f"sent signal {args.signal_name!r} to", execution)


def cmd_cancel(settings: Any, args: argparse.Namespace) -> int:
    execution = _execution(settings, _client(settings), args)
    execution.request_cancel()
    return _acted(args, "requested cancellation of", execution)


def cmd_terminate(settings: Any, args: argparse.Namespace) -> int:
    execution = _execution(settings, _client(settings), args)
    execution.terminate(reason=args.reason)
    return _acted(args, "terminated", execution)
