"""Commands that talk to the running daemon's supervisor over its control socket.

``swfd --config F reload [--wait]`` (systemd's ``ExecReload``) and
``swfd --config F status [--json]``. Exit codes: 0 success / healthy, 1 a failed
reload / a degraded daemon, 2 a usage or configuration error, 3 no daemon answers.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from swfd.process import EXIT_ERROR, EXIT_NO_DAEMON, EXIT_OK, EXIT_USAGE


def add_commands(sub: Any) -> None:
    reload = sub.add_parser(
        "reload", help="reload the running daemon's config and plugin code (as SIGHUP does)",
        description="Ask the running swfd (through its control socket) to start a new "
        "generation from the config file and the plugin code installed now; the old one "
        "drains once the new one polls. Exit 0 when it serves, 1 when the new generation "
        "failed (the old one keeps serving), 3 when no daemon answers.",
    )
    reload.add_argument("--wait", action="store_true",
                        help="wait until the new generation serves or has failed")
    reload.add_argument("--timeout", type=float, metavar="S",
                        help="with --wait: give up after S seconds (default: graceful_timeout "
                        "+ 60)")
    reload.set_defaults(handler=cmd_reload)
    status = sub.add_parser(
        "status", help="what the running daemon is doing: generations, pools, children",
        description="Generations and their state, every pool (wanted, running, degraded), "
        "each child (pid, state, the task it runs and for how long, tasks done, last "
        "error), the embedded endpoint. No payloads. Exit 0 when healthy, 1 when degraded, "
        "3 when no daemon answers.",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)


def _socket(settings: Any) -> str | None:
    if settings.control_socket:
        return settings.control_socket
    print(f"swfd: {settings.path}: no pidfile or control_socket in [swfd]: there is no "
          "control socket to reach the daemon", file=sys.stderr)
    return None


def cmd_reload(settings: Any, args: Any) -> int:
    """``swfd --config F reload [--wait]``: usable as systemd's ExecReload."""
    from swfd.control import ControlError, request

    path = _socket(settings)
    if path is None:
        print("swfd: send the daemon SIGHUP instead", file=sys.stderr)
        return EXIT_USAGE
    timeout = args.timeout or (max(30.0, settings.graceful_timeout) + 60.0)
    try:
        reply = request(path, "reload", timeout if args.wait else 10.0, wait=args.wait)
    except ControlError as exc:
        print(f"swfd: {exc}", file=sys.stderr)
        return EXIT_NO_DAEMON
    if not reply.get("ok"):
        print(f"swfd: reload failed: {reply.get('error')}", file=sys.stderr)
        return EXIT_ERROR
    if args.wait:
        print(f"swfd: reloaded: generation {reply.get('generation')} serves")
    else:
        print(f"swfd: reload started (generation {reply.get('generation')})")
    return EXIT_OK


def cmd_status(settings: Any, args: Any) -> int:
    from swfd.control import ControlError, request

    path = _socket(settings)
    if path is None:
        return EXIT_USAGE
    try:
        reply = request(path, "status", 10.0)
    except ControlError as exc:
        if args.json:
            print(json.dumps({"running": False, "error": str(exc)}))
        else:
            print(f"swfd: {exc}", file=sys.stderr)
        return EXIT_NO_DAEMON
    reply.pop("ok", None)
    if args.json:
        print(json.dumps({"running": True, **reply}, indent=2))
    else:
        print(render_status(reply, time.time()))
    return EXIT_OK if reply.get("healthy") else EXIT_ERROR


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def render_status(status: dict[str, Any], now: float) -> str:
    """The text form of the supervisor's status reply."""
    health = "healthy" if status.get("healthy") else "DEGRADED"
    head = (f"swfd supervisor pid {status.get('pid')} ({status.get('phase')}, up "
            f"{_age(now - status.get('started', now))}): {health}")
    lines = [head, f"  {status.get('status')}"]
    endpoint = status.get("endpoint")
    if endpoint:
        lines.append(f"endpoint   pid {endpoint.get('pid')}  {endpoint.get('url') or 'starting'}"
                     f"  database {endpoint.get('database')}")
    if status.get("last_reload"):
        lines.append(f"last reload: {status['last_reload']}")
    for generation in status.get("generations", []):
        lines.append(f"generation {generation['number']}  pid {generation['pid']}  "
                     f"{generation['state']}, up {_age(now - generation.get('started', now))}")
        if generation.get("failure"):
            lines.append(f"  failure: {generation['failure']}")
        for pool in generation.get("pools", []):
            flag = "  DEGRADED" if pool.get("degraded") else ""
            lines.append(f"  {pool['pool']:<20} {pool.get('running')}/{pool.get('wanted')} "
                         f"running, {pool.get('ready')} polled{flag}")
            if pool.get("degraded"):
                lines.append(f"    {pool.get('boot_failures')} boot failures in a row (last "
                             f"{pool.get('last_exit')}), next try in {pool.get('next_try_in')}s")
            for child in pool.get("children", []):
                lines.append("    " + _child_line(child, now))
    return "\n".join(lines)


def _child_line(child: dict[str, Any], now: float) -> str:
    text = (f"#{child.get('slot')} pid {child.get('pid')}  {child.get('state')} "
            f"{_age(now - child.get('since', now))}")
    task = child.get("task") or {}
    if child.get("state") == "running" and child.get("type"):
        ids = " ".join(f"{key}={value}" for key, value in task.items() if value)
        text += f"  {child['type']}  {ids}"
    text += f"  tasks {child.get('tasks', 0)}"
    if "cache_hits" in child:
        text += f"  history cache {child['cache_hits']} hits/{child.get('cache_misses', 0)} misses"
    error = child.get("last_error")
    if error:
        text += (f"  last error {error.get('type')} {_age(now - error.get('at', now))} ago"
                 f" ({(error.get('task') or {}).get('workflowId', '')})")
    return text
