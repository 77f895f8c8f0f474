"""The one way swfd makes SWF calls: ``call(client, "Operation", **params)``.

Retries are tenacity's alone (clients from ``swfd.swf.client`` have botocore's
retries off), decided by operation name, per DESIGN.md's Failure semantics:

- Throttling (``ThrottlingException``, HTTP 429), server errors (HTTP 5xx,
  ``InternalFailure``, ``ServiceUnavailable``) and connection errors are retried
  with exponential backoff and full jitter (0.2 s base, 20 s cap).
- ``LimitExceededFault`` is retried only on the two polls: a poll refused for
  too many open polls loses nothing by waiting; elsewhere it is a real quota the
  caller must see.
- Validation, unknown-resource and other 4xx faults are never retried: trying
  again cannot change the answer.
- ``StartWorkflowExecution`` and ``SignalWorkflowExecution`` are not idempotent
  (a second signal is a second event; a second start may run the workflow twice
  if the first already closed), so they are retried only when the request surely
  did not land: the connection was never made (``EndpointConnectionError``,
  ``ConnectTimeoutError``) or SWF answered that it throttled the request (a
  throttled request is rejected before it is processed). A read timeout, a
  dropped connection or a 5xx may come after SWF acted, so those are raised.
- ``Respond*`` calls may land and still fail on the way back (read timeout,
  dropped connection, 5xx). Their retry then finds the task closed, which SWF
  reports as ``UnknownResourceFault``. On a *retried* attempt that fault is
  logged and the call taken as done (``call`` returns None); on the first
  attempt it is raised (the task really was gone: timed out or canceled).
  ``RecordActivityTaskHeartbeat`` is deliberately not in that set: a heartbeat
  that landed does not close the task, so ``UnknownResourceFault`` on any
  attempt means the task is gone, and the worker must see it to stop
  heartbeating (DESIGN.md).

Retries are unbounded unless the caller bounds them: ``deadline`` (a
``time.monotonic()`` value), ``stop`` (a callable; True ends retrying, e.g.
"this process is draining") or ``max_attempts``. When bounded retrying ends,
the last error is raised. Every retry is logged on ``swfd.swf.retry`` with the
operation, the attempt, the error code and the wait.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore import xform_name
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

log = logging.getLogger(__name__)

POLL_OPERATIONS = frozenset({"PollForActivityTask", "PollForDecisionTask"})
NON_IDEMPOTENT_OPERATIONS = frozenset({"StartWorkflowExecution", "SignalWorkflowExecution"})
RESPOND_OPERATIONS = frozenset({
    "RespondActivityTaskCompleted",
    "RespondActivityTaskFailed",
    "RespondActivityTaskCanceled",
    "RespondDecisionTaskCompleted",
})
"""Operations whose UnknownResourceFault on a retry means the first attempt landed."""

THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
SERVER_ERROR_CODES = frozenset({"InternalFailure", "InternalServerError", "ServiceUnavailable"})

NOT_SENT_ERRORS: tuple[type[BaseException], ...] = (EndpointConnectionError, ConnectTimeoutError)
"""Connection errors raised before a request could reach SWF."""

MAYBE_SENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionClosedError, ReadTimeoutError)
"""Connection errors raised after a request may have reached SWF."""


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff parameters; ``sleep`` and ``clock`` (the one ``deadline`` is measured on)
    are injectable so tests never sleep for real."""

    base: float = 0.2
    cap: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    clock: Callable[[], float] = field(default=time.monotonic)


DEFAULT_POLICY = RetryPolicy()


def error_code(error: BaseException) -> str:
    """SWF's error code for a ClientError, else the exception's class name."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


def http_status(error: BaseException) -> int | None:
    if isinstance(error, ClientError):
        return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def _throttled(error: BaseException) -> bool:
    return isinstance(error, ClientError) and (
        error_code(error) in THROTTLING_CODES or http_status(error) == 429
    )


def _server_error(error: BaseException) -> bool:
    if not isinstance(error, ClientError):
        return False
    status = http_status(error) or 0
    return status >= 500 or error_code(error) in SERVER_ERROR_CODES


def is_retryable(error: BaseException, operation: str) -> bool:
    """Whether ``error`` from ``operation`` is worth another attempt (the pure policy)."""
    if isinstance(error, NOT_SENT_ERRORS) or _throttled(error):
        return True
    if operation in NON_IDEMPOTENT_OPERATIONS:
        return False
    if isinstance(error, MAYBE_SENT_ERRORS) or _server_error(error):
        return True
    if isinstance(error, ClientError) and error_code(error) == "LimitExceededFault":
        return operation in POLL_OPERATIONS
    return False


def taken_as_done(error: BaseException, operation: str, attempt: int) -> bool:
    """Whether ``error`` on attempt number ``attempt`` means an earlier attempt landed."""
    return (
        attempt > 1
        and operation in RESPOND_OPERATIONS
        and isinstance(error, ClientError)
        and error_code(error) == "UnknownResourceFault"
    )


# Where SWF's and botocore's validation messages quote a value (a payload, maybe).
_QUOTED_VALUES = (
    (re.compile(r"Value '.*?' at '", re.DOTALL), "Value (not shown) at '"),
    (re.compile(r", value: .*?, type: ", re.DOTALL), ", value: (not shown), type: "),
)


def without_values(message: str) -> str:
    """An SWF error message with the values it quotes left out, fit for a log line:
    logs never hold payloads, and a refused field's value may be one."""
    for pattern, replacement in _QUOTED_VALUES:
        message = pattern.sub(replacement, message)
    return message


