"""What every pool child does first, after the fork and before its loop.

Workers and deciders start the same way: the plugins' post-fork
``swfd_worker_init`` hook, then a client of their own (never one shared across
a fork) and the identity SWF will record for their polls.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def init_child(kind: str, settings: Any, pool: Any, registry: Any,
               client: Any = None) -> tuple[Any, str] | None:
    """Return ``(client, identity)`` for a child of ``kind``, or None if a plugin's
    ``swfd_worker_init`` failed (logged; the caller exits and the master backs off)."""
    from swfd.config import expand_identity

    if registry.pm is not None:
        try:
            registry.pm.hook.swfd_worker_init(pool=pool, kind=kind)
        except Exception:  # reported; the master respawns with backoff
            log.exception("swfd_worker_init failed in %s pool %s", kind, pool.name)
            return None
    if client is None:
        from swfd.swf.client import client_for

        client = client_for(settings)
    identity = expand_identity(settings.identity, pool.name)
    log.info("%s polling task list %s as %s", kind, pool.task_list, identity)
    return client, identity


def back_off_after_poll_error(lifecycle: Any, operation: str, task_list: str,
                              error: BaseException, failures: int) -> None:
    """Log a poll that failed past the retry policy and wait before the next one.

    The wait doubles from 1 s to 30 s with consecutive ``failures``; a drain or
    stop cuts it short (``lifecycle.sleep``). A poll error never ends the loop.
    """
    from swfd.swf.retry import error_code

    wait = min(30.0, 0.5 * 2 ** min(failures, 6))
    log.error("%s on task list %s failed (%s: %s); retrying in %.1f s",
              operation, task_list, error_code(error), error, wait)
    lifecycle.sleep(wait)
