"""A generation's arbiter: gunicorn's arbiter shape, for pools of SWF pollers.

It is given the children to keep alive (``ChildSpec``: a target run after
fork) and owns, for one generation: signals, reaping, the per-slot respawn
policy (swfd.arbiter.respawn), drain deadlines, and what it tells the
supervisor. It does no SWF I/O and runs no threads, so forking is safe and
cheap (copy-on-write).

The loop is swfd.sigloop's: a signal is handled by ``handle_<name>()``, then
the arbiter reaps, murders (drain deadlines), manages (spawns what is due) and
reports. It sleeps until a signal, a child's word on the readiness pipe, the
supervisor's lifeline, or the next deadline: an idle generation does not wake.
"""

from __future__ import annotations

import enum
import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

from swfd import metrics
from swfd.arbiter.fork import fork_child
from swfd.arbiter.report import Reporter
from swfd.arbiter.respawn import Slot, Timing, boot_backoff
from swfd.lifeline import Lifeline, is_cut
from swfd.process import EXIT_ERROR, EXIT_OK, EXIT_RECYCLE, describe_status
from swfd.scoreboard import Scoreboard, ScoreboardSlot
from swfd.sigloop import SignalLoop, read_available

log = logging.getLogger("swfd.arbiter")


class Phase(enum.Enum):
    REGISTERING = "registering the domain and types"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPING = "stopping"


@dataclass(frozen=True)
class ChildSpec:
    """A pool of identical children: ``target(lifeline_fd=, ready_fd=)`` runs in each
    forked child and returns its exit code."""

    name: str
    target: Callable[..., int]
    processes: int = 1
    kind: str = "worker"  # worker | decider | registrar | scaler
    give_up_after: int | None = None
    max_processes: int | None = None  # autoscaled between processes and this
    scale_down_delay: float = 60.0


