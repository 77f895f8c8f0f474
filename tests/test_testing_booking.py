"""The test kit on the seeds' airline booking (plugins/booking), as its author would test it.

Retries wait on durable backoff timers and the regress waits up to an hour for
a signal: on the kit's skipped clock every path runs in a fraction of a second,
with the signal sent when the history shows the payment failed.
"""

from __future__ import annotations

import pytest

from swfd.testing import run_workflow

swfd_booking = pytest.importorskip("swfd_booking", reason="pip install -e plugins/booking")

ACTIVITIES = [swfd_booking.select_itinerary, swfd_booking.personal_details,
              swfd_booking.validate_payment, swfd_booking.confirm_booking]
REQUEST = {"from": "LHR", "to": "JFK", "date": "2026-12-24", "passenger": "Ada"}


def payment_failed(run):
    return bool(run.markers("payment-failed"))


def test_a_flaky_gateway_is_retried_after_a_backoff_timer():
    run = run_workflow(swfd_booking.booking, {**REQUEST, "card": "flaky"}, activities=ACTIVITIES)
    assert run.status == "COMPLETED"
    assert run.result["passenger"] == "Ada"
    assert run.activities() == ["SelectItinerary", "SubmitPersonalDetails", "ValidatePayment",
                                "ValidatePayment", "ConfirmBooking"]
    assert run.elapsed == pytest.approx(1, abs=0.01)  # the first backoff: 1 s


def test_a_declined_card_regresses_to_a_new_payment_method_sent_by_signal():
    run = run_workflow(swfd_booking.booking, {**REQUEST, "card": "expired"},
                       activities=ACTIVITIES,
                       signals=[(payment_failed, "new-payment-method", {"card": "4111-0000"})])
    assert run.status == "COMPLETED"
    assert run.result["authorization"].endswith("0000")
    assert run.activities().count("SubmitPersonalDetails") == 2  # regressed once
    assert run.activities().count("ValidatePayment") == 2  # declined: not retried


def test_no_new_payment_method_within_the_hour_fails_at_that_stage():
    run = run_workflow(swfd_booking.booking, {**REQUEST, "card": "gateway-down"},
                       activities=ACTIVITIES)
    assert (run.status, run.reason) == ("FAILED", "no payment method")
    assert run.activities().count("ValidatePayment") == 3  # retried, then gave up
    assert run.elapsed == pytest.approx(1 + 2 + 3600, abs=0.01)
