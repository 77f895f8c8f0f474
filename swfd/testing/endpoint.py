"""An in-process local SWF endpoint for tests: a real HTTP server on loopback.

Why HTTP and not ``Engine.call``: the code under test (swfd's decider and worker,
a plugin author's own boto3 calls) talks to SWF through boto3, and a test
should exercise that same path, request validation and error codes included.
The server runs in daemon threads of the test process over a database of its
own (``:memory:`` unless a path is given), optionally with a
:class:`~swfd.testing.clock.ManualClock` for time skipping.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Callable

from swfd.swf.client import EMBEDDED_CREDENTIALS, make_client, preload_for_fork

REGION = "us-east-1"


class InProcessEndpoint:
    """``InProcessEndpoint().start()``: a served endpoint (``stop()`` it); ``endpoint.url``,
    ``endpoint.client`` (plain boto3), ``endpoint.new_domain()``.

    ``clock``: the engine's epoch clock (``time.time`` when None); with a
    :class:`ManualClock`, :meth:`fire_due` fires what came due after moving it.
    """

    def __init__(self, database: str = ":memory:", *, clock: Callable[[], float] | None = None,
                 poll_timeout: float = 1.0) -> None:
        from swfd.local.server import LocalEndpoint

        self.clock = clock
        self.server = LocalEndpoint(host="127.0.0.1", port=0, database=database,
                                    poll_timeout=poll_timeout, clock=clock)
        self._client: Any = None

    def start(self) -> InProcessEndpoint:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def engine(self) -> Any:
        return self.server.engine

    @property
    def client(self) -> Any:
        """A boto3 SWF client for this endpoint (built on first use, then shared)."""
        if self._client is None:
            self._client = new_client(self.url)
        return self._client

    def new_domain(self, name: str | None = None, retention_days: int = 1) -> str:
        """Register a domain (a fresh random name unless given); returns its name."""
        name = name or f"test-{uuid.uuid4().hex[:12]}"
        self.client.register_domain(name=name,
                                    workflowExecutionRetentionPeriodInDays=str(retention_days))
        return name

    def next_deadline(self) -> float | None:
        """The earliest timer or timeout the engine has scheduled (epoch seconds)."""
        return self.engine.timers.next_deadline()

    def fire_due(self) -> None:
        """Fire, now, every timer and timeout due by the clock."""
        self.engine.timers.fire_due()


_warm = threading.Lock()
_warmed = False


def new_client(url: str, read_timeout: float = 70.0) -> Any:
    """A plain boto3 SWF client for a local endpoint at ``url`` (dummy credentials,
    botocore's retries off, as swfd's own clients).

    The first call parses botocore's SWF model once for the process
    (``preload_for_fork``), so the clients a test run makes (one per
    ``run_workflow``) cost a fraction of a fresh parse each.
    """
    global _warmed
    with _warm:
        if not _warmed:
            preload_for_fork()
            _warmed = True
    return make_client(url, REGION, credentials=EMBEDDED_CREDENTIALS, read_timeout=read_timeout)


def fetch_history(client: Any, domain: str, execution: dict[str, str]) -> list[dict[str, Any]]:
    """Every event of ``execution``, oldest first (all pages; SWF caps a history at
    25,000 events, 1,000 a page)."""
    from swfd.swf.models import iter_pages

    return list(iter_pages(client, "GetWorkflowExecutionHistory", "events", domain=domain,
                           execution=execution, maximumPageSize=1000))
