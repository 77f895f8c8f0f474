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
