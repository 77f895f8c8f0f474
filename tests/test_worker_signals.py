"""A real worker child process and real signals: fast stop, drain, start-to-close overrun.

The child is started like a generation starts one (signal handlers installed,
plugins from the config; see tests/plugins/swfd_harness.py); the decider runs
in a thread of the test process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

PLUGINS = os.path.join(os.path.dirname(__file__), "plugins")
sys.path.insert(0, PLUGINS)

import swfd_harness as h

from swfd.plugins import load_plugins
from swfd.testing import wait_for


@pytest.fixture
def env(local_endpoint, swf_client, domain, tmp_path):
    config = h.write_config(tmp_path, local_endpoint.url, domain)
    settings = h.load_settings(config)
    registry = load_plugins(settings)
    h.register_types(swf_client, domain, registry)
    decider = h.LoopThread("decider", settings, h.pool_of(settings, "decider"), registry)
    decider.start()
    yield config
    decider.stop()


@pytest.fixture
def worker_process(env, tmp_path):
    """Start the worker child; yields (process, stderr path); killed if a test leaves it."""
    procs = []

    def start() -> subprocess.Popen:
        environ = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [PLUGINS, os.environ.get("PYTHONPATH", "")]))
        stderr = open(tmp_path / f"worker{len(procs)}.log", "w")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, os.path.join(PLUGINS, "swfd_harness.py"), "worker", str(env),
             "test"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=environ,
        )
        procs.append((proc, stderr))
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc, stderr in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        stderr.close()


def _sleep_workflow(client, domain, seconds: float) -> dict:
    return h.start(client, domain, "RunActivity",
                   input=json.dumps({"activity": "Sleep", "input": {"seconds": seconds}}))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1])
def test_fast_stop_fails_the_task_in_hand_with_swfd_shutdown_at_once(
        worker_process, swf_client, domain, signum):
    proc = worker_process()
    run = _sleep_workflow(swf_client, domain, 60)
    h.wait_for_event(swf_client, domain, run, "ActivityTaskStarted")
    sent = time.monotonic()
    proc.send_signal(signum)
    assert proc.wait(10) == 0
    failed = h.wait_for_event(swf_client, domain, run, "ActivityTaskFailed", timeout=10)
    assert time.monotonic() - sent < 5  # not after any timeout
    assert h.attrs(failed)["reason"] == "swfd-shutdown"
    assert signal.Signals(signum).name in h.attrs(failed)["details"]


def test_term_finishes_the_task_in_hand_then_exits_0(worker_process, swf_client, domain):
    proc = worker_process()
    run = _sleep_workflow(swf_client, domain, 1.5)
    h.wait_for_event(swf_client, domain, run, "ActivityTaskStarted")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    events = h.wait_closed(swf_client, domain, run)
    assert "ActivityTaskCompleted" in h.types(events)
    assert "ActivityTaskFailed" not in h.types(events)


def test_handler_past_declared_start_to_close_is_failed_and_process_recycled(
        worker_process, swf_client, domain):
    proc = worker_process()
    run = h.start(swf_client, domain, "RunActivity",
                  input=json.dumps({"activity": "Overrun", "start_to_close_timeout": 30}))
    assert proc.wait(20) == 3
    failed = h.wait_for_event(swf_client, domain, run, "ActivityTaskFailed")
    assert h.attrs(failed)["reason"] == (
        "swfd: handler exceeded its declared start_to_close_timeout of 2 s"
    )
    assert "ActivityTaskTimedOut" not in h.types(h.history(swf_client, domain, run))


def test_worker_keeps_polling_when_the_endpoint_is_away(worker_process, local_endpoint,
                                                        swf_client, domain, tmp_path):
    """A poll error is logged and retried with backoff; TERM still ends it cleanly."""
    proc = worker_process()
    local_endpoint.stop()  # polls now fail with connection errors
    log = tmp_path / "worker0.log"
    wait_for(lambda: "PollForActivityTask" in log.read_text(), timeout=15,
             message="the poll error to be logged")
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
