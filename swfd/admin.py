"""Admin commands of ``swfd --config FILE <command>``.

Each command is a function ``(settings, args) -> int``. Exit codes: 0 success,
2 usage or configuration error, 1 any other error (an unknown workflow id, an
unreachable endpoint, a failed plugin), always as a one-line message on stderr
rather than a traceback; an error answer is summarized in that line (SWF's code
and message, or what a server that is not SWF sent instead). Output is a
readable table by default; with ``--json`` it is data on stdout (ids, statuses,
events, never sentences, never boto's ``ResponseMetadata``).

With ``endpoint_url = embedded`` the commands talk to the running daemon's
endpoint; they never open its database (the daemon holds it locked).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import re
import shlex
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from swfd.process import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from swfd.registry import pool_coverage

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
    check = _add(subparsers, "check", cmd_check,
                 "check config, plugins, pools and connectivity")
    check.add_argument("--strict", action="store_true",
                       help="exit 1 on warnings too: a pool with no type on its task list, "
                       "a type no pool polls, no plugin loaded")
    check.add_argument("-v", "--verbose", action="store_true",
                       help="log at DEBUG on stderr, with the traceback of a plugin that "
                       "fails to load")
    _add(subparsers, "register", cmd_register, "register the domain and the plugins' types")

    start = _add(subparsers, "start", cmd_start, "start a workflow execution")
    start.add_argument("type", metavar="TYPE", help="workflow type name")
    start.add_argument(
        "--type-version", dest="type_version", metavar="V",
        help="workflow type version (default: the only registered version of TYPE)",
    )
    start.add_argument("--version", action=_VersionAction)
    start.add_argument("--task-list", metavar="TL", help="decision task list (default: the type's)")
    start.add_argument(
        "--input", metavar="DATA",
        help="the execution's input: JSON when the type's codec is json (the default; "
        "checked when a loaded plugin defines TYPE), any string with codec raw",
    )
    start.add_argument("--workflow-id", metavar="ID", help="workflow id (default: a new UUID)")
    start.add_argument("--execution-timeout", metavar="S", type=_duration,
                       help="execution start-to-close, whole seconds")
    start.add_argument("--task-timeout", metavar="S", type=_duration,
                       help='decision task start-to-close, whole seconds or "NONE"')
    start.add_argument("--child-policy", choices=["TERMINATE", "REQUEST_CANCEL", "ABANDON"])
    start.add_argument("--tag", action="append", default=[], metavar="T", help="tag (up to 5)")
    start.add_argument("--wait", action="store_true",
                       help="wait for the execution to close, printing decider errors as "
                       "they are recorded")
    start.add_argument(
        "--timeout", type=float, default=300.0, metavar="S",
        help="with --wait: give up after S seconds (default 300)",
    )
    start.add_argument("--fail-on-decider-error", action="store_true",
                       help="with --wait: exit 1 as soon as a decider error is recorded")

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


class _VersionAction(argparse.Action):
    """``start --version`` is swfd's version, as ``swfd --version`` is; the type's
    version is ``--type-version``, and ``--version V`` says so instead of guessing."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                         nargs="?", help=argparse.SUPPRESS)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if values is not None:
            parser.error(f"--version is swfd's own version and takes no value; give the "
                         f"workflow type's version as --type-version {shlex.quote(values)}")
        from swfd import __version__

        print(f"swfd {__version__}")
        parser.exit(EXIT_OK)


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
        from swfd.swf.models import DoesNotExist, NotAnSWFReply, retry_bounds

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
        except NotAnSWFReply as exc:
            _fail(name, f"{exc} (endpoint {_endpoint_label(settings)})")
        except ClientError as exc:
            _fail(name, remote_error(exc, _endpoint_label(settings)))
        except ParamValidationError as exc:
            _fail(name, f"SWF would refuse this request: {one_line(str(exc))}")
            return EXIT_USAGE
        except BotoCoreError as exc:
            _fail(name, boto_error(exc, _endpoint_label(settings)))
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


