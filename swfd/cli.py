"""The ``swfd`` command line.

``swfd --config FILE`` runs the daemon; ``swfd --config FILE <command>`` (or
``swfd <command> --config FILE``) runs an admin command against the configured
domain; ``swfd local ...`` runs the local SWF endpoint on its own; ``swfd`` alone
prints the usage with the command list (exit 2).

Exit codes: 0 success, 2 usage or configuration error, 1 any other error.
"""

from __future__ import annotations

import argparse
import sys

from swfd.process import EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep that, but print our prefix."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"swfd: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from swfd import __version__, admin, daemonctl
    from swfd.console import command as console

    parser = _Parser(
        prog="swfd",
        usage="swfd --config FILE [COMMAND ...]\n       swfd COMMAND --config FILE ...\n"
        "       swfd local [OPTIONS]\n       swfd --version",
        description="Run Amazon SWF deciders and activity workers from plugins. "
        "`swfd --config FILE` runs the daemon; `swfd --config FILE COMMAND` (or "
        "`swfd COMMAND --config FILE`) runs an admin command against its domain; "
        "`swfd COMMAND --help` describes one.",
        epilog="Exit codes: 0 success, 2 usage or configuration error, 1 any other error.",
    )
    parser.add_argument("--config", "-c", metavar="FILE", help="the INI configuration file")
    parser.add_argument("--version", action="version", version=f"swfd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                                title="commands", prog="swfd")
    local = sub.add_parser(
        "local",
        help="run the local SWF endpoint on its own (no AWS account needed)",
        add_help=False,
    )
    local.add_argument("local_args", nargs=argparse.REMAINDER)
    admin.add_commands(sub)
    daemonctl.add_commands(sub)
    console.add_command(sub)
    for name, command in sub.choices.items():
        if name != "local":
            # After the command too; SUPPRESS keeps a --config given before it.
            command.add_argument("--config", "-c", metavar="FILE", default=argparse.SUPPRESS,
                                 help="the INI configuration file (before or after COMMAND)")
    return parser


def _without_leading_config(argv: list[str]) -> list[str]:
    """``argv`` past any ``--config FILE`` / ``-c FILE`` / ``--config=FILE`` before the command."""
    while argv:
        if argv[0] in ("--config", "-c") and len(argv) > 1:
            argv = argv[2:]
        elif argv[0].startswith("--config=") or (argv[0].startswith("-c") and len(argv[0]) > 2):
            argv = argv[1:]
        else:
            break
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = _without_leading_config(argv)
    if rest[:1] == ["local"]:  # the endpoint parses its own options and reads no config
        from swfd.local.server import main_local

        return main_local(rest[1:])

    parser = build_parser()
    if not argv:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    if not args.config:
        where = f"swfd {args.command} --config FILE" if args.command else "swfd --config FILE"
        parser.error(f"--config FILE is required ({where}); `swfd --help` lists the commands")

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
