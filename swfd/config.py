"""swfd's configuration: one INI file, parsed into typed, immutable settings.

The file is validated as a whole at start (and by ``swfd --config F check``):
every problem is reported with the file, the section, the key, the bad value
and what was expected, so an operator fixes it in one pass. Unknown sections
and keys are errors, with a "did you mean". This module is the one home of the
key list; see ``KEYS`` below and DESIGN.md's Configuration section.

Choices worth knowing:

- Comments stand on their own lines. ``configparser`` keeps ``2  # two`` as the
  value, which then fails its type check with a hint about comments.
- Durations are seconds (a number, fractions allowed). Sizes are plain bytes or
  take a unit: ``KB``/``MB``/``GB``/``TB`` are powers of 1000, ``K``/``M``/``G``/``T``
  and ``KiB``/``MiB``/``GiB``/``TiB`` powers of 1024 (case-insensitive).
- Relative paths (``database``, ``pidfile``) are resolved against the
  directory of the configuration file, not the working directory.
- ``retention_days`` defaults to 1, the smallest retention that keeps a closed
  execution's history visible (SWF accepts 0-90; 0 deletes it at once).
- ``graceful_timeout`` defaults to ``max(120, poll timeout + 10)``; when given,
  it must exceed the poll timeout by at least 10 s so a draining child's last
  long poll can return and its task be answered.
- With the embedded endpoint, ``register`` is always on: the endpoint starts
  with no domain or types.
- ``[embedded]`` binds loopback; another address needs ``allow_remote = yes``,
  which needs ``keys_file``: a file (mode 0600) of ``ACCESS_KEY_ID SECRET``
  lines the endpoint verifies SigV4 signatures against. Secrets never go in the
  INI file itself. ``aws_faithful = yes`` lets the endpoint hand a task to a poll
  whose client has gone, as AWS does.
- ``plugins`` absent loads every installed swfd plugin (``Settings.plugins`` is
  None); ``plugins =`` with no names loads none (an empty tuple).
- A daemon with no ``[decider:NAME]`` or ``[worker:NAME]`` section would do
  nothing, so that is an error too.
"""

from __future__ import annotations

import ast
import configparser
import difflib
import math
import os
import re
import socket
import string
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

AWS_POLL_TIMEOUT = 60.0
"""Seconds an empty SWF long poll lasts on AWS."""

DRAIN_MARGIN = 10.0
"""graceful_timeout must exceed the poll timeout by this many seconds."""

MAX_IDENTITY = 256
"""SWF's limit on the ``identity`` sent with polls."""

_MAX_PID_DIGITS = 7  # Linux pid_max is at most 4194304

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
POOL_KINDS = ("decider", "worker")
IDENTITY_FIELDS = ("hostname", "pid", "pool")


