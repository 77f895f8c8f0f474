"""A faster parse of SWF's JSON responses, giving exactly the dicts botocore gives.

Why: botocore turns a response into Python objects by walking the service model
shape by shape (a ``getattr`` dispatch, a ``shape.members`` lookup and a
``.get`` per *declared* member of every structure), and converts each timestamp
with ``parse_timestamp``, which builds a new ``dateutil`` ``tzlocal()`` and runs
its pure-Python ``fromutc`` per value. On a decision task's history that walk
costs several times the ``json.loads`` under it (bench/README.md, figure 6b).

What: :class:`FastJSONParser` is botocore's own ``JSONParser`` with one method
replaced, ``_do_parse`` (the successful body of an operation's output shape).
Everything else stays botocore's: errors (status >= 301), ResponseMetadata,
headers, event streams, and the HTTP request itself (signing, endpoint, retries).
The body is parsed with ``json.loads`` and then converted by a function compiled
once per shape from the same service model:

- a structure keeps the members the model declares (by their wire names) whose
  value is not null, drops every other key, and converts each member's value;
- a list converts each item (a null item stays null);
- a timestamp becomes what ``botocore.utils.parse_timestamp`` returns: for an
  epoch number, the local time with a ``dateutil.tz.tzlocal`` tzinfo (fold
  included), see :func:`epoch_to_datetime`;
- strings, numbers and booleans pass through as they are (botocore does not
  check them either); any other shape type is handed to botocore's handler.

Anything the fast path does not expect (a body that is not JSON, a structure
that is not an object, a list that is not an array, a timestamp that is not a
number in range) makes it give up and run botocore's parse on the whole body, so
the result is botocore's whatever the input. One difference is not a value: a
structure's keys come in the order they came on the wire (botocore orders them
as the model declares; SWF sends them in that order anyway), and dicts compare
equal either way. tests/test_fastparse.py checks equality against botocore on
every event type of the model and on recorded histories.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any, Callable

from botocore.parsers import JSONParser, ResponseParserFactory
from botocore.utils import parse_timestamp
from dateutil.tz import tzlocal

Converter = Callable[[Any], Any]


class Unexpected(Exception):
    """The body is not what the model describes: botocore's parse decides what it gives."""


def _local_zone_is_utc() -> bool:
    return time.timezone == 0 and time.altzone == 0


_UTC_TZLOCAL = tzlocal() if _local_zone_is_utc() else None
"""One shared ``tzlocal()`` when the local zone is UTC all year (a daemon's usual
setting): no fold is possible, so sharing the instance changes no comparison or
arithmetic. Elsewhere each datetime gets its own instance, as botocore's do
(aware datetimes with *different* tzinfo objects compare in UTC, which matters
for the repeated hour at a DST change)."""

_fromtimestamp = datetime.datetime.fromtimestamp


def epoch_to_datetime(value: Any) -> datetime.datetime:
    """``botocore.utils.parse_timestamp(value)`` for an epoch number, without its cost.

    botocore returns ``datetime.fromtimestamp(value, tzlocal())``. The local wall
    time from C's ``localtime`` (``fromtimestamp(value)``, fold set as PEP 495 says)
    with that tzinfo attached is the same datetime: same fields, same fold, same
    ``utcoffset()``. Anything but an int or float in range goes to botocore.
    """
    kind = type(value)
    if kind is not float and kind is not int:
        return parse_timestamp(value)
    try:
        wall = _fromtimestamp(value)
    except (OverflowError, OSError, ValueError):
        return parse_timestamp(value)
    return wall.replace(tzinfo=_UTC_TZLOCAL or tzlocal())


