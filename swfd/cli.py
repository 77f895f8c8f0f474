"""The ``swfd`` command line.

``swfd --config FILE`` runs the daemon; ``swfd --config FILE <command>`` runs an
admin command against the configured domain; ``swfd local ...`` runs the local
SWF endpoint on its own.

Exit codes: 0 success, 2 usage or configuration error, 1 any other error.
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


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
    return parser


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
        from swfd.master import run

        return run(settings)
    return args.handler(settings, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
