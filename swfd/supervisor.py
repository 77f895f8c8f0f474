"""The supervisor: the process systemd and supervisord watch, and nothing more.

``swfd --config F`` runs this. It knows nothing of plugins or of SWF (it
imports neither pluggy nor boto3), so nothing a plugin does can take it down.
It owns what must outlive any one version of the code:

- signals (TERM drains, INT/QUIT stop fast, HUP reloads), the pidfile, the
  control socket, and every sd_notify message (READY, RELOADING, STOPPING,
  STATUS, WATCHDOG, EXTEND_TIMEOUT_USEC; MAINPID never changes);
- the embedded local endpoint (``endpoint_url = embedded``): started first,
  stopped last, kept across reloads; it says itself when it listens;
- generations: each a fork + exec of ``python -m swfd.generation`` that loads
  the config and the installed plugins and forks the pools.

A reload starts generation N+1 beside N; once every child of N+1 has polled,
N drains exactly as under TERM. If N+1 fails (bad config, a plugin that does
not import, a registration error) it exits with its reason and N serves on,
untouched. Every process below holds a lifeline (swfd.lifeline) to its parent,
so the death of the supervisor, even by SIGKILL, drains the tree instead of
orphaning it.

The loop is swfd.sigloop's (gunicorn's shape): a signal is handled by
``handle_<name>()``, then the supervisor reaps, manages and reports. It sleeps
until a signal, a child's report, a control request or a deadline.
"""

from __future__ import annotations

import enum
import logging
import os
import select
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from swfd import metrics
from swfd.arbiter.report import parse_reports
from swfd.control import ControlServer, answer
from swfd.lifeline import Lifeline
from swfd.notify import Notifier
from swfd.pidfile import Pidfile, PidfileError
from swfd.process import EXIT_ERROR, EXIT_OK, EXIT_USAGE, describe_status
from swfd.proctitle import set_title
from swfd.scoreboard import Scoreboard
from swfd.sigloop import SignalLoop, fork_with_signals_blocked, read_available, reset_signals

log = logging.getLogger("swfd.supervisor")


@dataclass(frozen=True)
class SupervisorTiming:
    """The supervisor's time constants; tests shrink them."""

    generation_backoff_first: float = 1.0
    generation_backoff_max: float = 60.0
    endpoint_backoff_max: float = 30.0
    kill_grace: float = 5.0
    endpoint_stop_timeout: float = 10.0


class StartupError(Exception):
    """The supervisor cannot start for a reason the operator must fix (exit 2)."""

    exit_code = EXIT_USAGE


