"""Settings for scripts and notebooks, as the seed ``swf`` library documents them.

``from swfd.swf import settings; settings.set(aws_access_key_id=..., ...)``, a
``~/.swf`` file or the environment give models, querysets and actors a default
connection, so none of them needs a ``client=`` argument. The daemon does not
read any of this: it keeps its INI file and boto3's chain.

Precedence, highest first (each source gives the credentials as a pair, never
half from one source and half from another):

1. an explicit ``client=`` on a model, queryset or actor;
2. ``settings.set(aws_access_key_id=..., aws_secret_access_key=..., region=...,
   endpoint_url=...)``;
3. the environment: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (with
   ``AWS_SESSION_TOKEN`` if set), and the region from ``AWS_DEFAULT_REGION``,
   else the seed's ``region``;
4. ``~/.swf``: ``[credentials] aws_access_key_id``/``aws_secret_access_key``,
   ``[defaults] region`` (and ``endpoint_url``); a file others can read is
   used, with a warning;
5. boto3's own chain (shared files, instance profile) and its configured
   region, then ``us-east-1``. Without ``endpoint_url`` botocore still honours
   ``AWS_ENDPOINT_URL_SWF``/``AWS_ENDPOINT_URL``.

With an ``endpoint_url`` and no credentials anywhere, the local endpoint's
dummy credentials are used, as ``swfd.actors.connect`` does.
"""

from __future__ import annotations

import configparser
import os
import stat
import threading
import warnings
from typing import Any

DEFAULT_REGION = "us-east-1"
FILENAME = ".swf"
KEYS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "region",
    "endpoint_url",
)

_explicit: dict[str, str] = {}
_lock = threading.Lock()
_client_cache: dict[tuple, Any] = {}


class InsecureSettingsFile(UserWarning):
    """``~/.swf`` holds credentials and can be read by other users."""


def set(**settings: str | None) -> None:
    """Set the credentials (``aws_access_key_id``, ``aws_secret_access_key``, optionally
    ``aws_session_token``), ``region`` or ``endpoint_url`` for this process; ``None`` unsets.

    They win over the environment and ``~/.swf``; the default client is rebuilt.
    """
    unknown = sorted(k for k in settings if k not in KEYS)
    if unknown:
        raise TypeError(f"settings.set(): unknown setting(s) {unknown}; known: {list(KEYS)}")
    with _lock:
        for key, value in settings.items():
            if value is None:
                _explicit.pop(key, None)
            else:
                _explicit[key] = str(value)
        _client_cache.clear()


def clear() -> None:
    """Forget everything ``set()`` set and the default client (tests use it)."""
    with _lock:
        _explicit.clear()
        _client_cache.clear()


def path() -> str:
    """Where the settings file is: ``~/.swf``."""
    return os.path.join(os.path.expanduser("~"), FILENAME)


def from_file(filename: str | None = None) -> dict[str, str]:
    """The settings ``~/.swf`` (or ``filename``) holds; empty when there is no file."""
    filename = filename or path()
    if not os.path.exists(filename):
        return {}
    mode = os.stat(filename).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(
            f"{filename} holds AWS credentials and is readable by others "
            f"(mode {stat.S_IMODE(mode):04o}): chmod 600 {filename}",
            InsecureSettingsFile,
            stacklevel=3,
        )
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(filename)
    found: dict[str, str] = {}
    for section, keys in (
        ("credentials", ("aws_access_key_id", "aws_secret_access_key")),
        ("defaults", ("region", "endpoint_url")),
    ):
        for key in keys:
            value = parser.get(section, key, fallback="").strip()
            if value:
                found[key] = value
    return found


def from_env() -> dict[str, str]:
    """The settings the environment holds (``AWS_DEFAULT_REGION`` before the seed's ``region``)."""
    found: dict[str, str] = {}
    for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        value = os.environ.get(key.upper())
        if value:
            found[key] = value
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("region")
    if region:
        found["region"] = region
    return found


def _pair(source: dict[str, str]) -> dict[str, str] | None:
    if source.get("aws_access_key_id") and source.get("aws_secret_access_key"):
        pair = {
            "aws_access_key_id": source["aws_access_key_id"],
            "aws_secret_access_key": source["aws_secret_access_key"],
        }
        if source.get("aws_session_token"):  # temporary credentials
            pair["aws_session_token"] = source["aws_session_token"]
        return pair
    return None


def get() -> dict[str, Any]:
    """The resolved settings: ``credentials`` (a pair or None: boto3's chain),
    ``region``, ``endpoint_url`` (None: AWS), and ``source`` of the credentials."""
    with _lock:
        explicit = dict(_explicit)
    sources = [("set()", explicit), ("environment", from_env()), (path(), from_file())]
    credentials, source = None, "boto3"
    for name, values in sources:
        credentials = _pair(values)
        if credentials:
            source = name
            break
    region = next((values["region"] for _, values in sources if values.get("region")), None)
    if region is None:
        import boto3

        region = boto3.session.Session().region_name or DEFAULT_REGION
    endpoint_url = next(
        (values["endpoint_url"] for _, values in sources if values.get("endpoint_url")), None
    )
    return {
        "credentials": credentials,
        "region": region,
        "endpoint_url": endpoint_url,
        "source": source,
    }


def client() -> Any:
    """This process's default SWF client, built lazily from the settings.

    Rebuilt when the settings change (and in a forked child: clients are not
    shared across ``fork()``).
    """
    resolved = get()
    credentials = resolved["credentials"]
    key = (
        os.getpid(),
        resolved["region"],
        resolved["endpoint_url"],
        tuple(sorted((credentials or {}).items())),
    )
    with _lock:
        cached = _client_cache.get(key)
    if cached is not None:
        return cached
    from swfd.swf.client import EMBEDDED_CREDENTIALS, make_client

    if credentials is None and resolved["endpoint_url"]:
        import boto3

        if boto3.session.Session().get_credentials() is None:
            credentials = EMBEDDED_CREDENTIALS
    made = make_client(resolved["endpoint_url"], resolved["region"], credentials=credentials)
    with _lock:
        _client_cache.clear()
        _client_cache[key] = made
    return made
