"""The booking plugin through a real daemon on the shipped etc/swfd-booking.ini, driven
by the README's commands: ``swfd start Booking``, ``swfd signal``, ``swfd history``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from test_daemon_support import ROOT

from swfd.testing import wait_for

pytest.importorskip("swfd_booking", reason="pip install -e plugins/booking")

TRIP = {"from": "LHR", "to": "JFK", "date": "2027-03-01", "passenger": "Ada"}


@pytest.fixture
def booking_daemon(tmp_path):
    shipped = (ROOT / "etc" / "swfd-booking.ini").read_text()
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "swfd-booking.ini"
    config.write_text(re.sub(r"(?m)^port = \d+$", "port = 0",
                             re.sub(r"(?m)^poll_timeout = \d+$", "poll_timeout = 1",
                                    re.sub(r"(?m)^graceful_timeout = \d+$",
                                           "graceful_timeout = 12", shipped))))
    env = {**os.environ, "SWFD_DISABLE_PLUGIN_AUTOLOAD": "1"}

    def swfd(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "swfd.cli", "--config", str(config), *args],
                              check=False, env=env, capture_output=True, text=True, timeout=90)

    log = (tmp_path / "daemon.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "swfd.cli", "--config", str(config)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: process.poll() is not None or (
            "'booking' is REGISTERED" in swfd("check").stdout),
            timeout=60, message="the booking daemon to serve and register its domain")
        assert process.poll() is None, (tmp_path / "daemon.log").read_text()
        yield swfd
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            log.close()


def test_booking_regresses_on_a_signal_and_retries_visibly_through_the_daemon(
        booking_daemon):
    swfd = booking_daemon
    started = swfd("start", "Booking", "--workflow-id", "trip-1",
                   "--input", json.dumps({**TRIP, "card": "expired"}))
    assert started.returncode == 0, started.stderr

    def history(workflow_id):
        result = swfd("history", workflow_id, "--json")
        return json.loads(result.stdout) if result.returncode == 0 else []

    wait_for(lambda: any(e["eventType"] == "TimerStarted" for e in history("trip-1")),
             timeout=60, message="trip-1 to wait for a new payment method")
    signalled = swfd("signal", "trip-1", "new-payment-method",
                     "--input", json.dumps({"card": "4111111111111111"}))
    assert signalled.returncode == 0, signalled.stderr

    flaky = swfd("start", "Booking", "--workflow-id", "trip-2", "--wait", "--timeout", "60",
                 "--json", "--input", json.dumps({**TRIP, "card": "flaky"}))
    assert flaky.returncode == 0, flaky.stderr
    assert json.loads(flaky.stdout)["closeStatus"] == "COMPLETED"

    events = wait_for(lambda: [e for e in history("trip-1")
                               if e["eventType"] == "WorkflowExecutionCompleted"] and
                      history("trip-1"), timeout=60, message="trip-1 to complete")
    names = [e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
             for e in events if e["eventType"] == "ActivityTaskScheduled"]
    assert names == ["SelectItinerary", "SubmitPersonalDetails", "ValidatePayment",
                     "SubmitPersonalDetails", "ValidatePayment", "ConfirmBooking"]

    text = swfd("history", "trip-1").stdout
    assert "markerName='payment-failed'" in text and "CardDeclined" in text
    text = swfd("history", "trip-2").stdout
    assert "activityId='ValidatePayment-3#2'" in text
    assert "timerId='backoff-ValidatePayment-3#2'" in text
    attempts = [e["activityTaskScheduledEventAttributes"]["control"] for e in history("trip-2")
                if e["eventType"] == "ActivityTaskScheduled"
                and "control" in e["activityTaskScheduledEventAttributes"]]
    assert attempts == ["attempt 1 of 3", "attempt 2 of 3"]
