"""Admin commands of ``swfd --config FILE <command>``.

Each command is a function ``(settings, args) -> int``. Exit codes: 0 success,
2 usage or configuration error, 1 any other error. Output is a readable table
by default and JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def add_commands(subparsers: Any) -> None:
    """Add the admin commands to the ``swfd`` argument parser."""
    check = subparsers.add_parser("check", help="check config, plugins and connectivity")
    _common(check)
    check.set_defaults(handler=cmd_not_ready)

    register = subparsers.add_parser("register", help="register the domain and plugin types")
    _common(register)
    register.set_defaults(handler=cmd_not_ready)

    start = subparsers.add_parser("start", help="start a workflow execution")
    start.add_argument("type", metavar="TYPE", help="workflow type name")
    start.add_argument("--version", dest="type_version")
    start.add_argument("--task-list")
    start.add_argument("--input")
    start.add_argument("--workflow-id")
    start.add_argument("--execution-timeout", metavar="S")
    start.add_argument("--task-timeout", metavar="S")
    start.add_argument("--child-policy", choices=["TERMINATE", "REQUEST_CANCEL", "ABANDON"])
    start.add_argument("--tag", action="append", default=[])
    start.add_argument("--wait", action="store_true")
    start.add_argument("--timeout", type=float, default=300.0, metavar="S")
    _common(start)
    start.set_defaults(handler=cmd_not_ready)

    for name, help_text in (
        ("describe", "describe a workflow execution"),
        ("history", "print the event history of a workflow execution"),
        ("cancel", "request cancellation of a workflow execution"),
    ):
        parser = subparsers.add_parser(name, help=help_text)
        parser.add_argument("workflow_id", metavar="ID")
        parser.add_argument("--run-id")
        _common(parser)
        parser.set_defaults(handler=cmd_not_ready)

    listing = subparsers.add_parser("list", help="list workflow executions")
    listing.add_argument("--closed", action="store_true")
    listing.add_argument("--type", dest="type_name")
    _common(listing)
    listing.set_defaults(handler=cmd_not_ready)

    signal = subparsers.add_parser("signal", help="signal a workflow execution")
    signal.add_argument("workflow_id", metavar="ID")
    signal.add_argument("signal_name", metavar="NAME")
    signal.add_argument("--input")
    signal.add_argument("--run-id")
    _common(signal)
    signal.set_defaults(handler=cmd_not_ready)

    terminate = subparsers.add_parser("terminate", help="terminate a workflow execution")
    terminate.add_argument("workflow_id", metavar="ID")
    terminate.add_argument("--reason")
    terminate.add_argument("--run-id")
    _common(terminate)
    terminate.set_defaults(handler=cmd_not_ready)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")


def cmd_not_ready(settings: Any, args: argparse.Namespace) -> int:
    print(f"swfd: {args.command}: not implemented yet", file=sys.stderr)
    return EXIT_ERROR