class Phase(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"


@dataclass
class Generation:
    """What the supervisor knows of one generation process."""

    number: int
    pid: int
    lifeline: Lifeline
    report_fd: int
    started_at: float
    state: str = "starting"  # starting | serving | retiring | abandoned
    buffer: bytes = b""
    status: str = "starting"
    degraded: list[str] = field(default_factory=list)
    settled: bool = False
    ready: bool = False
    failure: str | None = None
    failure_code: int | None = None
    pools: list[dict[str, Any]] = field(default_factory=list)
    last_alive: float = 0.0
    signals_sent: set[int] = field(default_factory=set)


@dataclass
class Helper:
    """A helper child of the supervisor, outside the generations: the metrics exporter,
    the web console. A fork + exec of ``python -m ARGV...`` that writes ``ready URL`` or
    ``error WHY`` on a pipe, holds a lifeline, is restarted when it dies (with a backoff
    when it keeps dying) and is stopped last. ``argv(ready_fd, lifeline_fd)`` builds its
    arguments after ``python -m``."""

    name: str
    argv: Any  # Callable[[int, int], list[str]]
    serves: str  # what its "ready" line names: "metrics at URL", "web console at URL"
    pid: int | None = None
    lifeline: Lifeline | None = None
    ready_fd: int = -1
    buffer: bytes = b""
    url: str | None = None
    error: str | None = None
    failures: int = 0
    restart_at: float | None = None


@dataclass
class Endpoint:
    """The embedded local endpoint process."""

    pid: int
    lifeline: Lifeline
    ready_fd: int
    started_at: float
    url: str | None = None
    error: str | None = None
    buffer: bytes = b""


class Supervisor(SignalLoop):
    def __init__(self, settings: Any, *, timing: SupervisorTiming | None = None,
                 notifier: Notifier | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.config_path = settings.path
        self.timing = timing or SupervisorTiming()
        self.notifier = notifier or Notifier()
        self.pidfile = Pidfile(settings.pidfile) if settings.pidfile else None
        self.control = ControlServer(settings.control_socket) if settings.control_socket else None
        self.phase = Phase.STARTING
        self.exit_code = EXIT_OK
        self.generations: dict[int, Generation] = {}
        self.current: Generation | None = None
        self.pending: Generation | None = None
        self.number = 0
        self.next_generation_at: float | None = None
        self.generation_failures = 0
        self.reload_deadline: float | None = None
        self.reload_again = False
        self.reload_waiters: list[Any] = []
        self.last_reload: str | None = None
        self.resized = False  # TTIN/TTOU changed the serving generation's pool sizes
        self.ready_sent = False
        self.endpoint: Endpoint | None = None
        # Every generation process holds a write end (its forked children inherit it):
        # an orphaned endpoint serves until the last of them is gone.
        self.endpoint_clients: tuple[int, int] = (-1, -1)
        self.endpoint_port: int | None = None  # as bound (``[embedded] port = 0``: any)
        self.state_dir: str | None = None
        self.helpers: list[Helper] = []
        self.metrics_url: str | None = None
        self.console: Helper | None = None
        self.state_dir_is_temporary = False
        self.started_at = time.time()
        self.endpoint_failures = 0
        self.next_endpoint_at: float | None = None
        self.endpoint_kill_at: float | None = None
        self.stop_deadline: float | None = None
        self.next_watchdog: float | None = None
        self.next_extend: float | None = None

    # -- the loop ---------------------------------------------------------------

    def run(self) -> int:
        try:
            self.start()
        except StartupError as exc:
            log.error("%s", exc)
            self.close()
            return exc.exit_code
        except (PidfileError, OSError) as exc:
            log.error("%s", exc)
            self.close()
            return EXIT_ERROR
        try:
            self.loop()
        except BaseException:
            log.exception("the supervisor failed; draining every generation")
            self.signal_all(signal.SIGTERM)
            self.exit_code = EXIT_ERROR
        finally:
            self.close()
        log.info("swfd supervisor exiting with code %d", self.exit_code)
        return self.exit_code

    def start(self) -> None:
        set_title("swfd supervisor")
        if self.pidfile:
            self.pidfile.create()
        if self.control:
            self.control.open()
        self.make_state_dir()
        if self.settings.metrics:
            self.start_metrics()
        self.install_signals()
        if self.notifier.watchdog_interval:
            self.next_watchdog = time.monotonic()
        log.info("swfd supervisor started (pid %d), config %s", os.getpid(), self.config_path)
        if self.settings.is_embedded:
            self.make_database_dir()
            self.endpoint_clients = os.pipe()
            self.spawn_endpoint()
        else:
            if self.settings.idle_console_warning:
                log.warning("%s", self.settings.idle_console_warning)
            self.spawn_generation()

    def make_state_dir(self) -> None:
        """The supervisor's own directory (generations' scoreboards), kept across reloads:
        beside the control socket, else a private temporary one. Wiped at start."""
        import shutil
        import tempfile

        if self.settings.control_socket:
            self.state_dir = os.path.splitext(self.settings.control_socket)[0] + ".state"
            shutil.rmtree(self.state_dir, ignore_errors=True)
            os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        else:
            self.state_dir = tempfile.mkdtemp(prefix="swfd-state-")
            self.state_dir_is_temporary = True

    def start_metrics(self) -> None:
        """``[swfd] metrics``: the directory every process writes to (in the state
        directory, so wiped at start) and the exporter that serves their sum."""
        directory = os.path.join(self.state_dir, "metrics")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.environ[metrics.ENV_DIR] = directory  # for the generations we exec
        if not metrics.enable(directory, "supervisor"):
            raise StartupError(f"{self.config_path}: [swfd] metrics = {self.settings.metrics}: "
                               "prometheus_client is not installed: pip install 'swfd[metrics]'")
        exporter = self.spawn_helper(Helper("metrics exporter", lambda ready, lifeline: [
            "swfd.metrics", self.settings.metrics, directory, str(ready), str(lifeline)],
            "metrics"))
        readable, _, _ = select.select([exporter.ready_fd], [], [], 30.0)
        if readable:
            self.read_helper(exporter)
        if exporter.url is None:
            raise StartupError(f"{self.config_path}: [swfd] metrics = {self.settings.metrics}: "
                               f"{exporter.error or 'the exporter did not start'}")
        self.metrics_url = exporter.url

    def spawn_console(self) -> None:
        """``[embedded] console = yes``: the web console, once the endpoint listens (it is
        told where); a restart keeps the port it bound, as the endpoint's does."""
        embedded = self.settings.embedded
        endpoint_url = self.endpoint.url if self.endpoint else ""  # kept across its restarts

        def argv(ready: int, lifeline: int) -> list[str]:
            bound = _port_of(self.console.url) if self.console and self.console.url else None
            return ["swfd.console", "--config", self.config_path,
                    "--host", embedded.console_host,
                    "--port", str(bound or embedded.console_port),
                    "--endpoint-url", endpoint_url or "",
                    "--ready-fd", str(ready), "--lifeline-fd", str(lifeline),
                    *(["--allow-actions"] if embedded.console_allow_actions else [])]

        self.console = self.spawn_helper(Helper("web console", argv, "web console"))

    def spawn_helper(self, helper: Helper) -> Helper:
        lifeline = Lifeline()
        ready_r, ready_w = os.pipe()
        argv = [sys.executable, "-m", *helper.argv(ready_w, lifeline.read_fd)]
        helper.pid = self.fork_exec(argv, (ready_w, lifeline.read_fd), new_group=True)
        os.close(ready_w)
        lifeline.parent_side()
        helper.lifeline, helper.ready_fd, helper.buffer = lifeline, ready_r, b""
        helper.restart_at = None
        if helper not in self.helpers:
            self.helpers.append(helper)
        log.info("started the %s (pid %d)", helper.name, helper.pid)
        return helper

    def read_helper(self, helper: Helper) -> None:
        data, eof = read_available(helper.ready_fd)
        helper.buffer += data
        if not eof and b"\n" not in helper.buffer:
            return
        os.close(helper.ready_fd)
        helper.ready_fd = -1
        word, _, rest = helper.buffer.decode("utf-8", "replace").strip().partition(" ")
        if word == "ready":
            helper.url, helper.error, helper.failures = rest, None, 0
            log.info("%s at %s (pid %d)", helper.serves, rest, helper.pid)
        else:
            helper.error = rest if word == "error" else "it exited before it said ready"
            log.error("%s: %s", helper.name, helper.error)

    def helper_exited(self, helper: Helper, status: int) -> None:
        helper.pid = None
        if helper.lifeline is not None:
            helper.lifeline.close()
        if helper.ready_fd >= 0:
            os.close(helper.ready_fd)
            helper.ready_fd = -1
        if self.phase is Phase.STOPPING:
            return
        if helper.url is None and helper.failures == 0:  # its first start failed
            self.fail(f"the {helper.name} could not start: "
                      f"{helper.error or describe_status(status)}",
                      EXIT_USAGE if os.waitstatus_to_exitcode(status) == EXIT_USAGE
                      else EXIT_ERROR)
            return
        helper.failures += 1
        delay = 0.0 if helper.failures == 1 else min(
            self.timing.endpoint_backoff_max, 0.5 * 2 ** (helper.failures - 2))
        helper.restart_at = time.monotonic() + delay
        log.error("the %s died (%s); restarting it in %.1fs", helper.name,
                  describe_status(status), delay)

    def make_database_dir(self) -> None:
        """The endpoint's database directory (``../var`` in a fresh checkout) must exist."""
        database = self.settings.embedded.database
        if database == ":memory:":
            return
        directory = os.path.dirname(os.path.abspath(database))
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"{self.config_path}: [embedded] database = {database}: cannot "
                               f"create {directory}: {exc}") from exc

    def tick(self) -> None:
        self.reap_children()
        self.manage()
        self.report_status()

    def watched_fds(self) -> list[int]:
        fds = [g.report_fd for g in self.generations.values() if g.report_fd >= 0]
        fds += [h.ready_fd for h in self.helpers if h.ready_fd >= 0]
        if self.endpoint and self.endpoint.ready_fd >= 0:
            fds.append(self.endpoint.ready_fd)
        if self.control and self.control.sock:
            fds.append(self.control.fileno())
        return fds

    def on_readable(self, fd: int) -> None:
        if self.endpoint and fd == self.endpoint.ready_fd:
            self.read_endpoint()
        elif self.control and fd == self.control.fileno():
            self.serve_control()
        elif any(h.ready_fd == fd for h in self.helpers):
            self.read_helper(next(h for h in self.helpers if h.ready_fd == fd))
        else:
            generation = next((g for g in self.generations.values() if g.report_fd == fd),
                              None)
            if generation:
                self.read_reports(generation)

    def next_wakeup(self) -> float | None:
        times = [t for t in (self.next_generation_at, self.reload_deadline, self.next_watchdog,
                             self.next_extend, self.stop_deadline, self.endpoint_kill_at,
                             self.next_endpoint_at, *(h.restart_at for h in self.helpers))
                 if t is not None]
        return min(times) if times else None

    def close(self) -> None:
        self.restore_signals()
        for fd in self.endpoint_clients:
            if fd >= 0:
                os.close(fd)
        self.endpoint_clients = (-1, -1)
        for conn in self.reload_waiters:
            answer(conn, {"ok": False, "error": "swfd is stopping"})
        self.reload_waiters = []
        if self.control:
            self.control.close()
        if self.state_dir_is_temporary and self.state_dir:
            import shutil

            shutil.rmtree(self.state_dir, ignore_errors=True)
        if self.pidfile:
            self.pidfile.remove()

    # -- signals ----------------------------------------------------------------

    def handle_chld(self) -> None:
        """A child changed state: reap_children() runs right after every handler."""

    def handle_hup(self) -> None:
        self.begin_reload("SIGHUP")

    def handle_term(self) -> None:
        self.begin_stop("SIGTERM", signal.SIGTERM)

    def handle_int(self) -> None:
        self.begin_stop("SIGINT", signal.SIGINT)

    def handle_quit(self) -> None:
        self.begin_stop("SIGQUIT", signal.SIGQUIT)

    def handle_usr1(self) -> None:
        log.warning("SIGUSR1 ignored: the supervisor does not use it")

    def handle_usr2(self) -> None:
        log.warning("SIGUSR2 ignored: HUP reloads the configuration and the plugin code")

    def handle_ttin(self) -> None:
        self.forward_to_current(signal.SIGTTIN)

    def handle_ttou(self) -> None:
        self.forward_to_current(signal.SIGTTOU)

    def forward_to_current(self, sig: int) -> None:
        """TTIN/TTOU: one more / one fewer process in every pool of the serving generation
        (a reload starts again from the config's sizes)."""
        if self.current is None or self.phase is not Phase.RUNNING:
            log.info("%s ignored: no generation serves", signal.Signals(sig).name)
            return
        self.signal_generation(self.current, sig)
        self.resized = True

    def begin_stop(self, why: str, sig: int) -> None:
        """TERM: every generation drains. INT/QUIT: every generation stops fast.
        The endpoint stops once they are all gone."""
        first = self.phase is not Phase.STOPPING
        if not first and sig == signal.SIGTERM:
            log.info("%s: already stopping", why)
            return
        self.phase = Phase.STOPPING
        self.next_generation_at = self.reload_deadline = None
        gens = list(self.generations.values())
        log.info("%s: %s %d generation(s)", why,
                 "draining" if sig == signal.SIGTERM else "fast stop of", len(gens))
        for generation in gens:
            self.signal_generation(generation, sig)
        if first:
            budget = self.settings.graceful_timeout + 2 * self.timing.kill_grace + 5
            self.stop_deadline = time.monotonic() + budget
            self.notifier.stopping(self.status_text())
            self.next_extend = time.monotonic()
            self.fail_reload_waiters("swfd is stopping")

    def fail(self, reason: str, code: int = EXIT_ERROR) -> None:
        log.error("%s; stopping", reason)
        self.exit_code = code
        self.begin_stop("stopping after the error above", signal.SIGTERM)

    # -- the endpoint -----------------------------------------------------------

    def spawn_endpoint(self) -> None:
        embedded = self.settings.embedded
        lifeline = Lifeline()
        ready_r, ready_w = os.pipe()
        wait = self.settings.graceful_timeout + self.timing.kill_grace
        argv = [
            sys.executable, "-m", "swfd.local", "--host", embedded.host,
            # A restart keeps the port the first endpoint bound: the pools know that one.
            "--port", str(self.endpoint_port or embedded.port),
            "--database", embedded.database,
            "--poll-timeout", f"{embedded.poll_timeout:g}",
            "--ready-fd", str(ready_w), "--lifeline-fd", str(lifeline.read_fd),
            "--clients-fd", str(self.endpoint_clients[0]),
            "--wait-for-lock", f"{wait:g}", "--orphan-timeout", f"{wait:g}",
            "--log-format", self.settings.log_format, "--log-level", self.settings.log_level,
            # Above every poller swfd may run: two generations overlap during a reload, each
            # process may hold two connections (a poll or a respond, and a heartbeat).
            "--max-connections", str(max(512, 4 * sum(
                max(pool.processes, pool.processes_max or 0)
                for pool in self.settings.pools) + 64)),
        ]
        if embedded.aws_faithful:
            argv.append("--aws-faithful")
        if embedded.allow_remote:
            argv.append("--allow-remote")
        if embedded.keys_file:
            argv += ["--keys-file", embedded.keys_file]
        pid = self.fork_exec(argv, (ready_w, lifeline.read_fd, self.endpoint_clients[0]),
                             new_group=True)
        os.close(ready_w)
        lifeline.parent_side()
        os.set_blocking(ready_r, False)
        self.endpoint = Endpoint(pid, lifeline, ready_r, time.monotonic())
        self.next_endpoint_at = None
        log.info("started the local endpoint (pid %d) on %s:%d", pid, embedded.host,
                 embedded.port)

    def read_endpoint(self) -> None:
        endpoint = self.endpoint
        data, eof = read_available(endpoint.ready_fd)
        endpoint.buffer += data
        if eof or b"\n" in endpoint.buffer:
            os.close(endpoint.ready_fd)
            endpoint.ready_fd = -1
            word, _, rest = endpoint.buffer.decode("utf-8", "replace").strip().partition(" ")
            if word == "ready":
                endpoint.url = rest
                self.endpoint_port = _port_of(rest)
                self.endpoint_failures = 0
                log.info("local endpoint ready at %s (pid %d)", rest, endpoint.pid)
                if self.phase is Phase.STARTING and not self.generations:
                    self.spawn_generation()
                if self.settings.embedded.console and self.console is None:
                    self.spawn_console()
            elif word == "error":
                endpoint.error = rest
                log.error("local endpoint: %s", rest)

    def endpoint_exited(self, status: int) -> None:
        endpoint, self.endpoint = self.endpoint, None
        endpoint.lifeline.close()
        if endpoint.ready_fd >= 0:
            os.close(endpoint.ready_fd)
        text = describe_status(status)
        if self.phase is Phase.STOPPING and self.endpoint_kill_at is not None:
            log.info("local endpoint (pid %d) exited (%s)", endpoint.pid, text)
            self.endpoint_kill_at = None
            return
        if endpoint.url is None and self.phase is Phase.STARTING:
            code = os.waitstatus_to_exitcode(status)
            reason = endpoint.error or f"it exited ({text}) before it listened"
            self.fail(f"the local endpoint could not start: {reason}",
                      EXIT_USAGE if code == EXIT_USAGE else EXIT_ERROR)
            return
        if self.phase is Phase.STOPPING and not self.generations:
            return
        # Restarted even during a drain: the children still need it to answer.
        self.endpoint_failures += 1
        delay = min(self.timing.endpoint_backoff_max, 0.5 * 2 ** (self.endpoint_failures - 1))
        self.next_endpoint_at = time.monotonic() + delay
        log.error("the local endpoint (pid %d) died (%s); restarting it in %.1fs",
                  endpoint.pid, text, delay)

    # -- generations -------------------------------------------------------------

    def spawn_generation(self) -> Generation:
        self.number += 1
        lifeline = Lifeline()
        report_r, report_w = os.pipe()
        argv = [sys.executable, "-m", "swfd.generation", "--config", self.config_path,
                "--number", str(self.number), "--lifeline-fd", str(lifeline.read_fd),
                "--report-fd", str(report_w)]
        keep = [lifeline.read_fd, report_w]
        if self.state_dir:
            argv += ["--state-dir", self.state_dir]
        if self.notifier.watchdog_interval:
            argv += ["--heartbeat", f"{self.notifier.watchdog_interval / 2:g}"]
        if self.endpoint_clients[1] >= 0:
            argv += ["--endpoint-clients-fd", str(self.endpoint_clients[1])]
            keep.append(self.endpoint_clients[1])
        if self.endpoint_port:
            argv += ["--endpoint-port", str(self.endpoint_port)]
        pid = self.fork_exec(argv, tuple(keep))
        os.close(report_w)
        lifeline.parent_side()
        os.set_blocking(report_r, False)
        now = time.monotonic()
        generation = Generation(self.number, pid, lifeline, report_r, now, last_alive=now)
        self.generations[pid] = generation
        self.pending = generation
        self.next_generation_at = None
        log.info("started generation %d (pid %d)", generation.number, pid)
        return generation

    def read_reports(self, generation: Generation) -> None:
        data, eof = read_available(generation.report_fd)
        reports, generation.buffer = parse_reports(generation.buffer + data)
        if eof:  # it exited (or closed the pipe); reaping follows
            os.close(generation.report_fd)
            generation.report_fd = -1
        for report in reports:
            self.on_report(generation, report)

    def on_report(self, generation: Generation, report: dict[str, Any]) -> None:
        event = report["event"]
        now = time.monotonic()
        generation.last_alive = now
        if isinstance(report.get("status"), str):
            generation.status = report["status"]
        if isinstance(report.get("degraded"), list):
            generation.degraded = [str(p) for p in report["degraded"]]
        if isinstance(report.get("pools"), list):
            generation.pools = report["pools"]
        if event in ("failed", "give_up"):
            generation.failure = str(report.get("reason", "no reason given"))
            code = report.get("code")
            generation.failure_code = code if isinstance(code, int) else None
        if event == "give_up":
            self.fail(f"generation {generation.number}: {generation.failure}")
        elif event == "settled" and generation is self.pending and self.current is None:
            generation.settled = True
            self.promote(generation)
        elif event == "ready":
            generation.ready = True
            if generation is self.pending:
                self.promote(generation)

    def promote(self, generation: Generation) -> None:
        """``generation`` serves from now on; the one before it, if any, drains."""
        old, self.current, self.pending = self.current, generation, None
        generation.state = "serving"
        self.reload_deadline = None
        self.generation_failures = 0
        if old is not None:
            old.state = "retiring"
            log.info("generation %d serves; generation %d drains", generation.number,
                     old.number)
            self.signal_generation(old, signal.SIGTERM)
            self.last_reload = f"reloaded into generation {generation.number}"
            metrics.reload("ok")
            self.answer_reload_waiters({"ok": True, "generation": generation.number})
        else:
            log.info("swfd ready: %s", self.status_text())
        self.notifier.ready(self.status_text())
        self.ready_sent = True
        if self.reload_again:
            self.reload_again = False
            self.begin_reload("a reload asked for while the last one ran")

    def generation_exited(self, generation: Generation, status: int) -> None:
        del self.generations[generation.pid]
        generation.lifeline.close()
        if self.state_dir:
            try:
                os.unlink(self.scoreboard_path(generation))
            except OSError:
                pass
        if generation.report_fd >= 0:
            self.read_reports(generation)
            if generation.report_fd >= 0:
                os.close(generation.report_fd)
                generation.report_fd = -1
        text = describe_status(status)
        code = os.waitstatus_to_exitcode(status)
        reason = generation.failure or text
        if self.phase is Phase.STOPPING or generation.state in ("retiring", "abandoned"):
            log.info("generation %d (pid %d) exited (%s)", generation.number, generation.pid,
                     text)
            return
        if generation is self.pending:
            self.pending = None
            self.reload_deadline = None
            if self.current is not None:
                self.reload_failed(f"generation {generation.number} failed to start: {reason}")
            elif not self.ready_sent:
                self.fail(f"generation {generation.number} failed to start: {reason}",
                          EXIT_USAGE if (generation.failure_code or code) == EXIT_USAGE
                          else EXIT_ERROR)
            else:
                self.schedule_replacement(f"generation {generation.number} failed to start: "
                                          f"{reason}")
            return
        if generation is self.current:
            self.current = None
            self.schedule_replacement(f"generation {generation.number} (pid {generation.pid}) "
                                      f"died ({reason})")

    def schedule_replacement(self, why: str) -> None:
        self.generation_failures += 1
        delay = min(self.timing.generation_backoff_max,
                    self.timing.generation_backoff_first * 2 ** (self.generation_failures - 1))
        if self.generation_failures == 1:
            delay = 0.0
        self.next_generation_at = time.monotonic() + delay
        log.error("%s; starting a new generation in %.1fs", why, delay)

    # -- reload ---------------------------------------------------------------------

    def begin_reload(self, why: str) -> None:
        if self.phase is not Phase.RUNNING:
            log.warning("%s: cannot reload while %s", why, self.phase.value)
            if self.phase is Phase.STOPPING:
                self.fail_reload_waiters("swfd is stopping")
            return
        if self.pending is not None:
            log.info("%s: a reload is under way; another follows it", why)
            self.reload_again = True
            return
        from swfd.config import ConfigError, load

        try:
            settings = load(self.config_path)
        except ConfigError as exc:
            self.reload_failed(f"configuration error: {exc}")
            return
        self.warn_restart_needed(settings)
        if self.resized:
            log.warning("%s: the new generation starts from the config's pool sizes; the "
                        "TTIN/TTOU changes to the serving one are not carried over", why)
            self.resized = False
        log.info("%s: reloading %s", why, self.config_path)
        generation = self.spawn_generation()
        self.reload_deadline = time.monotonic() + settings.graceful_timeout
        self.notifier.reloading(f"reloading: generation {generation.number} starting; "
                                f"{self.status_text()}")

    def warn_restart_needed(self, new: Any) -> None:
        """Settings the supervisor holds for its life: changes wait for a restart."""
        old = self.settings
        for what, before, after in (
            ("[embedded]", old.embedded if old.is_embedded else None,
             new.embedded if new.is_embedded else None),
            ("[swfd] endpoint_url", old.endpoint_url == "embedded",
             new.endpoint_url == "embedded"),
            ("[swfd] pidfile", old.pidfile, new.pidfile),
            ("[swfd] control_socket", old.control_socket, new.control_socket),
        ):
            if before != after:
                log.warning("%s changed: it takes effect at the next restart, not by reload",
                            what)

    def reload_failed(self, reason: str) -> None:
        serving = f"generation {self.current.number}" if self.current else "nothing"
        log.error("reload failed: %s; %s keeps serving", reason, serving)
        metrics.reload("failed")
        self.last_reload = f"reload failed: {reason}"
        if self.pending is not None:
            self.pending.state = "abandoned"
            self.signal_generation(self.pending, signal.SIGTERM)
            self.pending = None
        self.reload_deadline = None
        self.notifier.ready(self.status_text())
        self.answer_reload_waiters({"ok": False, "error": reason})
        if self.reload_again:
            self.reload_again = False
            self.begin_reload("a reload asked for while the last one ran")

    def answer_reload_waiters(self, reply: dict[str, Any]) -> None:
        waiters, self.reload_waiters = self.reload_waiters, []
        for conn in waiters:
            answer(conn, reply)

    def fail_reload_waiters(self, error: str) -> None:
        self.answer_reload_waiters({"ok": False, "error": error})

    # -- the control socket -----------------------------------------------------------

    def serve_control(self) -> None:
        accepted = self.control.accept()
        if accepted is None:
            return
        conn, request = accepted
        command = request["command"]
        if command == "reload":
            if self.phase is not Phase.RUNNING:
                answer(conn, {"ok": False, "error": f"swfd is {self.phase.value}"})
                return
            if request.get("wait"):
                self.reload_waiters.append(conn)
            else:
                answer(conn, {"ok": True, "generation": self.number + 1})
            self.begin_reload("reload requested on the control socket")
        elif command == "status":
            answer(conn, {"ok": True, **self.status_dict()})
        else:
            answer(conn, {"ok": False, "error": f"unknown command {command!r}"})

    def status_dict(self) -> dict[str, Any]:
        """What ``swfd status`` shows: no payloads, task ids only."""
        gens = []
        for g in sorted(self.generations.values(), key=lambda g: g.number):
            children = self.read_scoreboard(g)
            pools = []
            for pool in g.pools:
                pool = dict(pool)
                pool["children"] = sorted(
                    (c for c in children if c.get("pool") == pool.get("pool")),
                    key=lambda c: c.get("slot", 0))
                pools.append(pool)
            gens.append({"number": g.number, "pid": g.pid, "state": g.state,
                         "started": round(time.time() - (time.monotonic() - g.started_at), 3),
                         "status": g.status, "degraded": g.degraded, "pools": pools,
                         "failure": g.failure})
        endpoint = None
        if self.settings.is_embedded:
            endpoint = {"pid": self.endpoint.pid if self.endpoint else None,
                        "url": self.endpoint.url if self.endpoint else None,
                        "database": self.settings.embedded.database}
        return {"pid": os.getpid(), "config": self.config_path, "phase": self.phase.value,
                "healthy": self.is_healthy(), "started": self.started_at,
                "generations": gens, "endpoint": endpoint, "last_reload": self.last_reload,
                "metrics": self.metrics_url,
                "console": self.console.url if self.console else None,
                "status": self.status_text()}

    def is_healthy(self) -> bool:
        """Serving, with no degraded pool in the serving generation."""
        return (self.phase is Phase.RUNNING and self.current is not None
                and not self.current.degraded
                and (not self.settings.is_embedded or bool(self.endpoint and self.endpoint.url)))

    def scoreboard_path(self, generation: Generation) -> str:
        return os.path.join(self.state_dir or "", f"scoreboard-{generation.number}")

    def read_scoreboard(self, generation: Generation) -> list[dict[str, Any]]:
        if not self.state_dir:
            return []
        try:
            board = Scoreboard.open(self.scoreboard_path(generation))
        except (OSError, ValueError):
            return []
        try:
            return board.read_all()
        finally:
            board.close()

    # -- reaping and managing -----------------------------------------------------------

    def reap_children(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            helper = next((h for h in self.helpers if h.pid == pid), None)
            if helper is not None:
                self.helper_exited(helper, status)
            elif self.endpoint and pid == self.endpoint.pid:
                self.endpoint_exited(status)
            elif pid in self.generations:
                self.generation_exited(self.generations[pid], status)

    def manage(self) -> None:
        now = time.monotonic()
        if self.phase is Phase.STARTING and self.current is not None:
            self.phase = Phase.RUNNING
        if self.next_extend is not None and now >= self.next_extend:
            self.notifier.extend_timeout(30.0)
            self.next_extend = now + 10.0
        if self.next_watchdog is not None and now >= self.next_watchdog:
            if self.healthy(now):
                self.notifier.watchdog()
            self.next_watchdog = now + self.notifier.watchdog_interval
        if self.next_endpoint_at is not None and now >= self.next_endpoint_at:
            self.next_endpoint_at = None
            if self.phase is not Phase.STOPPING or self.generations:
                self.spawn_endpoint()
        for helper in self.helpers:
            if helper.restart_at is not None and now >= helper.restart_at:
                if self.phase is Phase.STOPPING:
                    helper.restart_at = None
                else:
                    self.spawn_helper(helper)
        if self.phase is Phase.STOPPING:
            self.manage_stop(now)
            return
        if self.next_generation_at is not None and now >= self.next_generation_at:
            if self.pending is None:
                self.spawn_generation()
            self.next_generation_at = None
        if self.reload_deadline is not None and now >= self.reload_deadline:
            pending = self.pending
            self.reload_failed(f"generation {pending.number} did not poll on every pool in "
                               f"time: {pending.status}" if pending else "timed out")

    def manage_stop(self, now: float) -> None:
        if self.generations:
            if self.stop_deadline is not None and now >= self.stop_deadline:
                for generation in list(self.generations.values()):
                    if signal.SIGKILL not in generation.signals_sent:
                        log.warning("generation %d (pid %d) still runs past its drain budget; "
                                    "killing it", generation.number, generation.pid)
                        self.signal_generation(generation, signal.SIGKILL)
                self.stop_deadline = None
            return
        if self.endpoint is not None:
            if self.endpoint_kill_at is None:
                log.info("every generation has exited; stopping the local endpoint")
                _kill(self.endpoint.pid, signal.SIGTERM)
                self.endpoint_kill_at = now + self.timing.endpoint_stop_timeout
            elif now >= self.endpoint_kill_at:
                log.warning("the local endpoint did not stop in time; killing it")
                _kill(self.endpoint.pid, signal.SIGKILL)
                self.endpoint_kill_at = now + 60
            return
        running = [h for h in self.helpers if h.pid is not None]
        if running:
            for helper in running:
                _kill(helper.pid, signal.SIGTERM)
            return
        self.finished = True

    def healthy(self, now: float) -> bool:
        """What the watchdog vouches for: this loop runs, and the serving generation's does."""
        if self.phase is not Phase.RUNNING:
            return True
        current = self.current
        interval = self.notifier.watchdog_interval or 0
        return current is not None and now - current.last_alive <= 2 * interval

    # -- status ----------------------------------------------------------------------------

    def status_text(self) -> str:
        if self.phase is Phase.STOPPING:
            return f"stopping: {len(self.generations)} generation(s) draining"
        if self.current is None:
            if self.endpoint and not self.endpoint.url:
                return "starting the local endpoint"
            if self.pending is not None:
                return f"starting generation {self.pending.number}: {self.pending.status}"
            return "no generation serving: starting a new one"
        text = f"generation {self.current.number}: {self.current.status}"
        if self.pending is not None:
            text += f"; reloading: generation {self.pending.number} starting"
        elif self.last_reload and self.last_reload.startswith("reload failed"):
            text += f"; {self.last_reload}"
        return text

    def report_status(self) -> None:
        if self.ready_sent:
            self.notifier.status(self.status_text())

    # -- helpers ----------------------------------------------------------------------------

    def fork_exec(self, argv: list[str], keep_fds: tuple[int, ...],
                  new_group: bool = False) -> int:
        """Fork and exec ``argv`` with ``keep_fds`` inherited and default signals."""
        pid, mask = fork_with_signals_blocked(self.SIGNALS)
        if pid:
            return pid
        try:  # the child: nothing but exec
            if new_group:
                os.setpgid(0, 0)  # a terminal's ^C must not stop it before the pools answer
            for fd in keep_fds:
                os.set_inheritable(fd, True)
            reset_signals(self.SIGNALS, mask)
            os.execv(argv[0], argv)
        except BaseException:  # noqa: BLE001 - the forked child never returns to the loop
            os.write(2, f"swfd: cannot exec {argv[:3]}\n".encode())
        finally:
            os._exit(127)

    def signal_generation(self, generation: Generation, sig: int) -> None:
        generation.signals_sent.add(sig)
        _kill(generation.pid, sig)

    def signal_all(self, sig: int) -> None:
        for generation in list(self.generations.values()):
            self.signal_generation(generation, sig)


def _port_of(url: str) -> int | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).port
    except ValueError:
        return None


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass



def run(settings: Any) -> int:
    """The daemon: ``swfd --config F``. Returns the exit code (0 after a stop, 2 for a
    configuration or plugin error that a restart cannot fix, 1 for anything else)."""
    from swfd import logs

    try:
        logs.setup(settings.log_format, settings.log_level, pool="supervisor")
    except ValueError as exc:
        print(f"swfd: {settings.path}: [swfd] {exc}", file=sys.stderr)
        return EXIT_USAGE
    return Supervisor(settings).run()

