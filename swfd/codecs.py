"""Payload codecs: how SWF's input/result strings map to Python values.

Every activity and workflow declares one. ``json`` (the default) decodes the
input with :func:`json.loads` and encodes results with :func:`json.dumps`;
``raw`` hands strings through unchanged, as the seed tutorial and plain SWF
clients use them. A missing or empty payload is ``None`` under both codecs,
and a ``None`` result means "no result" (the field is left out).
"""

from __future__ import annotations

import json
from typing import Any

from swfd.errors import CodecError

CODECS = ("json", "raw")


def check_codec(codec: str) -> str:
    """Return ``codec`` if swfd knows it, else raise CodecError naming the choices."""
    if codec not in CODECS:
        raise CodecError(f"unknown codec {codec!r}: expected one of {', '.join(CODECS)}")
    return codec


def decode(codec: str, data: str | None, what: str = "payload") -> Any:
    """Decode an SWF string (``what`` names it in errors, e.g. "input of activity X")."""
    check_codec(codec)
    if data is None or data == "":
        return None
    if codec == "raw":
        return data
    try:
        return json.loads(data)
    except ValueError as exc:
        raise CodecError(f"{what} is not valid JSON (codec 'json'): {exc}") from None


def encode(codec: str, value: Any, what: str = "value") -> str | None:
    """Encode a Python value as an SWF string, or ``None`` for "no payload"."""
    check_codec(codec)
    if value is None:
        return None
    if codec == "raw":
        if isinstance(value, str):
            return _utf8(value, what, codec)
        raise CodecError(
            f"{what} must be a str or None with codec 'raw', got {type(value).__name__}"
        )
    try:
        encoded = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"{what} cannot be encoded as JSON (codec 'json'): {exc}") from None
    return _utf8(encoded, what, codec)


def _utf8(text: str, what: str, codec: str) -> str:
    """``text`` if UTF-8 can carry it: SWF refuses a body with a lone surrogate
    (SerializationException), which would leave the task to time out."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CodecError(
            f"{what} is not valid Unicode (codec {codec!r}): {exc.reason} at character "
            f"{exc.start}; SWF payloads must be UTF-8"
        ) from None
    return text


def encode_field(codec: str, value: Any, what: str = "value") -> str | None:
    """Encode a payload someone may already have encoded: strings pass unchanged.

    Used where a plugin hands swfd a payload for another party (a decision's
    ``input``/``result``, heartbeat details): a ``str`` is taken as the SWF
    string itself (it may come straight from the history), anything else is
    encoded with ``codec``.
    """
    if value is None or isinstance(value, str):
        return value
    return encode(codec, value, what)


def sendable(text: str) -> str:
    """``text`` with whatever UTF-8 cannot carry (lone surrogates) escaped as ``\\udc80``.

    For what swfd itself sends about a task (failure reasons and tracebacks,
    heartbeat and cancel details): SWF refuses the whole request otherwise,
    and the task would be left to time out.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def swf_length(text: str) -> int:
    """Length as SWF counts it against its limits: UTF-16 code units (a character
    outside the BMP, such as most emoji, counts twice)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def truncate(text: str, limit: int, keep: str = "head") -> str:
    """Cut ``text`` to ``limit`` characters as SWF counts them (:func:`swf_length`),
    saying so; ``keep="tail"`` keeps the end."""
    if swf_length(text) <= limit:
        return text
    mark = "...[truncated]"
    budget = limit - len(mark)
    kept: list[str] = []
    for char in (reversed(text) if keep == "tail" else text):
        budget -= 2 if ord(char) > 0xFFFF else 1
        if budget < 0:
            break
        kept.append(char)
    if keep == "tail":
        return mark + "".join(reversed(kept))
    return "".join(kept) + mark
