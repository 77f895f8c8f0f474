"""How a failing poll is retried and logged (the loop itself runs in the daemon tests)."""

from __future__ import annotations

import logging

from botocore.exceptions import ClientError, EndpointConnectionError

from swfd.polling import POLL_REFUSED_CAP, POLL_RETRY_CAP, PollOutage


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "nope"},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, "PollForActivityTask")


def test_transient_errors_are_retried_at_most_1_5_s_apart_and_logged_once(caplog):
    outage = PollOutage("PollForActivityTask", "images")
    with caplog.at_level(logging.INFO, logger="swfd.polling"):
        waits = [outage.failed(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
                 for _ in range(30)]
        outage.recovered()
        outage.recovered()  # nothing more to say
    assert max(waits) <= POLL_RETRY_CAP and waits[0] <= 0.1
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("PollForActivityTask on task list images failing "
                               "(EndpointConnectionError")
    assert "works again after" in lines[1] and "(30 failed polls" in lines[1]


def test_errors_a_retry_cannot_fix_soon_back_off_further():
    outage = PollOutage("PollForActivityTask", "images")
    waits = [outage.failed(_client_error("UnknownResourceFault")) for _ in range(12)]
    assert waits[0] <= 1.0 and max(waits) <= POLL_REFUSED_CAP and max(waits) > POLL_RETRY_CAP


def test_a_throttled_poll_is_transient():
    outage = PollOutage("PollForDecisionTask", "main")
    assert all(outage.failed(_client_error("ThrottlingException")) <= POLL_RETRY_CAP
               for _ in range(20))
