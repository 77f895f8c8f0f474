"""``swfd --config F console``, and ``python -m swfd.console`` (what the supervisor runs
for ``[embedded] console = yes``): the options, the client, and serving until stopped.

The console is always a process of its own: the supervisor imports no boto3,
and a slow page must never hold up a decider. Run by the supervisor, it writes
``ready URL`` (or ``error WHY``) on ``--ready-fd`` and stops when its lifeline
to the supervisor is cut, as the metrics exporter does.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading
from typing import Any

from swfd.process import EXIT_ERROR, EXIT_OK, EXIT_USAGE

log = logging.getLogger("swfd.console")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def _port(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a TCP port, 0 to 65535")
    return int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--allow-actions", action="store_true",
                        help="show signal, cancel and terminate buttons (each asks to confirm)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host: the console has no login, and its "
                        "pages show every payload")


def add_command(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "console", help="serve the web console: executions, histories and timelines",
        description="Serve a web console for the configured domain, read through the SWF "
        "API (the local endpoint or AWS alike). Read-only unless --allow-actions.")
    add_arguments(parser)
    parser.set_defaults(handler=cmd_console)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def make_console(settings: Any, allow_actions: bool, endpoint_url: str | None = None) -> Any:
    """The Console for ``settings``: a client for ``endpoint_url`` when the supervisor
    says where its endpoint listens, else the configured endpoint."""
    from swfd.console.server import Console
    from swfd.swf.client import client_for, embedded_credentials, endpoint_url_for, make_client

    if endpoint_url:
        client = make_client(endpoint_url, settings.region, max_pool_connections=16,
                             credentials=embedded_credentials(settings))
    else:
        endpoint_url = endpoint_url_for(settings)
        client = client_for(settings, max_pool_connections=16)
    label = endpoint_url or f"AWS ({settings.region})"
    return Console(client, settings.domain, label, allow_actions=allow_actions)


def serve(settings: Any, args: argparse.Namespace, *, endpoint_url: str | None = None,
          ready_fd: int | None = None, lifeline_fd: int | None = None) -> int:
    """Bind, say so, and serve until SIGTERM/SIGINT or a cut lifeline."""
    from swfd.console.server import ConsoleServer

    def refuse(message: str, code: int) -> int:
        log.error("%s", message)
        if ready_fd is not None:
            os.write(ready_fd, f"error {message}\n".encode())
        return code

    if not is_loopback(args.host) and not args.allow_remote:
        return refuse(f"console --host {args.host}: not a loopback address; the console has "
                      "no login and shows every payload (--allow-remote to do it anyway)",
                      EXIT_USAGE)
    try:
        console = make_console(settings, args.allow_actions, endpoint_url)
    except ValueError as exc:  # [embedded] port = 0 and no daemon to say which port
        return refuse(f"console: {exc}", EXIT_ERROR)
    try:
        server = ConsoleServer((args.host, args.port), console)
    except OSError as exc:
        return refuse(f"console: cannot listen on {args.host}:{args.port}: {exc}", EXIT_USAGE)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if lifeline_fd is not None:
        from swfd.lifeline import watch

        watch(lifeline_fd, stop.set, name="swfd-console-lifeline")
    threading.Thread(target=server.serve_forever, name="swfd-console", daemon=True).start()
    log.info("console at %s for domain %s via %s (%s)", server.url, console.domain,
             console.endpoint_label, "actions enabled" if args.allow_actions else "read-only")
    if ready_fd is not None:
        os.write(ready_fd, f"ready {server.url}\n".encode())
        os.close(ready_fd)
    while not stop.wait(3600):
        pass
    server.shutdown()
    server.server_close()
    return EXIT_OK


def cmd_console(settings: Any, args: argparse.Namespace) -> int:
    """``swfd --config F console``: serve in the foreground."""
    from swfd import logs

    logs.setup(settings.log_format, settings.log_level, pool="console")
    return serve(settings, args)


def main(argv: list[str] | None = None) -> int:
    """``python -m swfd.console --config F [--host H --port P] [--endpoint-url URL]
    [--ready-fd N --lifeline-fd N]``: the supervisor's child."""
    from swfd import logs
    from swfd.config import ConfigError, load
    from swfd.proctitle import set_title

    parser = argparse.ArgumentParser(prog="python -m swfd.console")
    parser.add_argument("--config", required=True)
    add_arguments(parser)
    parser.add_argument("--endpoint-url", help="the endpoint to read (default: the config's)")
    parser.add_argument("--ready-fd", type=int)
    parser.add_argument("--lifeline-fd", type=int)
    args = parser.parse_args(argv)
    try:
        settings = load(args.config)
    except ConfigError as exc:
        message = f"configuration error: {exc}"
        if args.ready_fd is not None:
            os.write(args.ready_fd, f"error {message}\n".encode())
        print(f"swfd console: {message}", file=sys.stderr)
        return EXIT_USAGE
    logs.setup(settings.log_format, settings.log_level, pool="console")
    set_title(f"swfd console {args.host}:{args.port}")
    return serve(settings, args, endpoint_url=args.endpoint_url, ready_fd=args.ready_fd,
                 lifeline_fd=args.lifeline_fd)