class ConfigError(Exception):
    """The configuration file is missing, unreadable or has invalid content.

    ``problems`` lists every problem found, one full message each; ``str()``
    joins them one per line.
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class EmbeddedSettings:
    """The local SWF endpoint run by the master when ``endpoint_url = embedded``."""

    host: str = "127.0.0.1"
    port: int = 8799
    database: str = "local.sqlite3"
    poll_timeout: float = AWS_POLL_TIMEOUT
    # A non-loopback ``host`` is refused unless allow_remote, which needs keys_file.
    allow_remote: bool = False
    # Hand tasks to polls whose client has gone, as AWS does (no connection watch).
    aws_faithful: bool = False
    # Key pairs the endpoint verifies SigV4 signatures against: 'ID SECRET' lines in a
    # file of mode 0600 -- the secrets themselves never go in this INI file.
    keys_file: str | None = None
    # The web console (swfd.console) as a child of the supervisor, on loopback only.
    console: bool = False
    console_host: str = "127.0.0.1"
    console_port: int = 8080
    console_allow_actions: bool = False


@dataclass(frozen=True)
class PoolSettings:
    """One ``[decider:NAME]`` or ``[worker:NAME]`` section: a pool of processes."""

    kind: str
    name: str
    task_list: str
    processes: int = 1
    # ``processes = low..high``: the pool autoscales from its backlog (processes = low).
    processes_max: int | None = None
    scale_interval: float = 10.0
    scale_down_delay: float = 60.0
    heartbeat_interval: float = 30.0
    heartbeat_min_gap: float = 1.0
    respond_timeout: float = 300.0
    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None
    decider_max_attempts: int | None = None
    give_up_after: int | None = None
    # Deciders: keep the events of the runs decided (see swfd.history_cache).
    history_cache: bool = False
    history_cache_mb: int = 64
    section: str = ""


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one swfd host."""

    path: str
    domain: str
    region: str
    endpoint_url: str | None
    identity: str
    plugins: tuple[str, ...] | None
    graceful_timeout: float
    pidfile: str | None
    log_format: str
    log_level: str
    register: bool
    retention_days: int
    embedded: EmbeddedSettings
    pools: tuple[PoolSettings, ...]
    min_uptime: float = 10.0
    control_socket: str | None = None
    proctitle_tasks: bool = False
    metrics: str | None = None

    @property
    def is_embedded(self) -> bool:
        """True when the master runs the local SWF endpoint itself."""
        return self.endpoint_url == "embedded"

    @property
    def idle_console_warning(self) -> str | None:
        """What to tell an operator who asked for ``[embedded] console = yes`` without the
        embedded endpoint (where no ``[embedded]`` key acts), else None."""
        if self.is_embedded or not self.embedded.console:
            return None
        return (f"[embedded] console = yes has no effect: endpoint_url is "
                f"{self.endpoint_url!r}, not embedded; run `swfd --config {self.path} "
                "console` beside the daemon")

    @property
    def poll_timeout(self) -> float:
        """How long an empty long poll can last against the configured endpoint."""
        return self.embedded.poll_timeout if self.is_embedded else AWS_POLL_TIMEOUT

    def pools_of(self, kind: str) -> tuple[PoolSettings, ...]:
        """The pools of one kind ("decider" or "worker"), in file order."""
        return tuple(pool for pool in self.pools if pool.kind == kind)


# --------------------------------------------------------------------------- values


class _Invalid(ValueError):
    """A value failed its check; the message is what was expected."""


_INLINE_COMMENT = re.compile(r"\s[#;]")
_SWF_NAME_FORBIDDEN = re.compile(r"[:/|\u0000-\u001f\u007f-\u009f]")
_POOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PLUGIN_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]*)$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}  # fmt: skip
_BOOLEANS = {"1": True, "yes": True, "true": True, "on": True,
             "0": False, "no": False, "false": False, "off": False}  # fmt: skip


def _swf_name(value: str) -> str:
    expected = (
        "an SWF name: 1-256 characters, no leading or trailing whitespace, "
        "no ':', '/', '|' or control characters, not 'arn'"
    )
    if not value or len(value) > 256 or value != value.strip() or value == "arn":
        raise _Invalid(expected)
    if _SWF_NAME_FORBIDDEN.search(value):
        raise _Invalid(expected)
    return value


def _positive_int(value: str) -> int:
    try:
        number = int(value, 10)
    except ValueError:
        raise _Invalid("a positive integer") from None
    if number < 1:
        raise _Invalid("a positive integer")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise _Invalid("a number of seconds (e.g. 30 or 2.5, no unit)") from None
    if not math.isfinite(number) or number <= 0:
        raise _Invalid("a positive number of seconds")
    return number


def _size(value: str) -> int:
    expected = "a size in bytes, optionally with a unit (e.g. 536870912, 512MB, 512MiB, 1G)"
    match = _SIZE.match(value)
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise _Invalid(expected)
    number = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if number < 1:
        raise _Invalid("a positive size")
    return number


def _boolean(value: str) -> bool:
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise _Invalid("yes or no (also true/false, on/off, 1/0)") from None


