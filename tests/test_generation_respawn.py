"""The per-slot respawn policy: a child that served is replaced at once however often it
dies; a boot failure backs off exponentially per slot, capped; recycles are free."""

from __future__ import annotations

from swfd.arbiter.respawn import Slot, Timing, boot_backoff

TIMING = Timing(min_uptime=10.0, boot_backoff_first=0.5, boot_backoff_max=60.0)


def test_boot_backoff_doubles_to_the_cap_and_the_delay_is_exact():
    assert [boot_backoff(n, TIMING) for n in (1, 2, 3, 4, 8, 50)] == [0.5, 1, 2, 4, 60, 60]


def test_a_child_that_served_is_replaced_at_once_however_often_it_dies():
    slot = Slot("worker:a", 0)
    now = 1000.0
    for _ in range(100):  # the OOM killer, every time past min_uptime
        slot.started(1, now)
        slot.ready(now + 0.1)
        now += 10.5
        assert slot.exited(now, "killed by SIGKILL", False, TIMING) == 0.0
        assert slot.next_spawn_at == now and slot.boot_failures == 0


def test_death_before_ready_or_within_min_uptime_is_a_boot_failure():
    slot = Slot("worker:a", 0)
    slot.started(1, 0.0)
    assert slot.exited(0.2, "exit code 1", False, TIMING) == 0.5  # never ready
    slot.started(2, 1.0)
    slot.ready(1.1)
    assert slot.exited(5.0, "killed by SIGKILL", False, TIMING) == 1.0  # ready 3.9 s only
    assert slot.boot_failures == 2 and slot.next_spawn_at == 6.0
    assert slot.backing_off
    slot.started(3, 6.0)
    slot.ready(6.1)
    assert slot.exited(20.0, "killed by SIGKILL", False, TIMING) == 0.0  # it served
    assert slot.boot_failures == 0 and not slot.backing_off


def test_recycle_is_free_even_before_ready():
    slot = Slot("worker:a", 0)
    for n in range(50):
        slot.started(n, float(n))
        assert slot.exited(float(n), "exit code 3", True, TIMING) == 0.0
    assert slot.boot_failures == 0


def test_slots_keep_their_own_history():
    bad, good = Slot("worker:a", 0), Slot("worker:a", 1)
    for n in range(6):
        bad.started(n, 0.0)
        bad.exited(0.1, "exit code 1", False, TIMING)
    good.started(99, 0.0)
    good.ready(0.1)
    assert bad.boot_failures == 6 and bad.next_spawn_at == 0.1 + 16.0
    assert good.exited(30.0, "killed by SIGKILL", False, TIMING) == 0.0
