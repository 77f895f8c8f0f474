"""Exceptions shared by the plugin API and the child-process loops.

``Canceled`` is public (``swfd.Canceled``): an activity handler raises it to
answer a cancel request. The others are raised by swfd itself and name what
was wrong and where, so an operator can act on the message alone.
"""

from __future__ import annotations


class SwfdError(Exception):
    """Base class of the errors swfd raises about plugins, definitions and payloads."""


class Canceled(Exception):
    """Raised by an activity handler to answer SWF's cancel request.

    The worker answers with RespondActivityTaskCanceled; ``details`` (a string,
    at most 32768 characters once encoded) goes into the ActivityTaskCanceled
    event.
    """

    def __init__(self, details: str | None = None) -> None:
        super().__init__(details)
        self.details = details


class DefinitionError(SwfdError, ValueError):
    """An ``@swfd.activity`` / ``@swfd.workflow`` declaration is invalid."""


class PluginError(SwfdError):
    """A plugin could not be loaded, or what it returned cannot be used."""


class CodecError(SwfdError, ValueError):
    """A payload could not be decoded from, or encoded to, an SWF string."""


# -- workflows as code (swfd.flow) ------------------------------------------------------

#: What the worker puts before the reason of a task whose handler raised NonRetryable,
#: so the workflow side knows from the history alone not to retry it.
NON_RETRYABLE_PREFIX = "non-retryable "


class NonRetryable(Exception):
    """Raised (or subclassed) by an activity handler for a failure no retry can fix.

    The worker marks the failure's reason with :data:`NON_RETRYABLE_PREFIX`; an
    ``async def`` workflow's retry policy then gives up at once and raises
    :class:`ActivityFailed` with ``non_retryable`` set.
    """


def failure_reason(exc: BaseException) -> str:
    """The reason an activity task fails with when its handler raised ``exc``."""
    text = f"{type(exc).__name__}: {exc}"
    return NON_RETRYABLE_PREFIX + text if isinstance(exc, NonRetryable) else text


class ActivityFailed(Exception):
    """An activity of an ``async def`` workflow failed for good (its retries used up,
    a non-retryable error, a timeout, a cancel, or SWF refused to schedule it).

    ``cause`` is ``"failed"``, ``"timed_out"``, ``"canceled"`` or
    ``"schedule_failed"``; ``reason``/``details`` are the last attempt's, as the
    worker wrote them (details: the traceback); ``attempts`` counts the tries;
    ``error_type`` is the exception class name the handler raised, when known.
    """

    def __init__(self, activity_id: str, activity_type: str, cause: str, reason: str | None,
                 details: str | None = None, attempts: int = 1) -> None:
        self.activity_id = activity_id
        self.activity_type = activity_type
        self.cause = cause
        self.reason = reason
        self.details = details
        self.attempts = attempts
        super().__init__(f"activity {activity_type} {activity_id} {cause.replace('_', ' ')} "
                         f"after {attempts} attempt(s): {reason or ''}".rstrip(": "))

    @property
    def non_retryable(self) -> bool:
        return bool(self.reason and self.reason.startswith(NON_RETRYABLE_PREFIX))

    @property
    def error_type(self) -> str | None:
        """The handler's exception class name, read from the reason ("Name: message")."""
        reason = self.reason or ""
        reason = reason.removeprefix(NON_RETRYABLE_PREFIX)
        name, sep, _ = reason.partition(":")
        return name if sep and name.isidentifier() else None


class ChildWorkflowFailed(Exception):
    """A child workflow closed other than completed (failed, timed out, canceled,
    terminated) or could not be started; ``cause`` says which."""

    def __init__(self, workflow_id: str, workflow_type: str, cause: str,
                 reason: str | None = None, details: str | None = None) -> None:
        self.workflow_id = workflow_id
        self.workflow_type = workflow_type
        self.cause = cause
        self.reason = reason
        self.details = details
        super().__init__(f"child workflow {workflow_type} {workflow_id}: {cause}"
                         + (f": {reason}" if reason else ""))


class WorkflowFailed(Exception):
    """Raise from an ``async def`` workflow to fail the execution with this reason and
    details (FailWorkflowExecution). Any other exception is a bug in the decision
    logic: recorded as a decider error and retried, as for history-style workflows."""

    def __init__(self, reason: str, details: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class ExternalWorkflowFailed(Exception):
    """Signalling or cancelling another execution failed (``cause`` is SWF's)."""

    def __init__(self, workflow_id: str, what: str, cause: str | None) -> None:
        self.workflow_id = workflow_id
        self.cause = cause
        super().__init__(f"{what} workflow {workflow_id} failed: {cause}")


class ContinueAsNew(BaseException):
    """Raised by ``wf.continue_as_new(...)``: close this run and start a new one with
    the same workflow id. A BaseException so ``except Exception`` does not stop it."""

    def __init__(self, input: object = None, **options: object) -> None:
        super().__init__("continue as new")
        self.input = input
        self.options = options


class NonDeterminismError(SwfdError):
    """Replaying an ``async def`` workflow against its history disagreed with it: the
    code would decide something other than what the history recorded (the code
    changed under a running execution). Names the event and the source line."""
