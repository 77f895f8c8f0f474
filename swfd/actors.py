"""Seed-style actor base classes: boto's layer2 ``Decider`` and ``ActivityWorker`` on boto3.

Code written for boto's tutorial ports line for line: subclass, set ``domain``,
``task_list`` (and ``version``) as class attributes, and in ``run()`` call
``self.poll()``, then ``self.complete(...)``. As in boto, the last polled task
token is remembered so ``complete()``, ``fail()``, ``heartbeat()`` and
``cancel()`` need no token.

Two differences from boto, both so that seed code keeps working on boto3:

* An empty poll comes back without the task's keys, as the service sends it
  (only zero event ids; some endpoints add ``taskToken: ""``, which is stripped
  too): seed code tells an empty poll apart with ``'events' in history`` or
  ``'activityId' in task``.
* ``Decider.poll`` follows ``nextPageToken`` and returns every event of the
  history in one response, so seed deciders that index ``history['events']``
  by event id are right on long histories too.

Every SWF call goes through :func:`swfd.swf.retry.call`, so retries follow
swfd's policy (DESIGN.md, Failure semantics).
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from swfd.decisions import Decisions

#: The name boto's tutorial uses; ported deciders may keep ``swf.Layer1Decisions()``.
Layer1Decisions = Decisions

DEFAULT_REGION = "us-east-1"

#: SWF's largest history has 25,000 events, so a decision task has at most that many pages.
MAX_PAGES = 25_000

_CLIENTS: dict[tuple[int, str | None, str | None], Any] = {}

# Response keys that only mean something when a task was handed out.
_KEEP_ON_EMPTY = frozenset({"ResponseMetadata"})


def connect(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """This process's SWF client for ``endpoint_url`` (None: Amazon SWF) and ``region``.

    Seed loops build a new actor per round (``while HelloDecider().run()``);
    sharing one client per endpoint keeps that cheap. The process id is part of
    the key so a forked child never reuses its parent's connections. The region
    defaults to boto3's configured one, then us-east-1 (boto's default). A
    local endpoint gets dummy credentials when boto3's chain finds none.
    """
    import boto3

    from swfd.swf.client import EMBEDDED_CREDENTIALS, make_client

    key = (os.getpid(), endpoint_url, region)
    client = _CLIENTS.get(key)
    if client is None:
        session = boto3.session.Session()
        credentials = None
        if endpoint_url and session.get_credentials() is None:
            credentials = EMBEDDED_CREDENTIALS  # a local endpoint does not check them
        client = make_client(
            endpoint_url,
            region or session.region_name or DEFAULT_REGION,
            credentials=credentials,
        )
        _CLIENTS[key] = client
    return client


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Actor:
    """What deciders and workers share: domain, task list, identity and an SWF client.

    Arguments left out fall back to the class attributes, as with boto's layer2
    classes, so ``HelloDecider()`` works when the subclass sets ``domain`` and
    ``task_list``. Without ``client``, ``endpoint_url`` (None: Amazon SWF) and
    ``region`` make one; without those either, the default connection of
    ``swfd.swf.settings`` (``settings.set()``, the environment, ``~/.swf``) is used.
    """

    domain: str | None = None
    task_list: str | None = None
    version: str | None = None
    identity: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    last_tasktoken: str | None = None

    def __init__(
        self,
        domain: str | None = None,
        task_list: str | None = None,
        client: Any = None,
        identity: str | None = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        if domain is not None:
            self.domain = getattr(domain, "name", domain)  # a Domain model or its name
        if task_list is not None:
            self.task_list = task_list
        if identity is not None:
            self.identity = identity
        if endpoint_url is not None:
            self.endpoint_url = endpoint_url
        if region is not None:
            self.region = region
        if not self.domain:
            raise ValueError(
                f"{type(self).__name__}: no domain; pass domain= or set the class attribute"
            )
        if self.identity is None:
            self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self.last_tasktoken = None
        self._stopping = threading.Event()
        self.client = client if client is not None else self._make_client()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} domain={self.domain!r} task_list={self.task_list!r}>"

    def run(self) -> Any:
        """One poll-and-respond round; subclasses implement it (seed: return True to go on)."""
        raise NotImplementedError(f"{type(self).__name__}.run() is not implemented")

    def start(self) -> None:
        """Call ``run()`` until ``stop()`` (the ``swf`` library's actor interface).

        Runs in the calling thread; run it in a thread or process of your
        choosing. ``stop()`` takes effect between rounds: a long poll in flight
        is let to return and its task handled, so no task is lost. A stopped
        actor stays stopped (even if ``stop()`` came before ``start()``).
        """
        while not self._stopping.is_set():
            self.run()

    def stop(self) -> None:
        """Make ``start()`` return after the round in progress."""
        self._stopping.set()

    def _make_client(self) -> Any:
        """``endpoint_url``/``region`` when given, else ``swfd.swf.settings``' connection."""
        if self.endpoint_url is None and self.region is None:
            from swfd.swf import settings

            return settings.client()
        return connect(self.endpoint_url, self.region)

    def _call(self, operation: str, **params: Any) -> dict[str, Any] | None:
        from swfd.swf.retry import call

        return call(self.client, operation, **{k: v for k, v in params.items() if v is not None})

    def _task_list_for(self, task_list: str | None) -> dict[str, str]:
        name = task_list if task_list is not None else self.task_list
        if not name:
            raise ValueError(
                f"{type(self).__name__}: no task list; pass task_list= or set the class attribute"
            )
        return {"name": name}

    def _token(self, task_token: str | None) -> str:
        token = task_token if task_token is not None else self.last_tasktoken
        if not token:
            raise ValueError(
                f"{type(self).__name__}: no task token; poll for a task first or pass task_token="
            )
        return token

    def _remember(self, response: dict[str, Any] | None) -> dict[str, Any]:
        """Keep the task token; strip an empty poll down to what seed code expects."""
        response = response or {}
        token = response.get("taskToken")
        if not token:
            self.last_tasktoken = None
            return {k: v for k, v in response.items() if k in _KEEP_ON_EMPTY}
        self.last_tasktoken = token
        return response


class Decider(Actor):
    """Base class for deciders: poll decision tasks (all pages), answer with decisions."""

    def poll(
        self,
        task_list: str | None = None,
        identity: str | None = None,
        maximum_page_size: int | None = None,
        reverse_order: bool | None = None,
    ) -> dict[str, Any]:
        """PollForDecisionTask, following ``nextPageToken`` until the history is whole.

        Returns the first page's response with ``events`` holding every event and
        no ``nextPageToken``; an empty poll returns a dict without ``events``.
        """
        params = {
            "domain": self.domain,
            "taskList": self._task_list_for(task_list),
            "identity": identity or self.identity,
            "maximumPageSize": maximum_page_size,
            "reverseOrder": reverse_order,
        }
        first = self._call("PollForDecisionTask", **params)
        if not first or not first.get("taskToken"):
            return self._remember(first)
        events = list(first.get("events", []))
        token = first.get("nextPageToken")
        pages = 1
        while token:
            if pages >= MAX_PAGES:
                raise RuntimeError(
                    f"PollForDecisionTask on domain {self.domain!r}: more than {MAX_PAGES} "
                    f"pages for workflow {first.get('workflowExecution')}; giving up"
                )
            page = self._call("PollForDecisionTask", nextPageToken=token, **params)
            if not page or "events" not in page:
                raise RuntimeError(
                    f"PollForDecisionTask on domain {self.domain!r}: page {pages + 1} of "
                    f"workflow {first.get('workflowExecution')} came back without events"
                )
            events.extend(page["events"])
            token = page.get("nextPageToken")
            pages += 1
        first = dict(first)
        first.pop("nextPageToken", None)
        first["events"] = events
        return self._remember(first)

    def complete(
        self,
        task_token: str | None = None,
        decisions: Decisions | list[dict[str, Any]] | None = None,
        execution_context: str | None = None,
    ) -> dict[str, Any] | None:
        """RespondDecisionTaskCompleted; a Decisions batch is validated first."""
        if isinstance(decisions, Decisions):
            decisions.validate()
            decisions = decisions.data
        return self._call(
            "RespondDecisionTaskCompleted",
            taskToken=self._token(task_token),
            decisions=list(decisions or []),
            executionContext=execution_context,
        )


class ActivityWorker(Actor):
    """Base class for activity workers: poll, then complete, fail, heartbeat or cancel."""

    def poll(self, task_list: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """PollForActivityTask; an empty poll returns a dict without ``activityId``.

        ``kwargs`` are the call's other parameters, as boto3 or in snake case
        (``identity``, default: the actor's).
        """
        params = {_camel(key): value for key, value in kwargs.items()}
        params.setdefault("identity", self.identity)
        if params["identity"] is None:
            params["identity"] = self.identity
        response = self._call(
            "PollForActivityTask",
            domain=self.domain,
            taskList=self._task_list_for(task_list),
            **params,
        )
        return self._remember(response)

    def complete(
        self, task_token: str | None = None, result: str | None = None
    ) -> dict[str, Any] | None:
        """RespondActivityTaskCompleted."""
        return self._call(
            "RespondActivityTaskCompleted", taskToken=self._token(task_token), result=result
        )

    def fail(
        self, task_token: str | None = None, details: str | None = None, reason: str | None = None
    ) -> dict[str, Any] | None:
        """RespondActivityTaskFailed (SWF keeps at most 256 chars of reason, 32768 of details)."""
        return self._call(
            "RespondActivityTaskFailed",
            taskToken=self._token(task_token),
            reason=reason,
            details=details,
        )

    def heartbeat(
        self, task_token: str | None = None, details: str | None = None
    ) -> dict[str, Any] | None:
        """RecordActivityTaskHeartbeat; the answer's ``cancelRequested`` says to stop."""
        return self._call(
            "RecordActivityTaskHeartbeat", taskToken=self._token(task_token), details=details
        )

    def cancel(
        self, task_token: str | None = None, details: str | None = None
    ) -> dict[str, Any] | None:
        """RespondActivityTaskCanceled (after a heartbeat reported cancelRequested)."""
        return self._call(
            "RespondActivityTaskCanceled", taskToken=self._token(task_token), details=details
        )