def _method(client: Any, operation: str) -> Callable[..., dict]:
    if operation not in client.meta.service_model.operation_names:
        raise ValueError(f"{operation!r} is not an SWF operation")
    return getattr(client, xform_name(operation))


def call(
    client: Any,
    operation: str,
    *,
    deadline: float | None = None,
    stop: Callable[[], bool] | None = None,
    max_attempts: int | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
    log_context: dict[str, Any] | None = None,
    quiet: bool = False,
    **params: Any,
) -> dict | None:
    """Call SWF ``operation`` with ``params``, retrying per the module's policy.

    Returns the response, or None when a retried Respond* found its task already
    closed (the earlier attempt landed). Raises the last error otherwise.
    ``log_context``: the task's fields (workflowId, runId, activityId ...) for
    the retry log lines, so a task's every line names it. ``quiet``: no line
    for the last failure (the caller logs it, e.g. once per outage).
    """
    method = _method(client, operation)
    try:  # the first attempt: tenacity's machinery only once it has failed (bench/README.md)
        return method(**params)
    except Exception as error:  # noqa: BLE001 - handed to the policy below as attempt 1
        first_error: BaseException = error
    context = dict(log_context or {})

    def should_stop(state: RetryCallState) -> bool:
        if max_attempts is not None and state.attempt_number >= max_attempts:
            return True
        if stop is not None and stop():
            return True
        return deadline is not None and policy.clock() + state.upcoming_sleep >= deadline

    def give_up(state: RetryCallState) -> Any:
        error = state.outcome.exception() if state.outcome else None
        if quiet:
            return state.outcome.result() if state.outcome else None  # raises the error
        log.warning(
            "SWF %s failed on attempt %d (%s); no more retries",
            operation, state.attempt_number, error_code(error) if error else "?",
            extra={**context, "operation": operation, "attempt": state.attempt_number,
                   "error_code": error_code(error) if error else None},
        )
        return state.outcome.result() if state.outcome else None  # raises the error

    retrying = Retrying(
        sleep=_sleeper(policy, stop),
        wait=wait_random_exponential(multiplier=policy.base, max=policy.cap),
        retry=retry_if_exception(lambda error: is_retryable(error, operation)),
        stop=should_stop,
        before_sleep=lambda state: _log_retry(operation, state, context),
        retry_error_callback=give_up,
    )
    last_error: BaseException | None = None
    for attempt in retrying:
        with attempt:
            number = attempt.retry_state.attempt_number
            if number == 1:  # already made, above
                last_error = first_error
                raise first_error
            if last_error is not None and stop is not None and stop():
                raise last_error  # stopped while backing off: do not start another attempt
            try:
                return method(**params)
            except ClientError as error:
                last_error = error
                if taken_as_done(error, operation, number):
                    log.warning(
                        "SWF %s: UnknownResourceFault on attempt %d; an earlier attempt "
                        "landed, taken as done", operation, number,
                        extra={**context, "operation": operation, "attempt": number,
                               "error_code": "UnknownResourceFault"},
                    )
                    return None
                raise
            except Exception as error:
                last_error = error
                raise
    raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover


def _log_retry(operation: str, state: RetryCallState, context: dict[str, Any]) -> None:
    error = state.outcome.exception() if state.outcome else None
    code = error_code(error) if error else "?"
    wait = state.upcoming_sleep
    from swfd import metrics

    metrics.retry(operation, code)
    log.warning(
        "SWF %s failed on attempt %d (%s); retrying in %.2f s",
        operation, state.attempt_number, code, wait,
        extra={**context, "operation": operation, "attempt": state.attempt_number,
               "error_code": code, "retry_wait": wait},
    )


def _sleeper(policy: RetryPolicy, stop: Callable[[], bool] | None) -> Callable[[float], None]:
    """Sleep ``seconds``, or less if ``stop`` turns True meanwhile (checked every 0.5 s)."""
    if stop is None:
        return policy.sleep

    def interruptible(seconds: float) -> None:
        end = policy.clock() + seconds
        for _ in range(int(seconds / 0.5) + 2):
            remaining = end - policy.clock()
            if remaining <= 0 or stop():
                return
            policy.sleep(min(remaining, 0.5))

    return interruptible