class Arbiter(SignalLoop):
    def __init__(
        self,
        pools: Sequence[ChildSpec],
        *,
        graceful_timeout: float,
        registrar: ChildSpec | None = None,
        reporter: Reporter | None = None,
        parent_lifeline: int | None = None,
        heartbeat: float | None = None,
        timing: Timing | None = None,
        scoreboard: Scoreboard | None = None,
        scaler: ChildSpec | None = None,
        name: str = "g0",
    ) -> None:
        super().__init__()
        self.name = name  # the generation's, in each child's metrics identity
        self.scoreboard = scoreboard
        self.free_board = list(range(scoreboard.slots)) if scoreboard else []
        self.graceful_timeout = graceful_timeout
        self.timing = timing or Timing()
        self.reporter = reporter or Reporter(None)
        self.parent_lifeline = parent_lifeline
        self.heartbeat = heartbeat
        self.specs = {spec.name: spec for spec in pools}
        self.slots = [self.new_slot(spec.name, i) for spec in pools for i in range(spec.processes)]
        self.registrar = registrar
        self.registrar_slot = Slot(registrar.name, 0) if registrar else None
        self.scaler = scaler
        self.scaler_slot = Slot(scaler.name, 0) if scaler else None
        self.backlog: dict[str, int] = {}
        self.ready_pipe: tuple[int, int] = (-1, -1)
        self.lifeline: Lifeline | None = None
        self.phase = Phase.REGISTERING if registrar else Phase.RUNNING
        self.exit_code = EXIT_OK
        self.ready_reported = False
        self.settled_reported = False
        self.drain_deadline: float | None = None
        self.kill_at: float | None = None
        self.next_alive: float | None = None
        self.last_status: object = None

    # -- the loop ---------------------------------------------------------

    def run(self) -> int:
        """Start, then: one signal or a sleep; reap; murder; manage. Until all are gone."""
        self.start()
        try:
            self.loop()
        except BaseException:
            log.exception("the generation failed; asking every child to drain")
            self.signal_children(self.all_pids(), signal.SIGTERM)
            self.exit_code = EXIT_ERROR
        finally:
            self.close()
        return self.exit_code

    def start(self) -> None:
        self.ready_pipe = os.pipe()  # children write whole lines; the reader never blocks
        os.set_blocking(self.ready_pipe[0], False)
        self.lifeline = Lifeline()
        self.install_signals()
        if self.heartbeat:
            self.next_alive = time.monotonic()

    def tick(self) -> None:
        self.reap_children()
        self.murder_children()
        self.manage_children()
        self.report_progress()

    def watched_fds(self) -> list[int]:
        fds = [self.ready_pipe[0]]
        if self.parent_lifeline is not None:
            fds.append(self.parent_lifeline)
        return fds

    def on_readable(self, fd: int) -> None:
        if fd == self.ready_pipe[0]:
            self.read_ready_reports()
        elif fd == self.parent_lifeline and is_cut(fd):
            self.parent_lifeline = None
            self.parent_gone()

    def next_wakeup(self) -> float | None:
        """The earliest deadline that needs the loop, or None to sleep until woken."""
        times = [t for t in (self.kill_at, self.next_alive) if t is not None]
        if self.phase is Phase.DRAINING and self.kill_at is None and self.drain_deadline:
            times.append(self.drain_deadline)
        if self.phase is Phase.REGISTERING and self.registrar_slot.pid is None:
            times.append(self.registrar_slot.next_spawn_at)
        if self.phase is Phase.RUNNING:
            times += [s.next_spawn_at for s in (*self.slots, self.scaler_slot)
                      if s is not None and s.pid is None]
        return min(times) if times else None

    def close(self) -> None:
        self.restore_signals()
        for fd in self.ready_pipe:
            if fd >= 0:
                os.close(fd)
        self.ready_pipe = (-1, -1)
        if self.lifeline is not None:
            self.lifeline.close()

    # -- signals ----------------------------------------------------------

    def handle_chld(self) -> None:
        """A child changed state: reap_children() runs right after every handler."""

    def handle_hup(self) -> None:
        log.info("SIGHUP ignored by a generation: send it to the supervisor to reload")

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
        log.info("SIGUSR1 ignored by a generation")

    def handle_usr2(self) -> None:
        log.info("SIGUSR2 ignored by a generation")

    def handle_ttin(self) -> None:
        """One more process in every pool, until the next reload (gunicorn's TTIN)."""
        if self.phase is not Phase.RUNNING:
            return
        for name in self.fixed_pools():
            self.add_slot(name)
            log.info("SIGTTIN: pool %s now has %d processes (until the next reload)", name,
                     self.pool_size(name))

    def handle_ttou(self) -> None:
        """One fewer process in every pool of more than one: the last slot's process
        drains (finishes its task and its outstanding poll) and the slot goes."""
        if self.phase is not Phase.RUNNING:
            return
        for name in self.fixed_pools():
            live = [s for s in self.slots if s.pool == name and not s.retiring]
            if len(live) <= 1:
                log.info("SIGTTOU: pool %s keeps its one process", name)
                continue
            slot = max(live, key=lambda s: s.index)
            slot.retiring = True
            if slot.pid is None:
                self.remove_slot(slot)
            else:
                self.signal_children([slot.pid], signal.SIGTERM)
            log.info("SIGTTOU: pool %s now has %d processes (until the next reload)", name,
                     self.pool_size(name))

    def child_identity(self, slot: Slot) -> str:
        """Whose metrics files a slot's child writes: the slot's, not the pid's, so a
        respawned child carries on its predecessor's counters."""
        return f"{self.name}-{slot.pool}-{slot.index}"

    def fixed_pools(self) -> list[str]:
        return [name for name, spec in self.specs.items() if spec.max_processes is None]

    # -- autoscaling ---------------------------------------------------------------

    def autoscale(self, pool: str, backlog: int) -> None:
        """Grow a ``low..high`` pool when tasks wait and every child is busy; shrink it by
        draining a child that has only polled for ``scale_down_delay`` (it finishes what
        its outstanding poll returns: nothing is lost)."""
        spec = self.specs[pool]
        self.backlog[pool] = backlog
        if spec.max_processes is None or self.phase is not Phase.RUNNING:
            return
        live = [s for s in self.slots if s.pool == pool and not s.retiring]
        records = {id(s): self.record_of(s) for s in live}
        busy = sum(records[id(s)].get("state") == "running" for s in live)
        if backlog and busy >= len(live) and len(live) < spec.max_processes:
            grow = min(spec.max_processes - len(live), backlog)
            for _ in range(grow):
                self.add_slot(pool)
            log.info("pool %s grows to %d processes (backlog %d, all %d busy)", pool,
                     len(live) + grow, backlog, busy)
            return
        if len(live) <= spec.processes:
            return
        now = time.time()
        idle = [s for s in live if s.pid is not None
                and records[id(s)].get("state") == "polling"
                and now - records[id(s)].get("since", now) >= spec.scale_down_delay]
        if idle:
            slot = max(idle, key=lambda s: s.index)
            slot.retiring = True
            self.signal_children([slot.pid], signal.SIGTERM)
            log.info("pool %s shrinks to %d processes (#%d idle for %.0fs, backlog %d)", pool,
                     len(live) - 1, slot.index, now - records[id(slot)]["since"], backlog)

    def record_of(self, slot: Slot) -> dict:
        """What the slot's child last wrote on the scoreboard ({} when unknown)."""
        if self.scoreboard is None or slot.board_index is None or slot.pid is None:
            return {}
        record = self.scoreboard.read(slot.board_index) or {}
        return record if record.get("pid") == slot.pid else {}

    def add_slot(self, pool: str) -> None:
        """One more slot in ``pool``, with the lowest index free (its process title's #N)."""
        used = {s.index for s in self.slots if s.pool == pool}
        self.slots.append(self.new_slot(pool, next(i for i in range(len(used) + 1)
                                                   if i not in used)))

    def new_slot(self, pool: str, index: int) -> Slot:
        slot = Slot(pool, index)
        if self.free_board:
            slot.board_index = self.free_board.pop(0)
        return slot

    def remove_slot(self, slot: Slot) -> None:
        self.slots.remove(slot)
        if slot.board_index is not None:
            self.free_board.append(slot.board_index)

    def pool_size(self, name: str) -> int:
        return sum(1 for s in self.slots if s.pool == name and not s.retiring)

    def parent_gone(self) -> None:
        log.warning("the supervisor is gone (its lifeline closed); draining")
        if self.phase not in (Phase.DRAINING, Phase.STOPPING):
            self.begin_drain("supervisor gone")

    def begin_drain(self, why: str) -> None:
        """Children start no new poll, finish what they hold, and exit."""
        self.phase = Phase.DRAINING
        self.drain_deadline = time.monotonic() + self.graceful_timeout
        pids = self.pool_pids()
        log.info("%s: draining %d children (graceful_timeout %.0fs)", why, len(pids),
                 self.graceful_timeout)
        self.reporter.send("draining")
        self.signal_children(pids + self.registrar_pids(), signal.SIGTERM)

    def begin_fast_stop(self, why: str) -> None:
        """Children fail the task in hand with reason swfd-shutdown and exit."""
        if self.phase is Phase.STOPPING:
            log.info("%s: already stopping", why)
            return
        self.phase = Phase.STOPPING
        hard = time.monotonic() + self.graceful_timeout
        self.kill_at = hard if self.kill_at is None else min(self.kill_at, hard)
        pids = self.pool_pids()
        log.info("%s: fast stop of %d children", why, len(pids))
        self.reporter.send("draining")
        self.signal_children(pids, signal.SIGINT)
        self.signal_children(self.registrar_pids(), signal.SIGTERM)

    def fail(self, reason: str, event: str = "failed") -> None:
        """Stop this generation with exit 1 and tell the supervisor why."""
        log.error("%s; stopping this generation", reason)
        self.reporter.send(event, reason=reason)
        self.exit_code = EXIT_ERROR
        if self.phase not in (Phase.DRAINING, Phase.STOPPING):
            self.begin_drain("stopping after the error above")

    # -- what children say ----------------------------------------------------

    def read_ready_reports(self) -> None:
        now = time.monotonic()
        data, _ = read_available(self.ready_pipe[0])
        by_pid = {s.pid: s for s in self.slots if s.pid is not None}
        for line in data.decode("ascii", "replace").splitlines():
            word, _, rest = line.partition(" ")
            if word == "backlog":
                pool, _, count = rest.partition(" ")
                if pool in self.specs and count.isdigit():
                    self.autoscale(pool, int(count))
                continue
            slot = by_pid.get(int(rest)) if word == "ready" and rest.isdigit() else None
            if slot is not None:
                slot.ready(now)

    # -- reaping ----------------------------------------------------------

    def reap_children(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.read_ready_reports()  # a child's last word may be its readiness
            if self.registrar_slot is not None and pid == self.registrar_slot.pid:
                self.registrar_exited(status)
                continue
            if self.scaler_slot is not None and pid == self.scaler_slot.pid:
                self.scaler_exited(status)
                continue
            slot = next((s for s in self.slots if s.pid == pid), None)
            if slot is not None:
                self.pool_child_exited(slot, status)

    def pool_child_exited(self, slot: Slot, status: int) -> None:
        now = time.monotonic()
        text = describe_status(status)
        pid, ran_for, ready_at = slot.pid, now - slot.started_at, slot.ready_at
        if self.scoreboard is not None and slot.board_index is not None:
            self.scoreboard.clear(slot.board_index)
        metrics.process_dead(self.child_identity(slot))
        code = os.waitstatus_to_exitcode(status)
        if self.phase in (Phase.DRAINING, Phase.STOPPING) or slot.retiring:
            slot.pid = None
            log.info("%s pid %d exited (%s)", slot.pool, pid, text)
            if slot.retiring:
                self.remove_slot(slot)
            return
        delay = slot.exited(now, text, code == EXIT_RECYCLE, self.timing)
        metrics.respawn(slot.pool, "recycle" if code == EXIT_RECYCLE else
                        "boot_failure" if slot.boot_failures else "served")
        if code == EXIT_RECYCLE:
            log.info("%s pid %d recycled itself; replacing it", slot.pool, pid)
        elif not slot.boot_failures:
            log.warning("%s pid %d died in service (%s) after %.1fs; respawning now",
                        slot.pool, pid, text, ran_for)
        else:
            limit = self.specs[slot.pool].give_up_after
            when = ("before it was ready" if ready_at is None else
                    f"{now - ready_at:.1f}s after it was ready, within min_uptime "
                    f"{self.timing.min_uptime:g}s")
            log.error("%s pid %d died %s (%s, after %.1fs): boot failure %d in a row of "
                      "slot %d; respawning in %.1fs", slot.pool, pid, when, text, ran_for,
                      slot.boot_failures, slot.index, delay)
            if limit is not None and slot.boot_failures >= limit:
                self.fail(f"pool {slot.pool}: {slot.boot_failures} boot failures in a row "
                          f"(give_up_after = {limit}; last {text})", event="give_up")

    def scaler_exited(self, status: int) -> None:
        """The scaler is respawned with a boot backoff; the pools keep their sizes meanwhile."""
        slot, now = self.scaler_slot, time.monotonic()
        pid, text = slot.pid, describe_status(status)
        if self.phase in (Phase.DRAINING, Phase.STOPPING):
            slot.pid = None
            return
        delay = slot.exited(now, text, False, self.timing)
        log.warning("scaler pid %d exited (%s); respawning in %.1fs", pid, text, delay)

    def registrar_exited(self, status: int) -> None:
        slot = self.registrar_slot
        now = time.monotonic()
        text = describe_status(status)
        pid = slot.pid
        slot.pid = None
        if os.waitstatus_to_exitcode(status) == 0:
            log.info("registrar pid %d done: domain and types registered", pid)
            if self.phase is Phase.REGISTERING:
                self.phase = Phase.RUNNING
            return
        if self.phase is not Phase.REGISTERING:
            return
        slot.boot_failures += 1
        if slot.boot_failures >= self.timing.registrar_attempts:
            self.fail(f"registration failed {slot.boot_failures} times (last: {text})")
            return
        delay = boot_backoff(slot.boot_failures, self.timing)
        slot.next_spawn_at = now + delay
        log.warning("registrar pid %d failed (%s); retrying in %.1fs", pid, text, delay)

    # -- murder: drain deadlines --------------------------------------------

    def murder_children(self) -> None:
        now = time.monotonic()
        if (self.phase is Phase.DRAINING and self.kill_at is None
                and self.drain_deadline is not None and now >= self.drain_deadline):
            pids = self.pool_pids()
            log.warning("graceful_timeout (%.0fs) reached with %d children busy: they fail "
                        "their tasks with reason swfd-shutdown and exit",
                        self.graceful_timeout, len(pids))
            self.signal_children(pids, signal.SIGUSR1)
            self.kill_at = now + self.timing.kill_grace
        if self.kill_at is not None and now >= self.kill_at:
            self.signal_children(self.pool_pids() + self.registrar_pids(), signal.SIGKILL)

    # -- manage: spawn what is due ------------------------------------------

    def manage_children(self) -> None:
        if self.phase in (Phase.DRAINING, Phase.STOPPING):
            if not self.all_pids():
                self.finished = True
            return
        now = time.monotonic()
        if self.phase is Phase.REGISTERING:
            slot = self.registrar_slot
            if slot.pid is None and now >= slot.next_spawn_at:
                self.spawn(self.registrar, slot, now)
            return
        for slot in self.slots:
            if slot.pid is None and now >= slot.next_spawn_at:
                self.spawn(self.specs[slot.pool], slot, now)
                now = time.monotonic()
        scaler = self.scaler_slot
        if scaler is not None and scaler.pid is None and now >= scaler.next_spawn_at:
            self.spawn(self.scaler, scaler, now)

    def spawn(self, spec: ChildSpec, slot: Slot, now: float) -> None:
        close = [*self.wakeup, self.ready_pipe[0], self.lifeline.write_fd,
                 *self.reporter.fds()]
        if self.parent_lifeline is not None:
            close.append(self.parent_lifeline)

        board = None
        if slot.board_index is not None:
            board = ScoreboardSlot(self.scoreboard, slot.board_index, pool=spec.name,
                                   slot=slot.index)

        identity = self.child_identity(slot)

        def target() -> int:
            metrics.set_identity(identity)
            return spec.target(lifeline_fd=self.lifeline.read_fd, ready_fd=self.ready_pipe[1],
                               board=board)

        try:
            pid = fork_child(target, spec.name, self.SIGNALS, close)
        except OSError as exc:  # EAGAIN/ENOMEM: a boot failure of the slot, never a spin
            delay = slot.exited(now, f"fork failed: {exc}", False, self.timing)
            log.error("cannot fork %s: %s; retrying in %.1fs", spec.name, exc, delay)
            return
        slot.started(pid, now)
        log.info("spawned %s pid %d", spec.name, pid)

    # -- what the supervisor hears --------------------------------------------

    def report_progress(self) -> None:
        now = time.monotonic()
        if self.next_alive is not None and now >= self.next_alive:
            self.reporter.send("alive")
            self.next_alive = now + self.heartbeat
        if self.phase is not Phase.RUNNING:
            return
        if not self.settled_reported and all(
            s.ready_at is not None or s.boot_failures for s in self.slots
        ):
            self.settled_reported = True
            self.reporter.send("settled", status=self.status_text())
        if not self.ready_reported and all(s.ready_at is not None for s in self.slots):
            self.ready_reported = True
            log.info("every pool polls: %s", self.status_text())
            self.reporter.send("ready", status=self.status_text())
        text, pools = self.status_text(), self.pool_states()
        shown = (text, [{k: v for k, v in p.items() if k != "next_try_in"} for p in pools])
        if shown != self.last_status:
            self.last_status = shown
            self.reporter.send("status", status=text, degraded=self.degraded_pools(),
                               pools=pools)

    def pool_states(self) -> list[dict]:
        """Each pool's sizes and health, for ``swfd status``."""
        now = time.monotonic()
        states = []
        for name, spec in self.specs.items():
            slots = [s for s in self.slots if s.pool == name and not s.retiring]
            failing = [s for s in slots if s.boot_failures]
            states.append({
                "pool": name, "kind": spec.kind, "wanted": len(slots),
                "min": spec.processes, "max": spec.max_processes or spec.processes,
                "backlog": self.backlog.get(name),
                "running": sum(s.pid is not None for s in slots),
                "ready": sum(s.pid is not None and s.ready_at is not None for s in slots),
                "degraded": name in self.degraded_pools(),
                "boot_failures": max((s.boot_failures for s in failing), default=0),
                "next_try_in": round(max((s.next_spawn_at - now for s in failing
                                          if s.pid is None), default=0.0), 1),
                "last_exit": max(failing, key=lambda s: s.boot_failures).last_exit
                if failing else None,
            })
        return states

    def degraded_pools(self) -> list[str]:
        """Pools with a slot that failed to boot and has no ready process now."""
        return sorted({s.pool for s in self.slots
                       if s.boot_failures and (s.pid is None or s.ready_at is None)})

    def status_text(self) -> str:
        counts: dict[str, int] = {}
        for slot in self.slots:
            kind = self.specs[slot.pool].kind
            counts[kind] = counts.get(kind, 0) + (slot.pid is not None)
        text = ", ".join(f"{n} {kind}{'' if n == 1 else 's'}" for kind, n in counts.items())
        parts = [f"{text} running"]
        now = time.monotonic()
        for pool in self.degraded_pools():
            slots = [s for s in self.slots if s.pool == pool and s.boot_failures]
            worst = max(slots, key=lambda s: s.boot_failures)
            wait = max(0.0, worst.next_spawn_at - now) if worst.pid is None else 0.0
            parts.append(f"pool {pool} degraded: {worst.boot_failures} boot failures in a row "
                         f"(last {worst.last_exit}), next try in {wait:.0f}s")
        return "; ".join(parts)

    # -- helpers --------------------------------------------------------

    def pool_pids(self) -> list[int]:
        return [s.pid for s in self.slots if s.pid is not None]

    def registrar_pids(self) -> list[int]:
        """The registrar's and the scaler's: helpers, drained with the pools."""
        return [s.pid for s in (self.registrar_slot, self.scaler_slot)
                if s is not None and s.pid is not None]

    def all_pids(self) -> list[int]:
        return self.pool_pids() + self.registrar_pids()

    def signal_children(self, pids: Sequence[int], sig: int) -> None:
        slots = {s.pid: s for s in (*self.slots, self.registrar_slot, self.scaler_slot)
                 if s and s.pid}
        for pid in pids:
            slot = slots.get(pid)
            if slot is None or (sig == signal.SIGKILL and sig in slot.signals_sent):
                continue
            if sig == signal.SIGKILL:
                log.warning("killing %s pid %d (SIGKILL)", slot.pool, pid)
            slot.signals_sent.add(sig)
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
