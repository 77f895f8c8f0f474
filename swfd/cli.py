"""The ``swfd`` command line.

``swfd --config FILE`` runs the daemon; ``swfd --config FILE <command>`` runs an
admin command against the configured domain; ``swfd local ...`` runs the local
SWF endpoint on its own.

Exit codes: 0 success, 2 usage or configuration error, 1 any other error.
"""

from __future__ import annotations

import argparse
import sys

from swfd.process import EXIT_ERROR, EXIT_NO_DAEMON, EXIT_OK, EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep that, but print our prefix."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"swfd: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from swfd import __version__, admin

    parser = _Parser(
        prog="swfd",
        description="Run Amazon SWF deciders and activity workers from plugins.",
        epilog="Exit codes: 0 success, 2 usage or configuration error, 1 any other error.",
    )
    parser.add_argument("--config", "-c", metavar="FILE", help="the INI configuration file")
    parser.add_argument("--version", action="version", version=f"swfd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    local = sub.add_parser(
        "local",
        help="run the local SWF endpoint on its own (no AWS account needed)",
        add_help=False,
    )
    local.add_argument("local_args", nargs=argparse.REMAINDER)
    admin.add_commands(sub)
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
    return parser


def cmd_reload(settings, args) -> int:
    """``swfd --config F reload [--wait]``: usable as systemd's ExecReload."""
    from swfd.control import ControlError, request

    if not settings.control_socket:
        print(f"swfd: {settings.path}: no pidfile or control_socket in [swfd]: there is no "
              "control socket to reach the daemon; send it SIGHUP instead", file=sys.stderr)
        return EXIT_USAGE
    timeout = args.timeout or (max(30.0, settings.graceful_timeout) + 60.0)
    try:
        reply = request(settings.control_socket, "reload", timeout if args.wait else 10.0,
                        wait=args.wait)
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["local"]:
        from swfd.local.server import main_local

        return main_local(argv[1:])

    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.config:
        parser.error("--config FILE is required")

    from swfd.config import ConfigError, load

    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(f"swfd: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    if args.command is None:
        from swfd.supervisor import run

        return run(settings)
    return args.handler(settings, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
