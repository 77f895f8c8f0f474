"""SWF faults and their JSON 1.0 wire form.

The engine and the protocol layer raise :class:`SWFFault`; the server turns it
into the body SWF sends. botocore takes the part of ``__type`` after ``#`` as
the error code, so modelled faults (``UnknownResourceFault``, ...) become
``client.exceptions.<Fault>`` and the rest (``ValidationException``, ...) a
``ClientError`` with that code. The namespaces are the ones real SWF uses:
``com.amazonaws.swf.base.model`` for SWF's own faults and Coral's for the
framework errors.
"""

from __future__ import annotations

import json

SWF_NAMESPACE = "com.amazonaws.swf.base.model"

# Framework (Coral) errors that real SWF sends under their own namespaces.
_CORAL_NAMESPACES = {
    "ValidationException": "com.amazon.coral.validate",
    "ThrottlingException": "com.amazon.coral.availability",
    "SerializationException": "com.amazon.coral.service",
    "UnknownOperationException": "com.amazon.coral.service",
    "InternalFailure": "com.amazon.coral.service",
    "AccessDeniedException": "com.amazon.coral.service",
    "MissingAuthenticationTokenException": "com.amazon.coral.service",
    "IncompleteSignatureException": "com.amazon.coral.service",
    "InvalidSignatureException": "com.amazon.coral.service",
    "UnrecognizedClientException": "com.amazon.coral.service",
}


class SWFFault(Exception):
    """An error answered to the client as an SWF fault.

    ``code`` is SWF's ``__type`` short name ("UnknownResourceFault",
    "ValidationException", ...); ``status`` the HTTP status (400 for every
    client error SWF reports, 500 only for InternalFailure).
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"SWFFault({self.code!r}, {self.message!r}, status={self.status})"

    def type_name(self) -> str:
        """The fully qualified ``__type`` value for this fault."""
        return qualified_type(self.code)

    def body(self) -> bytes:
        """The JSON error body SWF sends for this fault."""
        return error_body(self.code, self.message)


def qualified_type(code: str) -> str:
    """``UnknownResourceFault`` -> ``com.amazonaws.swf.base.model#UnknownResourceFault``."""
    return f"{_CORAL_NAMESPACES.get(code, SWF_NAMESPACE)}#{code}"


def error_body(code: str, message: str) -> bytes:
    """Render the JSON 1.0 error body ``{"__type": ..., "message": ...}`` as bytes."""
    return json.dumps({"__type": qualified_type(code), "message": message}).encode("utf-8")


def unknown_resource(message: str) -> SWFFault:
    return SWFFault("UnknownResourceFault", message)


def validation_error(message: str) -> SWFFault:
    return SWFFault("ValidationException", message)
