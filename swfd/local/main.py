"""``swfd local`` (and ``python -m swfd.local``): arguments, start-up checks, readiness.

Run by the supervisor (``python -m swfd.local ... --ready-fd R --lifeline-fd L
--wait-for-lock W --orphan-timeout O --max-connections N --log-format F
--log-level V``):

* Readiness is the endpoint's own word: once the database is open and the port
  bound it writes ``ready <url>`` (the address actually bound) to fd R and
  closes it; a start-up failure is one ``error <message>`` line there, then
  exit 2. A damaged, truncated or foreign database, a read-only directory, a
  non-loopback host without ``--allow-remote``, ``--allow-remote`` without
  keys: each is such an error, naming what is wrong and what to do.
* ``--wait-for-lock``: a database held by another endpoint (a predecessor still
  serving the last workers of a supervisor that was killed) is retried every
  0.2 s for up to W seconds. Only the lock is waited for: a port in use once
  the lock was ours is another program's, and fails at once. ``stop()`` closes
  the listening socket before the engine releases the lock, so the successor
  that gets the lock can bind at once.
* End of file on fd L (the supervisor died) is orphan mode: every poll is
  answered empty and no task is assigned, everything else is served, and the
  endpoint stops (exit 0) once its clients are gone, or O seconds after the
  lifeline closed. With ``--clients-fd C`` "gone" is exact: C is the read end of
  a pipe whose write ends every generation process holds (the supervisor passes
  it down; forked children inherit it), so end of file means the last worker
  that could still answer has exited. Without it, gone means no connection open
  for 1 s (an idle keep-alive connection of any other client then holds it up
  to O). With a lifeline, SIGINT and SIGQUIT are ignored:
  the supervisor stops the endpoint with SIGTERM, last.
* Idle, no thread wakes on a period (the engine's timer and retention threads
  at most once a minute): the accept loop, the connection watcher and the
  main thread sleep in ``select()``, the lifeline thread in ``read()``.

``swfd local --check FILE`` runs SQLite's full integrity_check on FILE and
exits 0 (ok) or 2.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sqlite3
import sys
import time

from swfd.local.auth import ENV_KEY_ID, ENV_SECRET, KeysError, load_keys
from swfd.local.server import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_ORPHAN_TIMEOUT,
    HEADER_TIMEOUT,
    IDLE_TIMEOUT,
    ExposureError,
    LocalEndpoint,
)

log = logging.getLogger(__name__)

LOCK_RETRY_SECONDS = 0.2


class _Parser(argparse.ArgumentParser):
    """argparse that remembers its error message (for the ready pipe) before exiting."""

    last_error = ""

    def error(self, message: str):  # type: ignore[override]
        self.last_error = message
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="swfd local",
        description=(
            "Run swfd's local SWF endpoint: SWF's JSON protocol on loopback, state in SQLite. "
            "Without keys any credentials are accepted; point boto3 at it with endpoint_url."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8799, help="port (default 8799; 0 = any)")
    parser.add_argument(
        "--database",
        default=":memory:",
        metavar="FILE",
        help="SQLite file holding the state (default :memory:, lost on exit)",
    )
    parser.add_argument(
        "--poll-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds an empty long poll waits (SWF: 60)",
    )
    parser.add_argument("--debug", action="store_true", help="log every request to stderr")
    parser.add_argument(
        "--check", metavar="FILE",
        help="run SQLite's full integrity_check on FILE (read-only) and exit: 0 ok, 2 damaged",
    )
    parser.add_argument(
        "--aws-faithful", action="store_true",
        help="hand a task to a waiting poll even if its client has gone, as AWS does (by "
        "default a poll whose connection closed is withdrawn first)",
    )
    parser.add_argument(
        "--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS, metavar="N",
        help=f"connections served at once; beyond, ThrottlingException (default "
        f"{DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT, metavar="S",
                        help=f"close a keep-alive connection idle for S seconds (default "
                        f"{IDLE_TIMEOUT:g})")
    parser.add_argument("--header-timeout", type=float, default=HEADER_TIMEOUT, metavar="S",
                        help=f"a request's head must arrive within S seconds (default "
                        f"{HEADER_TIMEOUT:g})")
    exposure = parser.add_argument_group(
        "remote access",
        "A non-loopback --host is refused unless --allow-remote, which requires keys; "
        "with keys every request's SigV4 signature is verified. Plain HTTP still carries "
        f"payloads in clear. Keys also come from {ENV_KEY_ID} and {ENV_SECRET}.",
    )
    exposure.add_argument("--allow-remote", action="store_true",
                          help="allow a --host that other machines can reach (needs keys)")
    exposure.add_argument("--keys-file", metavar="FILE",
                          help="'ACCESS_KEY_ID SECRET_ACCESS_KEY' per line, mode 0600")
    exposure.add_argument("--access-key-id", metavar="ID", help="an access key id to accept")
    exposure.add_argument("--secret-access-key", metavar="SECRET",
                          help="its secret (visible in ps: prefer --keys-file or the "
                          "environment)")
    embedded = parser.add_argument_group("when run by a supervisor")
    embedded.add_argument(
        "--ready-fd",
        type=int,
        metavar="N",
        help="write one line 'ready URL' (or 'error MESSAGE', then exit 2) to fd N and close it",
    )
    embedded.add_argument(
        "--lifeline-fd",
        type=int,
        metavar="N",
        help="end of file on fd N means the supervisor died: answer polls empty, serve the "
        "rest, exit when clients are gone; SIGINT and SIGQUIT are ignored",
    )
    embedded.add_argument(
        "--clients-fd",
        type=int,
        metavar="N",
        help="in orphan mode, exit once fd N reads end of file (every process that holds "
        "its write end, i.e. every worker that may still answer, has exited)",
    )
    embedded.add_argument(
        "--wait-for-lock",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for another endpoint to release the database (default 0)",
    )
    embedded.add_argument(
        "--orphan-timeout",
        type=float,
        default=DEFAULT_ORPHAN_TIMEOUT,
        metavar="S",
        help="after the lifeline closed, exit after S seconds at the latest (default 60)",
    )
    embedded.add_argument(
        "--log-format", choices=("json", "text"), help="swfd's log format (pool 'endpoint')"
    )
    embedded.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="log level with --log-format (default INFO)",
    )
    return parser


def _fd_in(argv: list[str], option: str) -> int | None:
    """The value of ``option`` in ``argv`` before argparse has run (for usage errors)."""
    for i, arg in enumerate(argv):
        value = None
        if arg == option and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(option + "="):
            value = arg[len(option) + 1 :]
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _Reporter:
    """Start-up outcome: the ready pipe when there is one, else stdout and stderr."""

    def __init__(self, ready_fd: int | None) -> None:
        self.fd = ready_fd

    def _line(self, line: str) -> bool:
        fd, self.fd = self.fd, None
        if fd is None:
            return False
        try:
            os.write(fd, (" ".join(line.split("\n")) + "\n").encode("utf-8", "replace"))
            return True
        except OSError:
            return False  # the supervisor is gone; the lifeline will tell
        finally:
            try:
                os.close(fd)
            except OSError:
                pass

    def error(self, message: str) -> int:
        if not self._line(f"error {message}"):
            print(f"swfd local: {message}", file=sys.stderr, flush=True)
        return 2

    def ready(self, url: str, database: str, notes: str = "") -> None:
        """``notes``: the modes that differ from the defaults, e.g. "; aws-faithful"."""
        if self.fd is None:
            print(f"swfd local endpoint ready at {url} (database {database}{notes})", flush=True)
        else:
            self._line(f"ready {url}")
        log.info("local endpoint listening at %s (database %s%s)", url, database, notes)


def _open_engine(args):
    """The engine on ``args.database``; waits up to ``--wait-for-lock`` seconds for
    another endpoint to release it. Returns an error message instead when it cannot."""
    from swfd.local.engine import (
        DatabaseFileError,
        EndpointLockedError,
        Engine,
        SchemaVersionError,
    )

    deadline = time.monotonic() + args.wait_for_lock
    waiting = False
    while True:
        try:
            return Engine(args.database, poll_timeout=args.poll_timeout)
        except EndpointLockedError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                waited = f" (waited {args.wait_for_lock:g}s)" if args.wait_for_lock > 0 else ""
                return f"cannot open {args.database}: {exc}{waited}"
            if not waiting:
                log.info("local endpoint: %s; waiting up to %gs for it", exc, args.wait_for_lock)
                waiting = True
            time.sleep(min(LOCK_RETRY_SECONDS, left))
        except (DatabaseFileError, SchemaVersionError) as exc:
            return str(exc)
        except (sqlite3.Error, OSError) as exc:
            return f"cannot open {args.database}: {exc}"


def main_local(argv: list[str]) -> int:
    """``swfd local``: serve until SIGTERM/SIGINT. Exit 2 when the DB or port is taken.

    Embedded (started by the supervisor): ``--ready-fd`` reports ``ready URL`` or
    ``error MESSAGE``, ``--wait-for-lock`` waits for a predecessor's database lock,
    ``--lifeline-fd`` turns the supervisor's death into orphan mode and exit.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            ready_fd = _fd_in(argv, "--ready-fd")
            if ready_fd is not None:
                _Reporter(ready_fd)._line(f"error {parser.last_error or 'bad arguments'}")
        raise
    if args.check:
        from swfd.local.integrity import full_check

        ok, text = full_check(args.check)
        print(text, file=sys.stdout if ok else sys.stderr, flush=True)
        return 0 if ok else 2
    from swfd.proctitle import set_title

    set_title(f"swfd local {args.host}:{args.port}")
    report = _Reporter(args.ready_fd)
    if args.ready_fd is not None:
        try:
            os.fstat(args.ready_fd)
            os.set_inheritable(args.ready_fd, False)
        except OSError as exc:
            report.fd = None
            return report.error(f"--ready-fd {args.ready_fd} is not an open file: {exc}")
    if args.poll_timeout <= 0:
        return report.error(f"--poll-timeout must be > 0, got {args.poll_timeout}")
    if not 0 <= args.port <= 65535:
        return report.error(f"--port must be 0-65535, got {args.port}")
    if args.wait_for_lock < 0:
        return report.error(f"--wait-for-lock must be >= 0, got {args.wait_for_lock}")
    if args.orphan_timeout < 0:
        return report.error(f"--orphan-timeout must be >= 0, got {args.orphan_timeout}")
    if args.max_connections < 1:
        return report.error(f"--max-connections must be >= 1, got {args.max_connections}")
    for option, value in (("--idle-timeout", args.idle_timeout),
                          ("--header-timeout", args.header_timeout)):
        if not value > 0:
            return report.error(f"{option} must be > 0, got {value}")
    for option, fd in (("--lifeline-fd", args.lifeline_fd), ("--clients-fd", args.clients_fd)):
        if fd is not None:
            try:
                os.fstat(fd)
                os.set_inheritable(fd, False)
            except OSError as exc:
                return report.error(f"{option} {fd} is not an open file: {exc}")
    if args.log_format or args.log_level:
        from swfd import logs

        logs.setup(args.log_format or "text", args.log_level or "INFO", pool="endpoint")
    else:
        logging.basicConfig(
            level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    if args.debug:  # the endpoint's own requests, not botocore's chatter
        logging.getLogger("swfd.local").setLevel(logging.DEBUG)
    stop_signals: tuple = (signal.SIGTERM, signal.SIGINT)
    if args.lifeline_fd is not None:
        # The supervisor stops it with TERM once its workers are gone; a terminal's ^C
        # (sent to the whole foreground group) must not stop it first.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)
        stop_signals = (signal.SIGTERM,)

    try:
        keys = load_keys(args.access_key_id, args.secret_access_key, args.keys_file)
    except KeysError as exc:
        return report.error(str(exc))
    endpoint = LocalEndpoint(
        host=args.host,
        port=args.port,
        database=args.database,
        poll_timeout=args.poll_timeout,
        access_log=args.debug,
        allow_remote=args.allow_remote,
        keys=keys,
        aws_faithful=args.aws_faithful,
        max_connections=args.max_connections,
        idle_timeout=args.idle_timeout,
        header_timeout=args.header_timeout,
    )
    try:
        endpoint.check_exposure()  # before the database is opened or a port bound
    except ExposureError as exc:
        return report.error(str(exc))
    engine = _open_engine(args)
    if isinstance(engine, str):
        return report.error(engine)
    endpoint.engine = engine
    try:
        endpoint.start()  # closes the engine (and releases the lock) when it fails
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        if exc.errno == errno.EADDRINUSE:
            return report.error(f"cannot listen on {where}: the port is already in use")
        return report.error(f"cannot listen on {where}: {exc}")
    if args.lifeline_fd is not None:
        endpoint.watch_lifeline(args.lifeline_fd, args.orphan_timeout, args.clients_fd)
    notes = "".join([
        f"; at most {args.max_connections} connections",
        f"; SigV4 verified, {len(keys)} key(s)" if keys else "",
        "; aws-faithful: tasks may go to polls whose client has gone" if args.aws_faithful
        else "",
    ])
    endpoint.serve_forever(stop_signals,
                           lambda: report.ready(endpoint.url, args.database, notes))
    return 0
