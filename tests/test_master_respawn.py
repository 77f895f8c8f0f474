"""Respawn accounting: backoff doubling with jitter and a cap, stable runs reset it,
recycles are free, and the crash-loop cap counts crashes in a row within a window."""

from __future__ import annotations

import pytest

from swfd.arbiter.respawn import Health, Timing


def health(**timing) -> Health:
    return Health.from_timing(Timing(**{"backoff_initial": 0.5, "backoff_max": 60.0,
                                        "stable_after": 30.0, "crash_loop_limit": 10,
                                        "crash_loop_window": 600.0, **timing}))


def test_backoff_doubles_with_jitter_up_to_the_cap():
    h = health()
    for crashes, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 60.0), (20, 60.0)]:
        delays = [h.delay(crashes) for _ in range(200)]
        assert all(0.75 * base <= d <= 1.25 * base for d in delays), (crashes, base)
        assert len(set(delays)) > 1  # jittered


def test_crashes_push_the_next_spawn_out_and_a_stable_run_resets():
    h = health()
    now = 1000.0
    delays = []
    for _ in range(4):
        delays.append(h.record_exit(now, ran_for=0.1, exit_text="exit code 1", recycle=False))
        assert not h.due(now) and h.due(now + delays[-1])
        now += delays[-1]
    assert delays[-1] >= 0.75 * 4.0
    assert h.record_exit(now, ran_for=31.0, exit_text="exit code 1", recycle=False) <= 0.625
    assert len(h.crashes) == 1


def test_recycle_is_free():
    h = health(crash_loop_limit=2)
    for _ in range(50):
        assert h.record_exit(1.0, ran_for=0.0, exit_text="exit code 3", recycle=True) == 0.0
    assert not h.failed and h.due(1.0) and not h.crashes


@pytest.mark.parametrize("spacing, fails", [(1.0, True), (100.0, False)])
def test_crash_loop_cap_counts_crashes_within_the_window(spacing, fails):
    h = health(crash_loop_limit=5, crash_loop_window=300.0)
    for n in range(5):
        h.record_exit(n * spacing, ran_for=0.1, exit_text="killed by SIGSEGV", recycle=False)
    assert h.failed is fails
    if fails:
        assert h.failed_reason.startswith("crash loop: 5 crashes in a row within 4s")
        assert h.failed_reason.endswith("last killed by SIGSEGV")
        assert not h.due(1e9)
