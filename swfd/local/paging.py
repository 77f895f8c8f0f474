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
    if not (isinstance(data, dict) and data.get("op") == operation
            and type(data.get("o")) is int and 0 <= data["o"] <= 2**31):
        raise SWFFault("ValidationException", f"nextPageToken does not belong to {operation}")
    return data["o"]


def make_token(operation: str, offset: int, **extra) -> str:
    return encode_token({"op": operation, "o": offset, **extra})


NUMBER, INTEGER, TEXT = "number", "integer", "text"


def key_of(p: dict, operation: str, kinds: tuple[str, ...]) -> tuple | None:
    """The sort key a keyset token carries (None on a first page).

    ``kinds`` is the key's shape (NUMBER or TEXT per element): a token that decodes
    but carries another shape was not made by this list, so it is the client's error
    (ValidationException), never a comparison or SQLite error of ours."""
    token = p.get("nextPageToken")
    if not token:
        return None
    data = decode_token(token, "nextPageToken")
    key = data.get("k") if isinstance(data, dict) and data.get("op") == operation else None
    if not (isinstance(key, list) and len(key) == len(kinds)
            and all(_is(value, kind) for value, kind in zip(key, kinds))):
        raise SWFFault("ValidationException", f"nextPageToken does not belong to {operation}")
    return tuple(key)


def _is(value: object, kind: str) -> bool:
    if kind == TEXT:
        return isinstance(value, str)
    if kind == INTEGER:  # an event id
        return type(value) is int and 0 <= value <= 2**53
    # JSON numbers within what SQLite and float comparison hold exactly.
    return type(value) in (int, float) and abs(value) <= 2**53


def key_token(operation: str, key: tuple) -> str:
    return encode_token({"op": operation, "k": list(key)})


def page(items: Sequence[T], p: dict, operation: str, key: Callable[[T], tuple],
         descending: bool, kinds: tuple[str, ...]) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted by ``key`` in response order) and the next token."""
    last = key_of(p, operation, kinds)
    if last is not None:
        items = [i for i in items if (key(i) < last if descending else key(i) > last)]
    size = page_size(p)
    chunk = list(items[:size])
    more = len(items) > size
    return chunk, (key_token(operation, key(chunk[-1])) if more else None)