def _compile(shape: Any, done: dict[str, Converter | None],
             fallback: Callable[[Any, Any], Any]) -> Converter | None:
    """The converter for ``shape``; None where the JSON value is kept as it is."""
    name = f"{shape.type_name}:{shape.name}"
    if name in done:
        return done[name]
    kind = shape.type_name
    if kind in ("string", "integer", "long", "boolean", "double", "float"):
        done[name] = None
        return None
    if kind == "timestamp":
        done[name] = epoch_to_datetime
        return epoch_to_datetime
    if kind == "structure" and not (shape.is_document_type or shape.is_tagged_union):
        table: dict[str, tuple[str, Converter | None]] = {}
        converting: dict[str, Converter] = {}
        names: set[str] = set()
        same_names = True  # every member's wire name is its name (so in SWF)

        def structure(value: Any) -> dict[str, Any]:
            if type(value) is not dict:
                raise Unexpected(shape.name)
            if same_names and value.keys() <= names and None not in value.values():
                out = dict(value)  # the common case: copy in C, then convert what needs it
                if converting:
                    for key in value:
                        convert = converting.get(key)
                        if convert is not None:
                            out[key] = convert(out[key])
                return out
            out = {}
            for key, item in value.items():
                member = table.get(key)
                if member is not None and item is not None:
                    convert = member[1]
                    out[member[0]] = item if convert is None else convert(item)
            return out

        done[name] = structure  # before the members: a shape may contain itself
        for member_name, member_shape in shape.members.items():
            wire = member_shape.serialization.get("name", member_name)
            member_convert = _compile(member_shape, done, fallback)
            table[wire] = (member_name, member_convert)
            names.add(wire)
            same_names = same_names and wire == member_name
            if member_convert is not None:
                converting[wire] = member_convert
        return structure
    if kind == "list":
        def sequence(value: Any) -> list[Any]:
            if type(value) is not list:
                raise Unexpected(shape.name)
            if convert is None:
                return list(value)
            return [None if item is None else convert(item) for item in value]

        done[name] = sequence
        convert = _compile(shape.member, done, fallback)
        return sequence

    def botocore_handles(value: Any) -> Any:  # maps, blobs, documents, unions: none in SWF
        return fallback(shape, value)

    done[name] = botocore_handles
    return botocore_handles


class FastJSONParser(JSONParser):
    """botocore's JSON protocol parser with a compiled parse of successful bodies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._by_shape: dict[int, tuple[Any, Converter | None]] = {}
        self.fallbacks = 0

    def converter(self, shape: Any) -> Converter | None:
        found = self._by_shape.get(id(shape))
        if found is not None and found[0] is shape:
            return found[1]
        # Compiled per output shape: shape names are unique within one service only.
        convert = _compile(shape, {}, self._parse_shape)
        self._by_shape[id(shape)] = (shape, convert)
        return convert

    def _do_parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        if shape is None or shape.type_name != "structure" or shape.event_stream_name:
            return super()._do_parse(response, shape)
        body = response["body"]
        try:
            value = json.loads(body.decode(self.DEFAULT_ENCODING)) if body else {}
            parsed = self.converter(shape)(value)  # type: ignore[misc]
        except (ValueError, UnicodeDecodeError, Unexpected):
            self.fallbacks += 1
            return super()._do_parse(response, shape)
        self._inject_response_metadata(parsed, response["headers"])
        return parsed


class FastParserFactory(ResponseParserFactory):
    """What a botocore session builds clients' parsers with: the fast parser for the
    ``json`` protocol (SWF's), botocore's own for any other, one instance per protocol
    (a parser keeps no state between responses; botocore builds one per response)."""

    def __init__(self) -> None:
        super().__init__()
        self._parsers: dict[str, Any] = {}

    def set_parser_defaults(self, **kwargs: Any) -> None:
        super().set_parser_defaults(**kwargs)
        self._parsers.clear()

    def create_parser(self, protocol_name: str) -> Any:
        parser = self._parsers.get(protocol_name)
        if parser is None:
            if protocol_name == "json":
                parser = FastJSONParser(**self._defaults)
            else:
                parser = super().create_parser(protocol_name)
            self._parsers[protocol_name] = parser
        return parser
