"""The master process: gunicorn's arbiter shape, for SWF pollers.

``run(settings)`` validates everything and loads the plugins, then hands an
``Arbiter`` the children to keep alive: the local endpoint (when embedded),
the registrar, and each pool's processes. The arbiter owns signals, reaping,
respawn with backoff, drain, the pidfile and sd_notify; it does no SWF I/O
and runs no threads, so forking is safe and cheap (copy-on-write).

Signal handlers only queue the signal (the wakeup fd ends the loop's sleep);
``run()`` takes one off the queue, calls ``handle_<name>()``, then reaps,
murders (drain deadlines) and manages (spawns what is due).
"""

from __future__ import annotations

import enum
import fcntl
import logging
import os
import select
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, ClassVar

from swfd.arbiter.process import EXIT_RECYCLE, describe_status, fork_child
from swfd.arbiter.respawn import Health, Timing
from swfd.notify import Notifier
from swfd.pidfile import Pidfile, PidfileError

log = logging.getLogger("swfd.master")

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class Phase(enum.Enum):
    ENDPOINT = "starting the local endpoint"
    REGISTERING = "registering the domain and types"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPING = "stopping"


@dataclass(frozen=True)
class ChildSpec:
    """What to run in a group of identical children: ``target()`` runs in the
    forked child and returns its exit code."""

    name: str
    target: Callable[[], int]
    processes: int = 1
    kind: str = "worker"  # worker | decider | endpoint | registrar


@dataclass
class Child:
    pid: int
    group: str
    started_at: float
    signals_sent: set[int] = field(default_factory=set)


@dataclass
class Group:
    spec: ChildSpec
    health: Health
    pids: set[int] = field(default_factory=set)


