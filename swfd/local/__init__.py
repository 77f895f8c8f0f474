"""swfd's local SWF endpoint: SWF's JSON 1.0 protocol on loopback, state in SQLite.

``swfd.local.server.LocalEndpoint`` serves it (in-process, or ``swfd local``,
see ``swfd.local.main``) with ``swfd.local.protocol``'s HTTP server in front of
``swfd.local.engine.Engine``, which owns the state;
``swfd.local.validation`` checks requests against botocore's ``swf`` model;
``swfd.local.faults`` renders errors. It binds 127.0.0.1 and, without keys,
accepts any credentials: it is a development and embedded endpoint, not a
multi-user service. Another address needs ``allow_remote`` and keys, and then
every request's SigV4 signature is verified (``swfd.local.auth``).
"""

from __future__ import annotations

from swfd.local.faults import SWFFault

__all__ = ["LocalEndpoint", "SWFFault"]


def __getattr__(name: str):
    # The server pulls in the engine and http.server; import it only when asked.
    if name == "LocalEndpoint":
        from swfd.local.server import LocalEndpoint

        return LocalEndpoint
    raise AttributeError(f"module 'swfd.local' has no attribute {name!r}")
