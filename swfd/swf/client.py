"""The one place swfd builds boto3 SWF clients.

Why the settings below:

- botocore's own retries are off (``total_max_attempts=1``): tenacity in
  ``swfd.swf.retry`` is the only retry layer, so the policy (which errors, which
  operations, how long) is decided once, by operation, and every retry is logged.
- ``read_timeout`` is 70 s, above SWF's 60 s long poll: a poll must return on its
  own, never be abandoned by the client (a task handed to an abandoned poll is
  lost until its timeout).
- A short connect timeout: an unreachable endpoint shows up in seconds, and a
  connect failure is the one error even non-idempotent calls retry.
- Each call builds its own ``boto3.session.Session``: sessions and clients are not
  shared across ``fork()``, and children build theirs after forking.
- Credentials never come from the INI file. Against AWS, boto3's default chain
  supplies them. The embedded endpoint takes fixed dummy credentials, so the
  first run needs no AWS account. Any other explicit URL (say a ``swfd local``
  on another port) uses the chain too, falling back to the dummy credentials
  when the chain finds none.
- A fixed ``User-Agent`` (``swfd/VERSION`` then boto3's, Python's and the OS's
  names and versions; boto3 appends botocore's), built once: botocore rebuilds
  its own twice a call (~75 k instructions, 4.4 % of a no-op task's client-side
  CPU). What it drops is botocore's per-request feature codes.
- Requests are signed by ``swfd.swf.signing`` (SigV4 with the day's signing key
  kept instead of derived per request; the same signatures).
- Responses are parsed by ``swfd.swf.fastparse`` (registered as the session's
  ``response_parser_factory``): the same dicts botocore gives, about 5x cheaper
  on histories; requests still go through botocore (signing, endpoint).
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config

from swfd import __version__
from swfd.swf.fastparse import FastParserFactory
from swfd.swf.signing import use_cached_key_signer

if TYPE_CHECKING:
    from swfd.config import Settings

EMBEDDED_CREDENTIALS = {"aws_access_key_id": "swfd-local", "aws_secret_access_key": "swfd-local"}
"""Fixed dummy credentials for the local endpoint (it does not check signatures)."""

READ_TIMEOUT = 70.0
CONNECT_TIMEOUT = 5.0

_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}

USER_AGENT = (
    f"swfd/{__version__} Boto3/{boto3.__version__} "
    f"lang/python#{platform.python_version()} md/pyimpl#{platform.python_implementation()} "
    f"os/{platform.system().lower() or 'other'}#{platform.release() or 'unknown'}"
)
"""Every swfd client's ``User-Agent`` (see the module docstring)."""

_warm_loader: Any = None
"""botocore's data loader after ``preload_for_fork``: its caches hold the parsed
SWF model, endpoints and partitions, shared copy-on-write by forked children."""


def preload_for_fork() -> None:
    """Parse everything a SWF client needs once, in the master, before it forks.

    Every botocore session otherwise re-reads and re-parses the JSON models, so
    each forked child would hold a private copy (measured by the bench: about
    18 MiB of private memory per worker instead of about 6). The master calls
    this once with no threads running; children still build their own sessions
    and clients after the fork, on this shared loader. No connection is made.
    """
    global _warm_loader
    core = botocore.session.Session()
    core.create_client(
        "swf", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    _warm_loader = core.get_component("data_loader")


def _core_session(credentials: dict[str, str] | None) -> botocore.session.Session:
    # Explicit credentials need no profile: ignore AWS_PROFILE so a stray one
    # naming a missing profile cannot break use of the local endpoint.
    session_vars = {"profile": (None, None, None, None)} if credentials else None
    core = botocore.session.Session(session_vars=session_vars)
    if _warm_loader is not None:
        core.register_component("data_loader", _warm_loader)
    core.register_component("response_parser_factory", FastParserFactory())
    return core


def endpoint_url_for(settings: Settings) -> str | None:
    """The URL clients use: None for AWS, the embedded endpoint's loopback URL, or the URL.

    An embedded endpoint listening on a wildcard address is reached on loopback.
    """
    if not settings.is_embedded:
        return settings.endpoint_url
    if settings.embedded.port == 0:
        return running_endpoint_url(settings)
    host = settings.embedded.host
    if host in _WILDCARD_HOSTS:
        host = "::1" if ":" in host else "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.embedded.port}"


def running_endpoint_url(settings: Settings) -> str:
    """``[embedded] port = 0`` (any free port): the running daemon's control socket
    knows the address its endpoint bound."""
    from swfd.control import ControlError, request

    where = f"{settings.path}: [embedded] port = 0"
    if not settings.control_socket:
        raise ValueError(f"{where}, and no pidfile or control_socket to ask the daemon which")
    try:
        reply = request(settings.control_socket, "status", 10.0)
    except ControlError as exc:
        raise ValueError(f"{where}: the daemon's endpoint address is not known: {exc}") from exc
    url = (reply.get("endpoint") or {}).get("url")
    if not url:
        raise ValueError(f"{where}: the running daemon reports no endpoint address yet")
    return str(url)


def make_client(
    endpoint_url: str | None,
    region: str,
    *,
    max_pool_connections: int = 4,
    read_timeout: float = READ_TIMEOUT,
    credentials: dict[str, str] | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    validate_params: bool = True,
) -> Any:
    """A boto3 SWF client with swfd's timeouts and botocore's retries off.

    ``max_pool_connections`` should match the threads that share the client (a
    worker's main thread plus its heartbeat thread, for instance). ``credentials``
    (``aws_access_key_id``/``aws_secret_access_key``) override boto3's chain.
    ``validate_params=False`` skips botocore's client-side check of every request
    against the model (~30 us a call): only for callers that build every parameter
    themselves within SWF's limits (the activity worker); the service still checks.
    """
    session = boto3.session.Session(
        botocore_session=_core_session(credentials), region_name=region, **(credentials or {})
    )
    config = Config(
        region_name=region,
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        max_pool_connections=max_pool_connections,
        retries={"total_max_attempts": 1},
        user_agent=USER_AGENT,
        parameter_validation=validate_params,
    )
    client = session.client("swf", endpoint_url=endpoint_url, config=config)
    use_cached_key_signer(client)
    return client


def _default_chain_is_empty() -> bool:
    return boto3.session.Session().get_credentials() is None


def embedded_credentials(settings: Settings) -> dict[str, str]:
    """The dummy credentials, or with ``[embedded] keys_file`` (the endpoint then checks
    signatures) the file's first key pair; the environment's pair wins, as it does for
    the endpoint."""
    keys_file = getattr(settings.embedded, "keys_file", None) if settings.is_embedded else None
    if not keys_file:
        return EMBEDDED_CREDENTIALS
    from swfd.local.auth import load_keys

    key_id, secret = next(iter(load_keys(keys_file=keys_file).items()))
    return {"aws_access_key_id": key_id, "aws_secret_access_key": secret}


def client_for(settings: Settings, *, max_pool_connections: int = 4,
               validate_params: bool = True) -> Any:
    """A client for the endpoint ``settings`` configure, with the right credentials."""
    url = endpoint_url_for(settings)
    credentials: dict[str, str] | None = None
    if settings.is_embedded or (url is not None and _default_chain_is_empty()):
        credentials = embedded_credentials(settings)
    return make_client(
        url,
        settings.region,
        max_pool_connections=max_pool_connections,
        credentials=credentials,
        validate_params=validate_params,
    )
