"""What the real daemon's children run, and the start-up work done before any fork.

``build_arbiter(settings)`` does everything that can fail for a reason the
operator must fix, in the master, before a single fork: logging, plugins,
the registry against the pools, imports of every module a child needs, and
botocore's SWF model. Then ``gc.freeze()`` so the children share those pages.
"""

from __future__ import annotations

import gc
import logging
import os
from functools import partial
from typing import Any

from swfd import logs
from swfd.arbiter.process import set_parent_death_signal
from swfd.arbiter.respawn import Timing
from swfd.master import EXIT_ERROR, EXIT_USAGE, Arbiter, ChildSpec
from swfd.notify import Notifier

log = logging.getLogger("swfd.master")


class StartupError(Exception):
    """The daemon cannot start; ``exit_code`` 2 means the operator's config or plugins."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def build_arbiter(settings: Any, timing: Timing | None = None) -> Arbiter:
    try:
        logs.setup(settings.log_format, settings.log_level)
    except ValueError as exc:
        raise StartupError(f"{settings.path}: [swfd] {exc}") from exc
    notifier = Notifier()
    registry = load_registry(settings)
    check_pools(settings, registry)
    preload(settings)

    pools = [
        ChildSpec(
            name=pool.section,
            target=partial(pool_main, settings, pool, registry),
            processes=pool.processes,
            kind=pool.kind,
        )
        for pool in settings.pools
    ]
    endpoint = address = None
    if settings.is_embedded:
        embedded = settings.embedded
        make_database_dir(settings)
        endpoint = ChildSpec("endpoint", partial(endpoint_main, settings), kind="endpoint")
        address = (embedded.host, embedded.port)
    registrar = None
    if settings.is_embedded or settings.register:
        registrar = ChildSpec(
            "registrar", partial(registrar_main, settings, registry), kind="registrar"
        )
    arbiter = Arbiter(
        pools,
        graceful_timeout=settings.graceful_timeout,
        endpoint=endpoint,
        endpoint_address=address,
        registrar=registrar,
        pidfile=settings.pidfile,
        notifier=notifier,
        timing=timing or Timing(),
    )
    gc.collect()
    gc.freeze()
    return arbiter


def make_database_dir(settings: Any) -> None:
    """The endpoint's database directory (``../var`` in a fresh checkout) must exist."""
    database = settings.embedded.database
    if database == ":memory:":
        return
    directory = os.path.dirname(os.path.abspath(database))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise StartupError(
            f"{settings.path}: [embedded] database = {database}: cannot create {directory}: {exc}"
        ) from exc


def load_registry(settings: Any) -> Any:
    from swfd.errors import SwfdError
    from swfd.plugins import load_plugins

    try:
        return load_plugins(settings)
    except SwfdError as exc:
        raise StartupError(f"plugin error: {exc}") from exc
    except Exception as exc:
        log.exception("loading plugins failed")
        raise StartupError(f"plugin error: {type(exc).__name__}: {exc}") from exc


def check_pools(settings: Any, registry: Any) -> None:
    """Warn about pools with nothing to run and types no pool serves (not errors:
    another host may serve them)."""
    served = {(p.kind, p.task_list) for p in settings.pools}
    for pool in settings.pools:
        defs = registry.activities if pool.kind == "worker" else registry.workflows
        if not any(d.task_list == pool.task_list for d in defs.values()):
            log.warning(
                "[%s] polls task list %r, but no loaded plugin declares a %s type on it",
                pool.section, pool.task_list,
                "activity" if pool.kind == "worker" else "workflow",
            )
    for kind, defs in (("worker", registry.activities), ("decider", registry.workflows)):
        for d in defs.values():
            if (kind, d.task_list) not in served:
                log.warning(
                    "%s %s %s uses task list %r, which no [%s:...] pool of this host polls",
                    "activity" if kind == "worker" else "workflow", d.name, d.version,
                    d.task_list, kind,
                )


def preload(settings: Any) -> None:
    """Import what children run and load botocore's SWF model before forking."""
    try:
        import botocore.session

        import swfd.decider
        import swfd.lifecycle
        import swfd.swf.client
        import swfd.swf.registration
        import swfd.worker

        if settings.is_embedded:
            import swfd.local.server
        # Warm botocore's loader where the children's clients will find it (shared
        # copy-on-write); until swfd.swf.client offers that, at least parse the model.
        warm = getattr(swfd.swf.client, "preload_for_fork", None)
        if warm is not None:
            warm()
        else:
            botocore.session.get_session().get_service_model("swf")
    except ImportError as exc:
        raise StartupError(f"swfd is incompletely installed: {exc}", EXIT_ERROR) from exc


def endpoint_main(settings: Any) -> int:
    """The supervised local endpoint; the parent-death signal stops it with the master."""
    from swfd.local.server import LocalEndpoint

    set_parent_death_signal()
    os.setpgid(0, 0)  # a terminal's ^C must not stop it before the pools have answered
    logs.setup(settings.log_format, settings.log_level, pool="endpoint")
    embedded = settings.embedded
    LocalEndpoint(
        host=embedded.host, port=embedded.port, database=embedded.database,
        poll_timeout=embedded.poll_timeout,
    ).serve_forever()
    return 0


REGISTRAR_CALL_ATTEMPTS = 4


def registrar_main(settings: Any, registry: Any) -> int:
    """Register the domain and every type; log the defaults that differ."""
    from swfd.swf.client import client_for
    from swfd.swf.models import retry_bounds
    from swfd.swf.registration import register_all

    set_parent_death_signal()
    logs.setup(settings.log_format, settings.log_level, pool="registrar")
    try:
        client = client_for(settings, max_pool_connections=1)
        # Each call retries briefly: the master retries the whole registrar with
        # its own backoff and gives up (exit 1) after Timing.registrar_attempts.
        with retry_bounds(max_attempts=REGISTRAR_CALL_ATTEMPTS):
            lines = register_all(client, settings.domain, registry, settings.retention_days)
    except Exception:
        log.exception("registering domain %r and its types failed", settings.domain)
        return EXIT_ERROR
    for line in lines:
        log.warning("registered type differs from the plugin's: %s", line)
    log.info(
        "domain %r: %d activity and %d workflow types registered", settings.domain,
        len(registry.activities), len(registry.workflows),
    )
    return 0


def pool_main(settings: Any, pool: Any, registry: Any) -> int:
    """A worker or decider process. ``Lifecycle.for_child()`` installs the child's
    signal handlers and master-death watch; the loop calls ``swfd_worker_init``."""
    from swfd.lifecycle import Lifecycle

    logs.setup(settings.log_format, settings.log_level, pool=pool.section)
    lifecycle = Lifecycle.for_child()
    if pool.kind == "worker":
        from swfd.worker import run_worker

        return run_worker(settings, pool, registry, lifecycle)
    from swfd.decider import run_decider

    return run_decider(settings, pool, registry, lifecycle)