def _choice(choices: tuple[str, ...], normalise: Callable[[str], str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        normalised = normalise(value)
        if normalised == "WARN":
            normalised = "WARNING"
        if normalised not in choices:
            raise _Invalid("one of " + ", ".join(choices))
        return normalised

    return check


def _region(value: str) -> str:
    if not _REGION.match(value):
        raise _Invalid("an AWS region name such as us-east-1")
    return value


def _endpoint_url(value: str) -> str:
    if value.lower() == "embedded":
        return "embedded"
    expected = "'embedded' or an http(s) URL such as https://swf.us-east-1.amazonaws.com"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _Invalid(expected) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise _Invalid(expected)
    return value


def _identity(value: str) -> str:
    expected = "a template using only {hostname}, {pid} and {pool} ('{{' for a literal brace)"
    try:
        fields = list(string.Formatter().parse(value))
    except ValueError:
        raise _Invalid(expected) from None
    for _literal, field, spec, conversion in fields:
        if field is None:
            continue
        if field not in IDENTITY_FIELDS or spec or conversion:
            raise _Invalid(expected)
    if not value.strip():
        raise _Invalid("a non-empty identity template")
    return value


def _plugins(value: str) -> tuple[str, ...]:
    names = tuple(name for name in re.split(r"[\s,]+", value) if name)
    for name in names:
        if not _PLUGIN_NAME.match(name):
            raise _Invalid(
                "entry-point names of the 'swfd' group separated by commas or spaces"
            )
    if len(set(names)) != len(names):
        raise _Invalid("each plugin listed once")
    return names


def _port(value: str) -> int:
    try:
        number = int(value, 10)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise _Invalid("a TCP port number from 1 to 65535, or 0 for any free port")
    return number


def _listen_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise _Invalid("HOST:PORT, e.g. 127.0.0.1:9464 (port 0: any free port)")
    return value


def _host(value: str) -> str:
    if not re.match(r"^[A-Za-z0-9.:_-]+$", value):
        raise _Invalid("a host name or IP address to listen on, such as 127.0.0.1")
    return value


def _loopback_host(value: str) -> str:
    from swfd.console.command import is_loopback

    if not is_loopback(value):
        raise _Invalid("a loopback address (127.0.0.1, ::1 or localhost): the console has no "
                       "login; `swfd console --allow-remote` exposes it, if you must")
    return value


def _poll_timeout(value: str) -> float:
    number = _seconds(value)
    if number > AWS_POLL_TIMEOUT:
        raise _Invalid("a number of seconds, at most 60 (SWF's long poll; clients wait 70)")
    return number


def _retention(value: str) -> int:
    try:
        number = int(value, 10)
    except ValueError:
        number = -1
    if not 0 <= number <= 90:
        raise _Invalid("a whole number of days from 0 to 90 (SWF's retention limits)")
    return number


def _path(value: str) -> str:
    if "\0" in value:
        raise _Invalid("a file path")
    return value


def _processes(value: str) -> int | tuple[int, int]:
    """``4``: a fixed pool; ``2..16``: autoscaled between the bounds from the backlog."""
    low, sep, high = value.partition("..")
    try:
        bounds = [_positive_int(low.strip())] + ([_positive_int(high.strip())] if sep else [])
    except _Invalid:
        raise _Invalid("a positive integer, at most 1024, or a range such as 2..16") from None
    if max(bounds) > 1024:
        raise _Invalid("a positive integer, at most 1024, or a range such as 2..16")
    if not sep:
        return bounds[0]
    if bounds[0] > bounds[1]:
        raise _Invalid("a range low..high with low <= high, e.g. 2..16")
    return bounds[0], bounds[1]


@dataclass(frozen=True)
class _Key:
    parse: Callable[[str], object]
    required: bool = False


_SWFD_KEYS: dict[str, _Key] = {
    "domain": _Key(_swf_name, required=True),
    "region": _Key(_region),
    "endpoint_url": _Key(_endpoint_url),
    "identity": _Key(_identity),
    "plugins": _Key(_plugins),
    "graceful_timeout": _Key(_seconds),
    "pidfile": _Key(_path),
    "log_format": _Key(_choice(LOG_FORMATS, str.lower)),
    "log_level": _Key(_choice(LOG_LEVELS, str.upper)),
    "register": _Key(_boolean),
    "retention_days": _Key(_retention),
    "min_uptime": _Key(_seconds),
    "proctitle_tasks": _Key(_boolean),
    "metrics": _Key(_listen_address),
    "control_socket": _Key(_path),
}
_EMBEDDED_KEYS: dict[str, _Key] = {
    "host": _Key(_host),
    "port": _Key(_port),
    "database": _Key(_path),
    "poll_timeout": _Key(_poll_timeout),
    "allow_remote": _Key(_boolean),
    "aws_faithful": _Key(_boolean),
    "keys_file": _Key(_path),
    "console": _Key(_boolean),
    "console_host": _Key(_loopback_host),
    "console_port": _Key(_port),
    "console_allow_actions": _Key(_boolean),
}
_DECIDER_KEYS: dict[str, _Key] = {
    "task_list": _Key(_swf_name, required=True),
    "processes": _Key(_processes),
    "scale_interval": _Key(_seconds),
    "scale_down_delay": _Key(_seconds),
    "decider_max_attempts": _Key(_positive_int),
    "respond_timeout": _Key(_seconds),
    "give_up_after": _Key(_positive_int),
    "history_cache": _Key(_boolean),
    "history_cache_mb": _Key(_positive_int),
}
_WORKER_KEYS: dict[str, _Key] = {
    "task_list": _Key(_swf_name, required=True),
    "processes": _Key(_processes),
    "scale_interval": _Key(_seconds),
    "scale_down_delay": _Key(_seconds),
    "heartbeat_interval": _Key(_seconds),
    "heartbeat_min_gap": _Key(_seconds),
    "respond_timeout": _Key(_seconds),
    "max_tasks_per_child": _Key(_positive_int),
    "max_memory_per_child": _Key(_size),
    "give_up_after": _Key(_positive_int),
}
KEYS: dict[str, dict[str, _Key]] = {
    "swfd": _SWFD_KEYS,
    "embedded": _EMBEDDED_KEYS,
    "decider:NAME": _DECIDER_KEYS,
    "worker:NAME": _WORKER_KEYS,
}
"""Every section and key swfd reads; anything else in the file is an error."""


# --------------------------------------------------------------------------- loading


class _Section:
    """Reads and checks the keys of one section, collecting problems."""

    def __init__(self, loader: _Loader, name: str, keys: dict[str, _Key]):
        self.loader = loader
        self.name = name
        self.keys = keys
        self.present = loader.parser.has_section(name)
        self.raw = dict(loader.parser[name]) if self.present else {}
        self.invalid: set[str] = set()  # keys whose value was rejected (already reported)
        for key in self.raw:
            if key not in keys:
                self.loader.problem(f"[{name}] {key}: unknown key{self._suggest(key)}")

    def _suggest(self, key: str) -> str:
        for section, keys in KEYS.items():
            if key in keys and keys is not self.keys:
                return f"; {key!r} belongs in [{section}]"
        close = difflib.get_close_matches(key, list(self.keys), n=1, cutoff=0.6)
        if close:
            return f"; did you mean {close[0]!r}?"
        return "; known keys: " + ", ".join(sorted(self.keys))

    def get(self, key: str, default: object = None) -> object:
        spec = self.keys[key]
        if key not in self.raw:
            if spec.required and self.present:
                self.loader.problem(f"[{self.name}] {key}: missing; this key is required")
            return default
        value = self.raw[key]
        try:
            if value == "" and spec.parse is not _plugins:
                raise _Invalid("a value (the key is present but empty)")
            parsed = spec.parse(value)
            if _INLINE_COMMENT.search(value):
                raise _Invalid("a value without an inline comment")
            return parsed
        except _Invalid as exc:
            hint = ""
            if "#" in value or ";" in value:
                hint = " (comments must stand on their own lines, not after a value)"
            self.loader.problem(f"[{self.name}] {key} = {value!r}: expected {exc}{hint}")
            self.invalid.add(key)
            return default


class _Loader:
    def __init__(self, path: str):
        self.path = path
        self.problems: list[str] = []
        self.parser = configparser.ConfigParser(
            interpolation=None,
            inline_comment_prefixes=None,
            comment_prefixes=("#", ";"),
            strict=True,
            empty_lines_in_values=False,
            default_section="\0no default section",
        )

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.path}: {text}")

    def read(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            raise ConfigError(f"{self.path}: configuration file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{self.path}: is a directory, not a configuration file") from None
        except PermissionError:
            raise ConfigError(f"{self.path}: cannot read the configuration file: "
                              "permission denied") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{self.path}: not UTF-8 text ({exc.reason} at byte "
                              f"{exc.start})") from None
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the configuration file: "
                              f"{exc.strerror or exc}") from None
        try:
            self.parser.read_string(text, source=self.path)
        except configparser.DuplicateSectionError as exc:
            raise ConfigError(f"{self.path}: line {exc.lineno}: section [{exc.section}] "
                              "appears more than once") from None
        except configparser.DuplicateOptionError as exc:
            raise ConfigError(f"{self.path}: line {exc.lineno}: [{exc.section}] {exc.option}: "
                              "key appears more than once in the section") from None
        except configparser.MissingSectionHeaderError as exc:
            raise ConfigError(f"{self.path}: line {exc.lineno}: {exc.line.strip()!r}: expected "
                              "a [section] header before the first key") from None
        except configparser.ParsingError as exc:
            lines = "; ".join(f"line {lineno}: {_unrepr(line).strip()!r}"
                              for lineno, line in exc.errors)
            raise ConfigError(f"{self.path}: INI syntax error: {lines}: expected "
                              "'key = value', a [section] header or a comment line") from None
        except configparser.Error as exc:
            raise ConfigError(f"{self.path}: INI syntax error: {exc}") from None

    def check_sections(self) -> list[tuple[str, str, str]]:
        """Return (kind, name, section) for the pool sections; report unknown ones."""
        pools: list[tuple[str, str, str]] = []
        seen: dict[tuple[str, str], str] = {}
        for section in self.parser.sections():
            kind, colon, name = section.partition(":")
            if not colon:
                if section in ("swfd", "embedded"):
                    continue
                if section in POOL_KINDS:
                    self.problem(f"[{section}]: a pool section needs a name, "
                                 f"e.g. [{section}:default]")
                    continue
                self.problem(f"[{section}]: unknown section{_suggest_section(section)}")
                continue
            if kind not in POOL_KINDS:
                self.problem(f"[{section}]: unknown section{_suggest_section(section)}")
                continue
            stripped = name.strip()
            if not _POOL_NAME.match(stripped):
                self.problem(f"[{section}]: pool name {name!r}: expected 1-64 letters, digits, "
                             "'_', '.' or '-', starting with a letter or digit")
                continue
            if (kind, stripped) in seen:
                self.problem(f"[{section}]: pool name {stripped!r} is already used by "
                             f"[{seen[(kind, stripped)]}]; pool names are unique per kind")
                continue
            seen[(kind, stripped)] = section
            pools.append((kind, stripped, section))
        if not self.parser.has_section("swfd"):
            self.problem("[swfd]: missing section; it holds domain (required) and the "
                         "daemon's settings")
        return pools


def _unrepr(line: str) -> str:
    """configparser reports bad lines as their repr(); show the line itself."""
    try:
        value = ast.literal_eval(line)
    except (ValueError, SyntaxError):
        return line
    return value if isinstance(value, str) else line


def _suggest_section(section: str) -> str:
    kind, _colon, name = section.partition(":")
    candidates = ["swfd", "embedded", *POOL_KINDS]
    close = difflib.get_close_matches(kind.strip().lower(), candidates, n=1, cutoff=0.6)
    if close:
        target = close[0]
        if target in POOL_KINDS:
            return f"; did you mean [{target}:{name.strip() or 'NAME'}]?"
        return f"; did you mean [{target}]?"
    return "; known sections: [swfd], [embedded], [decider:NAME], [worker:NAME]"


def _resolve(base_dir: str, path: str | None) -> str | None:
    if not path or path == ":memory:":
        return path
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(path)))


