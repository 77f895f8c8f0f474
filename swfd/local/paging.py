"""Page tokens: an opaque base64 JSON offset, checked against the operation that made it.

Why offsets: lists are ordered by stable keys (names, timestamps, event ids),
so an offset reproduces the next page; the token names its operation so a
token from one list is refused by another with a ValidationException.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from swfd.local.faults import SWFFault
from swfd.local.state import decode_token, encode_token

T = TypeVar("T")
MAX_PAGE = 1000


def page_size(p: dict) -> int:
    size = p.get("maximumPageSize") or MAX_PAGE
    return max(1, min(int(size), MAX_PAGE))


def offset_of(p: dict, operation: str) -> int:
    token = p.get("nextPageToken")
    if not token:
        return 0
    data = decode_token(token, "nextPageToken")
    if not isinstance(data, dict) or data.get("op") != operation or "o" not in data:
        raise SWFFault("ValidationException", f"nextPageToken does not belong to {operation}")
    return int(data["o"])


def make_token(operation: str, offset: int, **extra) -> str:
    return encode_token({"op": operation, "o": offset, **extra})


def page(items: Sequence[T], p: dict, operation: str) -> tuple[list[T], str | None]:
    """One page of ``items`` (already in response order) and the token for the next."""
    start = offset_of(p, operation)
    size = page_size(p)
    chunk = list(items[start:start + size])
    more = start + size < len(items)
    return chunk, (make_token(operation, start + size) if more else None)