class Arbiter:
    SIG_NAMES: ClassVar[dict[int, str]] = {
        getattr(signal, f"SIG{name.upper()}"): name
        for name in ("hup", "int", "quit", "term", "chld", "usr1", "usr2")
    }
    SIGNALS = tuple(SIG_NAMES)

    def __init__(
        self,
        pools: Sequence[ChildSpec],
        *,
        graceful_timeout: float,
        endpoint: ChildSpec | None = None,
        endpoint_address: tuple[str, int] | None = None,
        registrar: ChildSpec | None = None,
        pidfile: str | None = None,
        notifier: Notifier | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.graceful_timeout = graceful_timeout
        self.timing = timing = timing or Timing()
        self.notifier = notifier or Notifier()
        self.pidfile = Pidfile(pidfile) if pidfile else None
        self.endpoint_address = endpoint_address
        self.groups: dict[str, Group] = {}
        for spec in pools:
            self.groups[spec.name] = Group(spec, Health.from_timing(timing))
        self.pool_names = [spec.name for spec in pools]
        self.endpoint = self._add(endpoint, Health.from_timing(timing))
        self.registrar = self._add(
            registrar, Health.from_timing(timing, limit=timing.registrar_attempts)
        )
        self.children: dict[int, Child] = {}
        self.sig_queue: list[int] = []
        self.pipe: tuple[int, int] = (-1, -1)
        self.phase = Phase.RUNNING
        self.exit_code = EXIT_OK
        self.finished = False
        self.ready_sent = False
        self.started_at = 0.0
        self.drain_deadline: float | None = None
        self.kill_at: float | None = None
        self.endpoint_kill_at: float | None = None

    def _add(self, spec: ChildSpec | None, health: Health) -> str | None:
        if spec is None:
            return None
        self.groups[spec.name] = Group(spec, health)
        return spec.name

    # -- the loop ---------------------------------------------------------

    def run(self) -> int:
        """Start, then: one signal or a sleep; reap; murder; manage. Until all are gone."""
        try:
            self.start()
        except PidfileError as exc:
            log.error("%s", exc)
            return EXIT_ERROR
        try:
            while not self.finished:
                sig = self.sig_queue.pop(0) if self.sig_queue else None
                if sig is None:
                    self.sleep()
                else:
                    getattr(self, f"handle_{self.SIG_NAMES[sig]}")()
                self.reap_children()
                self.murder_children()
                self.manage_children()
                self.report_status()
        except BaseException:
            log.exception("the master failed; asking every child to drain")
            self.signal_children(self.all_pids(), signal.SIGTERM)
            self.exit_code = EXIT_ERROR
        finally:
            self.close()
        log.info("swfd master exiting with code %d", self.exit_code)
        return self.exit_code

    def start(self) -> None:
        self.started_at = time.monotonic()
        if self.pidfile:
            self.pidfile.create()
        self.pipe = os.pipe()
        for fd in self.pipe:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
            fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
        signal.set_wakeup_fd(self.pipe[1], warn_on_full_buffer=False)
        for sig in self.SIGNALS:
            signal.signal(sig, self.signal)
        if self.endpoint:
            self.phase = Phase.ENDPOINT
        elif self.registrar:
            self.phase = Phase.REGISTERING
        log.info("swfd master started (pid %d): %s", os.getpid(), self.phase.value)

    def signal(self, sig: int, frame: object) -> None:
        """The handler: queue it, nothing else (the wakeup fd wakes the loop)."""
        if sig not in self.sig_queue:
            self.sig_queue.append(sig)

    def sleep(self) -> None:
        timeout = max(0.0, min(1.0, self.next_wakeup() - time.monotonic()))
        try:
            ready, _, _ = select.select([self.pipe[0]], [], [], timeout)
        except InterruptedError:
            return
        if ready:
            try:
                while os.read(self.pipe[0], 512):
                    pass
            except BlockingIOError:
                pass

    def next_wakeup(self) -> float:
        now = time.monotonic()
        if self.phase is Phase.ENDPOINT:
            return now + 0.1
        times = [now + 1.0]
        times += [t for t in (self.drain_deadline, self.kill_at, self.endpoint_kill_at) if t]
        for group in self.groups.values():
            if len(group.pids) < group.spec.processes and not group.health.failed:
                times.append(group.health.next_spawn_at)
        return min(times)

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        for fd in self.pipe:
            if fd >= 0:
                os.close(fd)
        self.pipe = (-1, -1)
        if self.pidfile:
            self.pidfile.remove()

    # -- signals ----------------------------------------------------------

    def handle_chld(self) -> None:
        """A child changed state: reap_children() runs right after every handler."""

    def handle_hup(self) -> None:
        log.warning(
            "SIGHUP: reload is not supported yet; restart the service to load a new "
            "configuration or new plugin code"
        )

    def handle_term(self) -> None:
        if self.phase in (Phase.DRAINING, Phase.STOPPING):
            log.info("SIGTERM: already %s", self.phase.value)
            return
        self.begin_drain("SIGTERM")

    def handle_int(self) -> None:
        self.begin_fast_stop("SIGINT")

    def handle_quit(self) -> None:
        self.begin_fast_stop("SIGQUIT")

    def handle_usr1(self) -> None:
        log.warning("SIGUSR1 ignored: the master does not use it")

    def handle_usr2(self) -> None:
        log.warning("SIGUSR2 ignored: re-exec (the future reload) is not supported yet")

    def begin_drain(self, why: str) -> None:
        """Children start no new poll, finish what they hold, and exit."""
        now = time.monotonic()
        self.phase = Phase.DRAINING
        self.drain_deadline = now + self.graceful_timeout
        pids = self.pool_pids()
        log.info(
            "%s: draining %d children (graceful_timeout %.0fs)", why, len(pids),
            self.graceful_timeout,
        )
        self.notifier.stopping(self.status_text())
        self.signal_children(pids, signal.SIGTERM)
        self.signal_children(self.group_pids(self.registrar), signal.SIGTERM)

    def begin_fast_stop(self, why: str) -> None:
        """Children fail the task in hand with reason swfd-shutdown and exit."""
        if self.phase is Phase.STOPPING:
            log.info("%s: already stopping", why)
            return
        now = time.monotonic()
        if self.phase is not Phase.DRAINING:
            self.notifier.stopping()
        self.phase = Phase.STOPPING
        hard = now + self.graceful_timeout
        self.kill_at = hard if self.kill_at is None else min(self.kill_at, hard)
        pids = self.pool_pids()
        log.info("%s: fast stop of %d children", why, len(pids))
        self.signal_children(pids, signal.SIGINT)
        self.signal_children(self.group_pids(self.registrar), signal.SIGTERM)

    def fail(self, reason: str) -> None:
        """Stop everything and exit 1 (startup could not complete, or nothing can run)."""
        log.error("%s; stopping", reason)
        self.exit_code = EXIT_ERROR
        if self.phase not in (Phase.DRAINING, Phase.STOPPING):
            self.begin_drain("stopping after the error above")

    # -- reaping ----------------------------------------------------------

    def reap_children(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                self.groups[child.group].pids.discard(pid)
                self.child_exited(child, status)

    def child_exited(self, child: Child, status: int) -> None:
        now = time.monotonic()
        group = self.groups[child.group]
        text = describe_status(status)
        ran_for = now - child.started_at
        code = os.waitstatus_to_exitcode(status)
        stopping = self.phase in (Phase.DRAINING, Phase.STOPPING)
        if child.group == self.registrar:
            self.registrar_exited(child, group, code, text, ran_for, now)
        elif child.group == self.endpoint:
            self.endpoint_exited(child, group, text, ran_for, now)
        elif stopping:
            log.info("%s pid %d exited (%s)", child.group, child.pid, text)
        else:
            self.pool_child_exited(child, group, code, text, ran_for, now)

    def endpoint_exited(
        self, child: Child, group: Group, text: str, ran_for: float, now: float
    ) -> None:
        """Restarted with backoff while anything may still need it, even during a drain."""
        if self.endpoint_kill_at is not None:
            log.info("endpoint pid %d exited (%s)", child.pid, text)
            return
        if self.phase is Phase.ENDPOINT:
            self.fail(f"the local endpoint exited during startup ({text}); see its log")
            return
        delay = group.health.record_exit(now, ran_for, text, recycle=False)
        if group.health.failed:
            self.fail(f"the local endpoint keeps dying: {group.health.failed_reason}")
        else:
            log.error(
                "the local endpoint (pid %d) died (%s); restarting it in %.1fs",
                child.pid, text, delay,
            )

    def pool_child_exited(
        self, child: Child, group: Group, code: int, text: str, ran_for: float, now: float
    ) -> None:
        recycle = code == EXIT_RECYCLE
        delay = group.health.record_exit(now, ran_for, text, recycle)
        if recycle:
            log.info("%s pid %d recycled itself; replacing it", child.group, child.pid)
        elif group.health.failed:
            log.error(
                "pool %s failed: %s; it is not respawned, the other pools keep running",
                child.group, group.health.failed_reason,
            )
            if all(self.groups[n].health.failed for n in self.pool_names) and not self.pool_pids():
                self.fail("every pool failed")
        else:
            log.warning(
                "%s pid %d exited unexpectedly (%s) after %.1fs; respawning in %.1fs",
                child.group, child.pid, text, ran_for, delay,
            )

    def registrar_exited(
        self, child: Child, group: Group, code: int, text: str, ran_for: float, now: float
    ) -> None:
        if code == 0:
            log.info("registrar pid %d done: domain and types registered", child.pid)
            if self.phase is Phase.REGISTERING:
                self.phase = Phase.RUNNING
            return
        if self.phase is not Phase.REGISTERING:
            return
        delay = group.health.record_exit(now, ran_for, text, recycle=False)
        if group.health.failed:
            self.fail(f"registration failed {len(group.health.crashes)} times (last: {text})")
        else:
            log.warning("registrar pid %d failed (%s); retrying in %.1fs", child.pid, text, delay)

    # -- murder: drain deadlines --------------------------------------------

    def murder_children(self) -> None:
        now = time.monotonic()
        if (
            self.phase is Phase.DRAINING
            and self.drain_deadline is not None
            and self.kill_at is None
            and now >= self.drain_deadline
        ):
            pids = self.pool_pids()
            log.warning(
                "graceful_timeout (%.0fs) reached with %d children busy: they fail their "
                "tasks with reason swfd-shutdown and exit", self.graceful_timeout, len(pids),
            )
            self.signal_children(pids, signal.SIGUSR1)
            self.kill_at = now + self.timing.kill_grace
        if self.kill_at is not None and now >= self.kill_at:
            self.signal_children(
                self.pool_pids() + self.group_pids(self.registrar), signal.SIGKILL
            )
        if self.endpoint_kill_at is not None and now >= self.endpoint_kill_at:
            self.signal_children(self.group_pids(self.endpoint), signal.SIGKILL)

    # -- manage: spawn what is due ------------------------------------------

    def manage_children(self) -> None:
        if self.phase in (Phase.DRAINING, Phase.STOPPING):
            self.manage_shutdown()
            return
        self.manage_endpoint()
        if self.phase is Phase.ENDPOINT:
            self.wait_for_endpoint()
        elif self.phase is Phase.REGISTERING:
            self.spawn_due(self.registrar)
        if self.phase is Phase.RUNNING:
            for name in self.pool_names:
                self.spawn_due(name)
            if not self.ready_sent and all(
                len(self.groups[n].pids) == self.groups[n].spec.processes
                or self.groups[n].health.failed
                for n in self.pool_names
            ):
                self.ready_sent = True
                log.info("swfd ready: %s", self.status_text())
                self.notifier.ready(self.status_text())

    def manage_endpoint(self) -> None:
        if self.endpoint and self.endpoint_kill_at is None:
            self.spawn_due(self.endpoint)

    def wait_for_endpoint(self) -> None:
        if not self.group_pids(self.endpoint):
            return
        if self.endpoint_address is None or self.accepts(self.endpoint_address):
            log.info("local endpoint ready at %s", self.endpoint_address)
            self.phase = Phase.REGISTERING if self.registrar else Phase.RUNNING
        elif time.monotonic() - self.started_at > self.timing.endpoint_ready_timeout:
            self.fail(
                f"the local endpoint did not accept connections on {self.endpoint_address} "
                f"within {self.timing.endpoint_ready_timeout:.0f}s"
            )

    @staticmethod
    def accepts(address: tuple[str, int]) -> bool:
        try:
            with socket.create_connection(address, timeout=0.5):
                return True
        except OSError:
            return False

    def manage_shutdown(self) -> None:
        """Pools and registrar first; the endpoint, which they need to answer, last."""
        if self.pool_pids() or self.group_pids(self.registrar):
            self.manage_endpoint()
            return
        endpoint = self.group_pids(self.endpoint)
        if endpoint:
            if self.endpoint_kill_at is None:
                log.info("every pool child has exited; stopping the local endpoint")
                self.signal_children(endpoint, signal.SIGTERM)
                self.endpoint_kill_at = time.monotonic() + self.timing.endpoint_stop_timeout
            return
        self.finished = True

    def spawn_due(self, name: str | None) -> None:
        if name is None:
            return
        group = self.groups[name]
        now = time.monotonic()
        while len(group.pids) < group.spec.processes and group.health.due(now):
            self.spawn(group, now)

    def spawn(self, group: Group, now: float) -> None:
        try:
            pid = fork_child(group.spec.target, group.spec.name, self.SIGNALS, self.pipe)
        except OSError as exc:  # EAGAIN/ENOMEM: back off like a crash, never spin
            delay = group.health.record_exit(now, 0.0, f"fork failed: {exc}", recycle=False)
            log.error("cannot fork %s: %s; retrying in %.1fs", group.spec.name, exc, delay)
            if group.health.failed and group.spec.name in self.pool_names:
                log.error("pool %s failed: %s", group.spec.name, group.health.failed_reason)
            return
        self.children[pid] = Child(pid, group.spec.name, now)
        group.pids.add(pid)
        log.info("spawned %s pid %d", group.spec.name, pid)

    # -- helpers --------------------------------------------------------

    def group_pids(self, name: str | None) -> list[int]:
        return sorted(self.groups[name].pids) if name else []

    def pool_pids(self) -> list[int]:
        return [pid for name in self.pool_names for pid in self.group_pids(name)]

    def all_pids(self) -> list[int]:
        return sorted(self.children)

    def signal_children(self, pids: Sequence[int], sig: int) -> None:
        for pid in pids:
            child = self.children.get(pid)
            if child is None or (sig == signal.SIGKILL and sig in child.signals_sent):
                continue
            if sig == signal.SIGKILL:
                log.warning("killing %s pid %d (SIGKILL)", child.group, pid)
            child.signals_sent.add(sig)
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def status_text(self) -> str:
        if self.phase in (Phase.ENDPOINT, Phase.REGISTERING):
            return self.phase.value
        if self.phase in (Phase.DRAINING, Phase.STOPPING):
            return f"{self.phase.value}: {len(self.children)} children left"
        counts: dict[str, int] = {}
        for name in self.pool_names:
            kind = self.groups[name].spec.kind
            counts[kind] = counts.get(kind, 0) + len(self.groups[name].pids)
        parts = [
            ", ".join(f"{n} {kind}{'' if n == 1 else 's'}" for kind, n in counts.items())
            + " running"
        ]
        for name in self.pool_names:
            health = self.groups[name].health
            if health.failed:
                parts.append(f"pool {name} failed: {health.failed_reason}")
            elif health.crashes:
                parts.append(
                    f"pool {name} respawning after {len(health.crashes)} crash"
                    f"{'' if len(health.crashes) == 1 else 'es'} (last {health.last_exit})"
                )
        return "; ".join(parts)

    def report_status(self) -> None:
        if self.ready_sent or self.phase is not Phase.RUNNING:
            self.notifier.status(self.status_text())


def run(settings) -> int:
    """The daemon: load plugins and validate before any fork, then run the arbiter.

    Returns the exit code: 0 after a stop, 2 for a configuration or plugin
    error (systemd does not restart those), 1 for anything else.
    """
    from swfd.arbiter.children import StartupError, build_arbiter

    try:
        arbiter = build_arbiter(settings)
    except StartupError as exc:
        log.error("%s", exc)
        return exc.exit_code
    return arbiter.run()