def load(path: str) -> Settings:
    """Read, validate and return the settings in ``path``; raise ConfigError otherwise."""
    loader = _Loader(os.fspath(path))
    loader.read()
    pool_sections = loader.check_sections()
    base_dir = os.path.dirname(os.path.abspath(loader.path))

    swfd = _Section(loader, "swfd", _SWFD_KEYS)
    embedded_section = _Section(loader, "embedded", _EMBEDDED_KEYS)
    defaults = EmbeddedSettings()
    embedded = EmbeddedSettings(
        host=embedded_section.get("host", defaults.host),  # type: ignore[arg-type]
        port=embedded_section.get("port", defaults.port),  # type: ignore[arg-type]
        database=_resolve(base_dir, embedded_section.get("database", defaults.database)),  # type: ignore[arg-type]
        poll_timeout=embedded_section.get("poll_timeout", defaults.poll_timeout),  # type: ignore[arg-type]
        allow_remote=bool(embedded_section.get("allow_remote", False)),
        aws_faithful=bool(embedded_section.get("aws_faithful", False)),
        keys_file=_resolve(base_dir, embedded_section.get("keys_file")),  # type: ignore[arg-type]
        console=bool(embedded_section.get("console", False)),
        console_host=embedded_section.get("console_host", defaults.console_host),  # type: ignore[arg-type]
        console_port=embedded_section.get("console_port", defaults.console_port),  # type: ignore[arg-type]
        console_allow_actions=bool(embedded_section.get("console_allow_actions", False)),
    )
    _check_exposure(loader, embedded)
    endpoint_url = swfd.get("endpoint_url")
    is_embedded = endpoint_url == "embedded"
    poll_timeout = embedded.poll_timeout if is_embedded else AWS_POLL_TIMEOUT

    graceful_timeout = swfd.get("graceful_timeout")
    # A bad endpoint_url or poll_timeout is reported once, not again through this check.
    inputs_valid = "endpoint_url" not in swfd.invalid and not (
        is_embedded and "poll_timeout" in embedded_section.invalid)
    if graceful_timeout is None:
        graceful_timeout = max(120.0, poll_timeout + DRAIN_MARGIN)
    elif inputs_valid and graceful_timeout < poll_timeout + DRAIN_MARGIN:  # type: ignore[operator]
        where = "[embedded] poll_timeout" if is_embedded else "SWF's long poll on AWS"
        loader.problem(
            f"[swfd] graceful_timeout = {swfd.raw['graceful_timeout']!r}: expected at least "
            f"{poll_timeout + DRAIN_MARGIN:g} seconds: the poll timeout ({poll_timeout:g} s, "
            f"{where}) plus {DRAIN_MARGIN:g} s, so a draining process's last poll can return "
            "and its task be answered"
        )

    pools = []
    for kind, name, section_name in pool_sections:
        section = _Section(loader, section_name, _DECIDER_KEYS if kind == "decider" else
                           _WORKER_KEYS)
        values = {key: section.get(key) for key in section.keys}
        pools.append(PoolSettings(
            kind=kind,
            name=name,
            task_list=values["task_list"] or "",  # type: ignore[arg-type]
            processes=_low(values["processes"]),
            processes_max=_high(values["processes"]),
            scale_interval=values.get("scale_interval") or 10.0,  # type: ignore[arg-type]
            scale_down_delay=values.get("scale_down_delay") or 60.0,  # type: ignore[arg-type]
            heartbeat_interval=values.get("heartbeat_interval") or 30.0,  # type: ignore[arg-type]
            heartbeat_min_gap=_or(values.get("heartbeat_min_gap"), 1.0),  # type: ignore[arg-type]
            respond_timeout=_or(values.get("respond_timeout"), 300.0),  # type: ignore[arg-type]
            max_tasks_per_child=values.get("max_tasks_per_child"),  # type: ignore[arg-type]
            max_memory_per_child=values.get("max_memory_per_child"),  # type: ignore[arg-type]
            decider_max_attempts=values.get("decider_max_attempts"),  # type: ignore[arg-type]
            give_up_after=values.get("give_up_after"),  # type: ignore[arg-type]
            # On by default for a fixed single process only: SWF has no sticky task
            # lists, so with N processes each finds its cached run about 1/N of the time.
            history_cache=bool(_or(values.get("history_cache"), kind == "decider" and
                                   _low(values["processes"]) == 1 and
                                   _high(values["processes"]) is None)),
            history_cache_mb=values.get("history_cache_mb") or 64,  # type: ignore[arg-type]
            section=section_name,
        ))
    if not pools and loader.parser.has_section("swfd"):
        loader.problem("no [decider:NAME] or [worker:NAME] section: swfd needs at least one "
                       "pool to run, e.g. [worker:default] with task_list = default")

    identity = swfd.get("identity", "{hostname}:{pid}")
    if isinstance(identity, str):
        _check_identity_length(loader, swfd.raw.get("identity", identity), identity, pools)

    register = swfd.get("register", False)
    pidfile = _resolve(base_dir, swfd.get("pidfile"))  # type: ignore[arg-type]
    control_socket = _resolve(base_dir, swfd.get("control_socket"))  # type: ignore[arg-type]
    if control_socket is None and pidfile is not None:
        control_socket = os.path.splitext(pidfile)[0] + ".sock"
    settings = Settings(
        path=os.path.abspath(loader.path),
        domain=swfd.get("domain", ""),  # type: ignore[arg-type]
        region=swfd.get("region", "us-east-1"),  # type: ignore[arg-type]
        endpoint_url=endpoint_url,  # type: ignore[arg-type]
        identity=identity,  # type: ignore[arg-type]
        plugins=swfd.get("plugins"),  # type: ignore[arg-type]
        graceful_timeout=graceful_timeout,  # type: ignore[arg-type]
        pidfile=pidfile,
        log_format=swfd.get("log_format", "json"),  # type: ignore[arg-type]
        log_level=swfd.get("log_level", "INFO"),  # type: ignore[arg-type]
        register=True if is_embedded else bool(register),
        retention_days=swfd.get("retention_days", 1),  # type: ignore[arg-type]
        embedded=embedded,
        pools=tuple(pools),
        min_uptime=swfd.get("min_uptime", 10.0),  # type: ignore[arg-type]
        control_socket=control_socket,
        proctitle_tasks=bool(swfd.get("proctitle_tasks", False)),
        metrics=swfd.get("metrics"),  # type: ignore[arg-type]
    )
    if loader.problems:
        raise ConfigError(loader.problems)
    return settings