def _count(number: int, noun: str) -> str:
    """``1 activity type``, ``2 activity types``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def one_line(text: str, width: int = 300) -> str:
    """``text`` with its whitespace runs collapsed, cut to ``width`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


_HTML = re.compile(r"<\s*(!doctype|html|head|body|title)\b", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)


def remote_error(exc: ClientError, label: str) -> str:
    """One line for an error answer: SWF's error code and message, or, when the
    server is not SWF (an HTML page, a bare HTTP status), what it answered instead."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if _HTML.search(message):
        title = _HTML_TITLE.search(message)
        page = f"an HTML page titled {one_line(title.group(1), 80)!r}" if title else "an HTML page"
        return (f"{label} answered HTTP {status} with {page}, not an SWF error: "
                "is it an SWF endpoint?")
    if not code or code.isdigit():  # SWF's errors always carry a named type
        detail = f": {one_line(message, 120)}" if message else ""
        return (f"{label} answered HTTP {status}{detail}, not an SWF error: "
                "is it an SWF endpoint?")
    return f"{code}: {one_line(message)}" if message else code


def boto_error(exc: BotoCoreError, label: str) -> str:
    """One line for a failure before any answer (connection, timeout, credentials)."""
    if isinstance(exc, NoCredentialsError):
        return (f"no AWS credentials for {label} (boto3's chain: instance profile, "
                "environment, shared files)")
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return f"cannot reach SWF at {label}: {one_line(str(exc))}"
    return f"SWF at {label}: {type(exc).__name__}: {one_line(str(exc))}"


# --------------------------------------------------------------------------- plumbing


def _endpoint_label(settings: Any) -> str:
    from swfd.swf.client import endpoint_url_for

    try:
        return endpoint_url_for(settings) or f"AWS ({settings.region})"
    except ValueError:  # [embedded] port = 0 and no daemon to say which port it bound
        return "the embedded endpoint (port 0: bound by the daemon)"


def _embedded_unreachable(settings: Any) -> str | None:
    """Why the embedded endpoint cannot be reached now, or None when something
    accepts connections at its address."""
    from swfd.swf.client import endpoint_url_for

    try:
        url = endpoint_url_for(settings)
    except ValueError as exc:
        return f"{exc} — is the daemon running?"
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2.0):
            return None
    except OSError:
        return not_listening_message(url)


def not_listening_message(url: str) -> str:
    return f"no swfd local endpoint is listening on {url} — is the daemon running?"


def _client(settings: Any) -> Any:
    """A client for the configured endpoint; with embedded, only if the daemon serves it."""
    from swfd.swf.client import client_for

    if settings.is_embedded:
        problem = _embedded_unreachable(settings)
        if problem:
            raise CommandError(problem)
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


def _without_metadata(data: Any) -> Any:
    """``data`` without boto's ``ResponseMetadata`` (HTTP details, not SWF data)."""
    if isinstance(data, dict):
        return {k: _without_metadata(v) for k, v in data.items() if k != "ResponseMetadata"}
    if isinstance(data, list):
        return [_without_metadata(v) for v in data]
    return data


def _print_json(data: Any) -> None:
    print(json.dumps(_without_metadata(data), default=_json_default, indent=2,
                     sort_keys=False))


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
    """Config, plugins, pools, connectivity: a line each (a line per warning).

    Exit 1 when a check failed, or with ``--strict`` when one warned; ``skip``
    (the embedded endpoint before the daemon runs) is neither.
    """
    if args.verbose:
        logging.getLogger("swfd").setLevel(logging.DEBUG)
    results: list[dict[str, Any]] = []

    def report(check: str, status: str, detail: str, **data: Any) -> None:
        results.append({"check": check, "status": status, "detail": one_line(detail, 2000),
                        **data})

    report("config", "ok", f"{settings.path}: domain {settings.domain!r}, "
           f"endpoint {_endpoint_label(settings)}", path=settings.path,
           domain=settings.domain, endpoint=_endpoint_label(settings))
    if settings.idle_console_warning:
        report("config", "warn", settings.idle_console_warning)
    registry = _check_plugins(settings, args, report)
    if registry is not None:
        _check_pools(settings, registry, report)
    client = _check_endpoint(settings, report)
    if client is not None and registry is not None:
        _check_types(settings, registry, client, report)

    failed = any(r["status"] == "FAIL" for r in results)
    warned = any(r["status"] == "warn" for r in results)
    ok = not failed and not (args.strict and warned)
    if args.json:
        _print_json({"ok": ok, "checks": results})
    else:
        print(table(["CHECK", "STATUS", "DETAIL"],
                    ([r["check"], r["status"], r["detail"]] for r in results)))
    return EXIT_OK if ok else EXIT_ERROR


def _check_plugins(settings: Any, args: argparse.Namespace,
                   report: Callable[..., None]) -> Any:
    """Report the loaded plugins and their types; the registry, or None when there is
    nothing to check pools against (plugins failed, or none loaded)."""
    from swfd.plugins import pm_names

    try:
        registry = _load_registry(settings)
    except CommandError as exc:
        plugin_error = exc.__cause__
        has_traceback = plugin_error is not None and plugin_error.__cause__ is not None
        hint = " (swfd check -v shows the traceback)" if has_traceback and not args.verbose else ""
        report("plugins", "FAIL", f"{exc}{hint}")
        return None
    names = pm_names(registry.pm) if registry.pm is not None else []
    activities = sorted(f"{n}/{v}" for n, v in registry.activities)
    workflows = sorted(f"{n}/{v}" for n, v in registry.workflows)
    data = {"plugins": names, "activityTypes": activities, "workflowTypes": workflows}
    if not names:
        report("plugins", "warn", f"no swfd plugin loaded: {_why_no_plugin(settings)}; "
               "the pools would poll but have nothing to run", **data)
        return None

    def listed(number: int, noun: str, items: list[str]) -> str:
        return _count(number, noun) + (f" ({', '.join(items)})" if items else "")

    report("plugins", "ok", f"{listed(len(names), 'plugin', names)}: "
           f"{listed(len(activities), 'activity type', activities)}, "
           f"{listed(len(workflows), 'workflow type', workflows)}", **data)
    return registry


def _why_no_plugin(settings: Any) -> str:
    from swfd.plugins import ENTRY_POINT_GROUP, ENV_DISABLE_AUTOLOAD, _autoload_disabled

    if settings.plugins is not None:
        return "`plugins =` in [swfd] names none"
    if _autoload_disabled():
        return f"{ENV_DISABLE_AUTOLOAD} is set and [swfd] has no `plugins =` list"
    return (f"none is installed in this Python (no entry point in group "
            f"{ENTRY_POINT_GROUP!r}; see the README's \"Write a plugin\")")


def _check_pools(settings: Any, registry: Any, report: Callable[..., None]) -> None:
    problems = pool_coverage(settings, registry)
    for problem in problems:
        report("pools", "warn", **problem)
    if not problems:
        report("pools", "ok", f"{_count(len(settings.pools), 'pool')}, each polling a task "
               "list with types on it; every type's task list has a pool")


def _check_types(settings: Any, registry: Any, client: Any,
                 report: Callable[..., None]) -> None:
    """Drift between the plugins' declared type defaults and SWF's: a line per field, then
    what to do about it; nothing when every registered type matches."""
    from swfd.swf.registration import NEW_VERSION_HINT, type_drift

    try:
        lines, _unregistered = type_drift(client, settings.domain, registry)
    except ClientError as exc:
        report("types", "FAIL", remote_error(exc, _endpoint_label(settings)))
        return
    except BotoCoreError as exc:
        report("types", "FAIL", boto_error(exc, _endpoint_label(settings)))
        return
    for line in lines:
        report("types", "warn", f"differs: {line}", difference=line.as_dict())
    if lines:
        report("types", "warn", NEW_VERSION_HINT)


def _check_endpoint(settings: Any, report: Callable[..., None]) -> Any:
    """Report whether the endpoint answers; the client when the domain exists, else None."""
    from swfd.swf.client import client_for
    from swfd.swf.models import Domain, swf_call
    from swfd.swf.retry import error_code

    label = _endpoint_label(settings)
    if settings.is_embedded:
        problem = _embedded_unreachable(settings)
        if problem:
            # Not a config error: the daemon starts its embedded endpoint itself.
            report("endpoint", "skip", problem + " (the daemon starts it; nothing more to "
                   "check until then)", url=label)
            return
    try:
        client = client_for(settings)
        response = swf_call(client, "DescribeDomain", name=settings.domain)
    except ClientError as exc:
        if error_code(exc) != "UnknownResourceFault":
            report("endpoint", "FAIL", remote_error(exc, label), url=label)
        elif settings.register:
            report("endpoint", "ok", f"{label} answers; domain {settings.domain!r} is not "
                   "registered yet (the daemon registers it at start)", url=label,
                   domainStatus=None)
        else:
            report("endpoint", "FAIL", f"{label} answers, but domain {settings.domain!r} does "
                   "not exist and register = no (run `swfd register`)", url=label,
                   domainStatus=None)
        return
    except BotoCoreError as exc:
        report("endpoint", "FAIL", boto_error(exc, label), url=label)
        return
    if not isinstance(response.get("domainInfo"), dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        report("endpoint", "FAIL", f"{label} answered HTTP {status}, but not as SWF does "
               "(no domainInfo): is it an SWF endpoint?", url=label)
        return
    domain = Domain.from_description(response)
    report("endpoint", "ok", f"{label} answers; domain {domain.name!r} is {domain.status} "
           f"(retention {_count(domain.retention_period, 'day')})", url=label,
           domainStatus=domain.status)
    return client


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
                     "workflowTypes": workflows,
                     "differences": [d.as_dict() for d in differences]})
        return EXIT_OK
    print(f"domain {settings.domain}: {_count(len(activities), 'activity type')}, "
          f"{_count(len(workflows), 'workflow type')} registered")
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
            "pass --type-version",
            EXIT_USAGE,
        )
    return versions[0]


def _check_input(settings: Any, name: str, version: str, data: str) -> None:
    """Refuse an input the workflow's deciders could not decode, before it is started.

    The codec comes from the loaded plugins' definition of the type; a type no
    loaded plugin defines is not checked (its deciders may run elsewhere).
    """
    from swfd.codecs import decode
    from swfd.errors import CodecError

    try:
        registry = _load_registry(settings)
    except CommandError as exc:
        _fail("start", f"--input not checked against the type's codec: {exc}")
        return
    definition = registry.workflow(name, version)
    if definition is None:
        return
    try:
        decode(definition.codec, data, f"--input of workflow type {name}/{version}")
    except CodecError as exc:
        raise CommandError(
            f"{exc}; the type's deciders decode it with JSON, so give JSON (a string "
            f"is quoted: --input {shlex.quote(json.dumps(data))})",
            EXIT_USAGE,
        ) from None


def cmd_start(settings: Any, args: argparse.Namespace) -> int:
    """Start an execution; with --wait, follow it until it closes and print its history."""
    from swfd.swf.executions import start_workflow_execution

    if len(args.tag) > 5:
        raise CommandError(f"at most 5 --tag values, got {len(args.tag)}", EXIT_USAGE)
    if args.fail_on_decider_error and not args.wait:
        raise CommandError("--fail-on-decider-error works with --wait", EXIT_USAGE)
    client = _client(settings)
    version = args.type_version or _resolve_version(settings, client, args.type)
    if args.input:
        _check_input(settings, args.type, version, args.input)
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
    decider_errors: list[dict[str, Any]] = []
    close_status = None
    for event in follow_history(client, settings.domain, started, args.timeout):
        close_status = CLOSE_STATUS_OF.get(event["eventType"], close_status)
        marker = decider_error(event)
        if marker is None:
            continue
        decider_errors.append(marker)
        _fail("start", f"decider error (attempt {marker['attempt']}, event "
                       f"{marker['eventId']}): {one_line(marker['error'], 500)}")
        if args.fail_on_decider_error:
            if args.json:
                _print_json({**started, "executionStatus": "OPEN",
                             "deciderErrors": decider_errors})
            _fail("start", f"workflow id {execution.workflow_id} run {execution.run_id} "
                           "recorded a decider error; not waiting for it to close "
                           "(--fail-on-decider-error)")
            return EXIT_ERROR
    if close_status is None:
        raise CommandError(
            f"workflow id {execution.workflow_id} run {execution.run_id} is still open "
            f"after {args.timeout:g} s"
        )
    events = execution.history()
    result = _close_attributes(events)
    if args.json:
        _print_json({**started, "closeStatus": close_status, **result,
                     "deciderErrors": decider_errors, "events": events})
    else:
        print(history_table(events))
        print(" ".join([f"closed: {close_status}"]
                       + [f"{key}={_short(value, 200)}" for key, value in result.items()]))
    return EXIT_OK if close_status == "COMPLETED" else EXIT_ERROR


#: The event that closes an execution, and the close status it means.
CLOSE_STATUS_OF = {
    "WorkflowExecutionCompleted": "COMPLETED",
    "WorkflowExecutionFailed": "FAILED",
    "WorkflowExecutionCanceled": "CANCELED",
    "WorkflowExecutionTerminated": "TERMINATED",
    "WorkflowExecutionTimedOut": "TIMED_OUT",
    "WorkflowExecutionContinuedAsNew": "CONTINUED_AS_NEW",
}


def follow_history(client: Any, domain: str, execution: dict, timeout: float, *,
                   clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> Iterator[dict]:
    """Yield an execution's events as they are recorded, until the one that closes it
    or until ``timeout`` seconds have passed. Only the newest events are fetched
    (newest first, stopping at the last one seen)."""
    from swfd.swf.models import swf_call

    deadline = clock() + timeout
    ids = {"workflowId": execution["workflowId"], "runId": execution["runId"]}
    last_seen = 0
    interval = 0.1
    while True:
        fresh: list[dict] = []
        token = None
        while True:
            page = swf_call(client, "GetWorkflowExecutionHistory", domain=domain,
                            execution=ids, reverseOrder=True, maximumPageSize=100,
                            nextPageToken=token)
            events = page.get("events", [])
            newer = [e for e in events if e["eventId"] > last_seen]
            fresh.extend(newer)
            token = page.get("nextPageToken")
            if not token or len(newer) < len(events):
                break
        for event in reversed(fresh):
            last_seen = event["eventId"]
            yield event
            if event["eventType"] in CLOSE_STATUS_OF:
                return
        remaining = deadline - clock()
        if remaining <= 0:
            return
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, 1.0)


def decider_error(event: dict) -> dict[str, Any] | None:
    """``{"eventId", "attempt", "error"}`` of a ``swfd:decider-error`` marker event, else None."""
    from swfd.decider import ERROR_MARKER

    if event.get("eventType") != "MarkerRecorded":
        return None
    attributes = event_attributes(event)
    if attributes.get("markerName") != ERROR_MARKER:
        return None
    try:
        details = json.loads(attributes.get("details") or "{}")
    except ValueError:
        details = None
    if not isinstance(details, dict):
        details = {"error": attributes.get("details") or ""}
    return {"eventId": event["eventId"], "attempt": details.get("attempt"),
            "error": str(details.get("error") or "")}


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
        _print_json(response)  # without ResponseMetadata
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


def _acted(args: argparse.Namespace, execution: Any, action: str, text: str,
           **data: Any) -> int:
    """Report a done action: ``text`` for people, ids and the action's name for scripts."""
    if args.json:
        _print_json({"workflowId": execution.workflow_id, "runId": execution.run_id,
                     "action": action, **data})
    else:
        print(f"{text} workflow id {execution.workflow_id} run {execution.run_id}")
    return EXIT_OK


def cmd_signal(settings: Any, args: argparse.Namespace) -> int:
    execution = _execution(settings, _client(settings), args)
    execution.signal(args.signal_name, input=args.input)
    return _acted(args, execution, "signal", f"sent signal {args.signal_name!r} to",
                  signalName=args.signal_name)


def cmd_cancel(settings: Any, args: argparse.Namespace) -> int:
    execution = _execution(settings, _client(settings), args)
    execution.request_cancel()
    return _acted(args, execution, "cancel", "requested cancellation of")


def cmd_terminate(settings: Any, args: argparse.Namespace) -> int:
    execution = _execution(settings, _client(settings), args)
    execution.terminate(reason=args.reason)
    return _acted(args, execution, "terminate", "terminated", reason=args.reason)
