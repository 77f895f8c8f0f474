"""Page tokens: opaque base64 JSON, checked against the operation that made it.

Lists and histories use keyset tokens: the token carries the sort key of the
last item returned and the next page starts strictly after it, so an item
inserted or removed between two calls neither repeats nor skips another (as
SWF's "keep all other arguments unchanged" promises). Only a decision task's
pages use an offset: they page a fixed snapshot (the events up to its
DecisionTaskStarted). The token names its operation, so a token from one list
is refused by another with a ValidationException.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable, TypeVar

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


def key_of(p: dict, operation: str) -> tuple | None:
    """The sort key a keyset token carries (None on a first page)."""
    token = p.get("nextPageToken")
    if not token:
        return None
    data = decode_token(token, "nextPageToken")
    if not isinstance(data, dict) or data.get("op") != operation or "k" not in data:
        raise SWFFault("ValidationException", f"nextPageToken does not belong to {operation}")
    return tuple(data["k"])


def key_token(operation: str, key: tuple) -> str:
    return encode_token({"op": operation, "k": list(key)})


def page(items: Sequence[T], p: dict, operation: str, key: Callable[[T], tuple],
         descending: bool) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted by ``key`` in response order) and the next token."""
    last = key_of(p, operation)
    if last is not None:
        items = [i for i in items if (key(i) < last if descending else key(i) > last)]
    size = page_size(p)
    chunk = list(items[:size])
    more = len(items) > size
    return chunk, (key_token(operation, key(chunk[-1])) if more else None)
