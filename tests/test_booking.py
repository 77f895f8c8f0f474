"""The seeds' airline booking (plugins/booking) driven by signals: progress, retry,
non-retryable failures, regress to personal details for a new payment method, and
fail at that stage; on the local endpoint and, for the signal-driven regress, on moto."""

from __future__ import annotations

import json

import pytest
from test_flow_support import Driver, attrs, closing, decider_errors, on_moto_and_local, types

from swfd.flow.replay import check_history

swfd_booking = pytest.importorskip("swfd_booking", reason="pip install -e plugins/booking")

DEFS = [swfd_booking.select_itinerary, swfd_booking.personal_details,
        swfd_booking.validate_payment, swfd_booking.confirm_booking, swfd_booking.booking]
GOOD_CARD = "4111111111111111"


def request(card, **extra):
    return {"from": "LHR", "to": "JFK", "date": "2027-03-01", "passenger": "Ada", "card": card,
            **extra}


@pytest.fixture
def driver(tmp_path, local_endpoint, swf_client, domain):
    return Driver(tmp_path, local_endpoint.url, swf_client, domain, DEFS)


def steps(events):
    """(activity type, activity id) in the order scheduled."""
    return [(attrs(e)["activityType"]["name"], attrs(e)["activityId"])
            for e in events if e["eventType"] == "ActivityTaskScheduled"]


def waiting_for_payment(events):
    """The workflow has decided to wait for a new payment method (its answer is recorded
    with the wait's timer)."""
    return any(e["eventType"] == "TimerStarted" and attrs(e)["timerId"].startswith("signal-wait")
               for e in events)


def finish(driver, execution, events):
    assert decider_errors(events) == []
    check_history(swfd_booking.booking, events)
    return events


def test_booking_progresses_through_the_four_steps(driver):
    execution = driver.start(swfd_booking.booking, request(GOOD_CARD))
    events = finish(driver, execution, driver.run(execution))
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    assert [s for s, _ in steps(events)] == ["SelectItinerary", "SubmitPersonalDetails",
                                             "ValidatePayment", "ConfirmBooking"]
    confirmation = json.loads(closing(events)["result"])
    assert confirmation["passenger"] == "Ada" and confirmation["booking"].startswith("BK-")
    assert confirmation["authorization"].endswith("-1111")


def test_a_flaky_gateway_is_retried_after_a_durable_backoff(driver):
    execution = driver.start(swfd_booking.booking, request("flaky"))
    events = finish(driver, execution, driver.run(execution))
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    assert [i for s, i in steps(events) if s == "ValidatePayment"] == [
        "ValidatePayment-3", "ValidatePayment-3#2"]
    assert [attrs(e)["timerId"] for e in events if e["eventType"] == "TimerStarted"] == [
        "backoff-ValidatePayment-3#2"]


def test_declined_card_regresses_to_personal_details_with_the_signalled_card(driver):
    execution = driver.start(swfd_booking.booking, request("expired"))
    events = driver.run(execution, until=waiting_for_payment)
    [failed] = [attrs(e) for e in events if e["eventType"] == "ActivityTaskFailed"]
    assert failed["reason"] == "non-retryable CardDeclined: card expired"
    [marker] = [attrs(e) for e in events if e["eventType"] == "MarkerRecorded"]
    assert marker["markerName"] == "payment-failed"
    assert json.loads(marker["details"])["attempts"] == 1
    driver.signal(execution, "new-payment-method", {"card": GOOD_CARD})
    events = finish(driver, execution, driver.run(execution))
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    assert [s for s, _ in steps(events)] == [
        "SelectItinerary", "SubmitPersonalDetails", "ValidatePayment",
        "SubmitPersonalDetails", "ValidatePayment", "ConfirmBooking"]
    second_details = [json.loads(attrs(e)["input"]) for e in events
                      if e["eventType"] == "ActivityTaskScheduled"
                      and attrs(e)["activityType"]["name"] == "SubmitPersonalDetails"][1]
    assert second_details["card"] == GOOD_CARD
    assert "TimerCanceled" in types(events)


def test_retries_used_up_regress_then_a_second_failure_fails_at_that_stage(driver):
    execution = driver.start(swfd_booking.booking, request("gateway-down", payment_wait=1))
    events = driver.run(execution, until=waiting_for_payment)
    payment_attempts = [i for s, i in steps(events) if s == "ValidatePayment"]
    assert payment_attempts == ["ValidatePayment-3", "ValidatePayment-3#2", "ValidatePayment-3#3"]
    backoffs = [(attrs(e)["timerId"], attrs(e)["startToFireTimeout"]) for e in events
                if e["eventType"] == "TimerStarted" and attrs(e)["timerId"].startswith("backoff")]
    assert backoffs == [("backoff-ValidatePayment-3#2", "1"), ("backoff-ValidatePayment-3#3", "2")]
    driver.signal(execution, "new-payment-method", {"card": "expired"})
    events = finish(driver, execution, driver.run(execution))
    assert events[-1]["eventType"] == "WorkflowExecutionFailed"
    assert closing(events)["reason"] == "no payment method"
    assert "CardDeclined" in closing(events)["details"]
    assert [s for s, _ in steps(events)].count("SubmitPersonalDetails") == 2


def test_no_new_payment_method_in_time_fails_the_booking(driver):
    execution = driver.start(swfd_booking.booking, request("expired", payment_wait=1))
    events = finish(driver, execution, driver.run(execution))
    assert events[-1]["eventType"] == "WorkflowExecutionFailed"
    assert closing(events)["reason"] == "no payment method"
    assert "ConfirmBooking" not in [s for s, _ in steps(events)]


@pytest.mark.parametrize("card", ["flaky", "expired"])
def test_retry_and_fail_at_that_stage_match_moto(tmp_path, local_endpoint, swf_client, domain,
                                                 card):
    """A backoff retry, and a payment wait that times out. (The signal-driven regress
    cancels the wait's timer, and moto records that as "TimerCancelled" with no
    attributes, which SWF never does, so that path is checked on the local endpoint
    only.)"""
    def scenario(driver):
        execution = driver.start(swfd_booking.booking, request(card, payment_wait=1))
        return finish(driver, execution, driver.run(execution))

    moto_events, local_events = on_moto_and_local(tmp_path, local_endpoint, swf_client,
                                                  domain, DEFS, scenario)
    assert types(local_events) == types(moto_events)
    assert steps(local_events) == steps(moto_events)
    assert closing(local_events).get("reason") == closing(moto_events).get("reason")
