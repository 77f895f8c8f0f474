"""The seeds' airline booking as a workflow written as code (a swfd plugin).

"Booking an airline ticket as a workflow may encompass multiple activities,
such as selection of itinerary, submission of personal details, payment
validation and booking confirmation" (seeds 000/001), and the three things a
workflow does with them: progress when an activity completes, retry one that
fails, and when it keeps failing regress to the previous step for other
inputs, or fail at that stage.

- ``ValidatePayment`` is retried by its definition's ``swfd.Retry`` (three
  attempts, 1 s then 2 s backoff on durable timers). A declined card raises
  ``CardDeclined`` (a ``swfd.NonRetryable``): no retry.
- When payment fails for good, the workflow records a ``payment-failed``
  marker and regresses: it waits for a ``new-payment-method`` signal (input
  ``{"card": ...}``), then submits the personal details again with the new
  method and validates again.
- No signal within ``payment_wait`` seconds (the request's, default 3600):
  the workflow fails at that stage, reason "no payment method".

The payment gateway is simulated by card number, so every path can be tried
from the command line (see README.md): ``4111...`` is accepted, ``expired``
is declined, ``gateway-down`` fails every attempt, ``flaky`` fails the first.
"""

from __future__ import annotations

import hashlib
import logging

import swfd

log = logging.getLogger(__name__)

VERSION = "1.0"
TASK_LIST = "booking"
PAYMENT_SIGNAL = "new-payment-method"
PAYMENT_WAIT = 3600
MAX_ROUNDS = 5
PAYMENT_RETRY = swfd.Retry(max_attempts=3, backoff=2.0, initial_delay=1, max_delay=60)


class CardDeclined(swfd.NonRetryable):
    """The card was refused: retrying the same card cannot help."""


class BadRequest(swfd.NonRetryable):
    """The request lacks what the step needs."""


def attempt(task) -> int:
    """The attempt number swfd put in the activity id (``...#2`` for the second)."""
    _head, sep, tail = task.activity_id.rpartition("#")
    return int(tail) if sep and tail.isdigit() else 1


def _need(data: dict, *keys: str) -> None:
    missing = [k for k in keys if not data.get(k)]
    if missing:
        raise BadRequest(f"missing {', '.join(missing)}")


# -- activities ------------------------------------------------------------------------


@swfd.activity("SelectItinerary", VERSION, task_list=TASK_LIST)
def select_itinerary(task):
    """Pick the flight for the request's route and date."""
    request = task.input
    _need(request, "from", "to", "date")
    if request["from"] == request["to"]:
        raise BadRequest(f"no route from {request['from']} to itself")
    number = int(hashlib.sha256(f"{request['from']}{request['to']}".encode()).hexdigest(), 16)
    return {"flight": f"SW{number % 9000 + 1000}", "from": request["from"],
            "to": request["to"], "date": request["date"], "fare": 100 + number % 400}


@swfd.activity("SubmitPersonalDetails", VERSION, task_list=TASK_LIST)
def personal_details(task):
    """The passenger and the payment method to use for this itinerary."""
    data = task.input
    _need(data, "passenger", "card")
    return {"passenger": data["passenger"], "card": data["card"],
            "flight": data["itinerary"]["flight"], "fare": data["itinerary"]["fare"]}


@swfd.activity("ValidatePayment", VERSION, task_list=TASK_LIST, retry=PAYMENT_RETRY)
def validate_payment(task):
    """Authorise the fare on the card (a simulated gateway, by card number)."""
    details = task.input
    card = details["card"]
    if card == "expired":
        raise CardDeclined("card expired")
    if card == "gateway-down" or (card == "flaky" and attempt(task) == 1):
        raise ConnectionError("payment gateway did not answer")
    return {"authorization": f"AUTH-{details['flight']}-{card[-4:]}", "amount": details["fare"]}


@swfd.activity("ConfirmBooking", VERSION, task_list=TASK_LIST)
def confirm_booking(task):
    """Issue the ticket."""
    data = task.input
    return {"booking": data["reference"], "flight": data["details"]["flight"],
            "passenger": data["details"]["passenger"],
            "authorization": data["payment"]["authorization"]}


# -- the workflow ------------------------------------------------------------------------


@swfd.workflow("Booking", VERSION, task_list=TASK_LIST, execution_start_to_close_timeout=86400)
async def booking(wf, request):
    """Itinerary, personal details, payment (retried; on failure regress to personal
    details with a new payment method sent by signal, or fail), confirmation."""
    itinerary = await wf.activity(select_itinerary, request)
    card = request.get("card")
    wait = request.get("payment_wait", PAYMENT_WAIT)
    for round_number in range(1, MAX_ROUNDS + 1):
        details = await wf.activity(personal_details, {
            "itinerary": itinerary, "passenger": request.get("passenger"), "card": card})
        try:
            payment = await wf.activity(validate_payment, details)
            break
        except swfd.ActivityFailed as failed:
            wf.record_marker("payment-failed", {"round": round_number,
                                                "attempts": failed.attempts,
                                                "reason": failed.reason})
            new_method = await wf.signal(PAYMENT_SIGNAL, timeout=wait)
            if new_method is None:
                raise swfd.WorkflowFailed(
                    "no payment method",
                    details=f"payment failed ({failed.reason}) and no {PAYMENT_SIGNAL} "
                            f"signal came within {wait} s") from None
            card = new_method.get("card") if isinstance(new_method, dict) else new_method
    else:
        raise swfd.WorkflowFailed("payment failed", details=f"{MAX_ROUNDS} payment methods "
                                                            "were refused")
    reference = f"BK-{str(wf.uuid4())[:8].upper()}"
    return await wf.activity(confirm_booking, {"reference": reference, "details": details,
                                               "payment": payment})


@swfd.hookimpl
def swfd_activities():
    return [select_itinerary, personal_details, validate_payment, confirm_booking]


@swfd.hookimpl
def swfd_workflows():
    return [booking]