def _low(processes: object) -> int:
    if isinstance(processes, tuple):
        return processes[0]
    return processes or 1  # type: ignore[return-value]


def _high(processes: object) -> int | None:
    return processes[1] if isinstance(processes, tuple) else None


def _or(value: object, default: object) -> object:
    """``value`` unless it was left out (0 is a value)."""
    return default if value is None else value


def _check_exposure(loader: _Loader, embedded: EmbeddedSettings) -> None:
    """[embedded]: allow_remote needs keys, and the keys file must be usable. (A host
    other machines can reach without allow_remote is refused by the endpoint when it
    starts, which resolves host names too: the daemon then exits 2 naming it.)"""
    if embedded.keys_file:
        from swfd.local.auth import KeysError, load_keys

        try:
            load_keys(keys_file=embedded.keys_file, environ={})
        except KeysError as exc:
            loader.problem(f"[embedded] keys_file = {embedded.keys_file!r}: {exc}")
    if embedded.allow_remote and not embedded.keys_file:
        loader.problem(
            "[embedded] allow_remote = yes: expected keys_file too; a remote endpoint that "
            "accepts any credentials is refused")


def _check_identity_length(loader: _Loader, raw: str, template: str,
                           pools: list[PoolSettings]) -> None:
    longest_pool = max((pool.name for pool in pools), key=len, default="")
    expanded = template.format(hostname=socket.gethostname(), pid="9" * _MAX_PID_DIGITS,
                               pool=longest_pool)
    if len(expanded) > MAX_IDENTITY:
        loader.problem(f"[swfd] identity = {raw!r}: expected at most {MAX_IDENTITY} characters "
                       f"once expanded (SWF's limit); it expands to {len(expanded)}")


def expand_identity(template: str, pool: str) -> str:
    """The identity this process sends to SWF: the template with hostname, pid and pool.

    Called in each child after the fork, so ``{pid}`` is the child's. The result is
    cut to SWF's 256 characters (``load`` already rejects templates that would be cut).
    """
    value = template.format(hostname=socket.gethostname(), pid=os.getpid(), pool=pool)
    return value[:MAX_IDENTITY]
