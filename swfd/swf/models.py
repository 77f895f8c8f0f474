"""Immutable models of SWF entities: domains, workflow and activity types, executions.

The seed ``swf`` library's models on boto3, typed: a model is a frozen
dataclass describing what the caller believes; ``save()`` sends it to SWF,
``exists``/``is_synced``/``changes`` compare it with what SWF holds, and
``upstream()`` returns a new model built from SWF's copy. Models never change
in place: ``deprecate()`` and friends return the new state.

Every SWF call goes through :func:`swf_call`, so retries and timeouts are set
in one place (``swfd.swf.retry``).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, NamedTuple

from botocore.exceptions import ClientError

from swfd.swf.retry import call as _retry_call

REGISTERED = "REGISTERED"
DEPRECATED = "DEPRECATED"
OPEN = "OPEN"
CLOSED = "CLOSED"

#: Upper bound on pages fetched by one listing; far beyond SWF's 25,000-event histories.
MAX_PAGES = 10_000


class DoesNotExist(LookupError):
    """What was looked up is not in SWF; the message names it."""


class AlreadyExists(Exception):
    """``save()`` of something SWF already holds; the message names it."""


class MultipleObjectsReturned(LookupError):
    """A lookup matched more than one entity (a type name with several versions)."""


class NotAnSWFReply(ValueError):
    """A successful (HTTP 200) reply without what SWF always sends: the endpoint is not SWF
    (a proxy's page, another service) or the reply was cut."""


class NotSupportedBySWF(NotImplementedError):
    """An operation SWF has no call for; the message says what to do instead."""


_RETRY_BOUNDS: ContextVar[dict[str, Any] | None] = ContextVar("swfd_retry_bounds", default=None)


@contextmanager
def retry_bounds(**bounds: Any) -> Iterator[None]:
    """Bound the retries of every SWF call made in this context.

    ``bounds`` are ``swfd.swf.retry.call``'s ``deadline``/``stop``/``max_attempts``:
    an interactive command should fail in seconds, not retry forever.
    """
    token = _RETRY_BOUNDS.set(bounds)
    try:
        yield
    finally:
        _RETRY_BOUNDS.reset(token)


def swf_call(client: Any, operation: str, **params: Any) -> dict:
    """Make one SWF call with the project's retry policy; ``None`` params are dropped."""
    params = {key: value for key, value in params.items() if value is not None}
    return _retry_call(client, operation, **(_RETRY_BOUNDS.get() or {}), **params) or {}


def iter_pages(client: Any, operation: str, key: str, **params: Any) -> Iterator[dict]:
    """Yield every item under ``key`` across all pages of a listing call.

    SWF always sends ``key`` (a list, empty when nothing matches); a page without
    it raises :class:`NotAnSWFReply` rather than reading as "nothing found".
    """
    token = None
    for _ in range(MAX_PAGES):
        page = swf_call(client, operation, nextPageToken=token, **params)
        items = page.get(key)
        if not isinstance(items, list):
            found = ", ".join(sorted(k for k in page if k != "ResponseMetadata")) or "no fields"
            raise NotAnSWFReply(
                f"{operation}: the reply has no {key!r} list (it has {found}); "
                "is the endpoint SWF?")
        yield from items
        token = page.get("nextPageToken")
        if not token:
            return
    raise RuntimeError(f"{operation}: more than {MAX_PAGES} pages, giving up")


def error_code(exc: BaseException) -> str | None:
    """The SWF fault name of a botocore ClientError (``UnknownResourceFault``), else None."""
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


class Difference(NamedTuple):
    """One attribute whose local value differs from SWF's."""

    attr: str
    local: Any
    upstream: Any

    def __repr__(self) -> str:
        return f"Difference({self.attr!r}, {self.local!r}, {self.upstream!r})"


class ModelDiff(tuple):
    """The differences between a local model and its upstream copy (empty when synced)."""

    def __repr__(self) -> str:
        if not self:
            return "ModelDiff()"
        inner = ",\n".join(f"    {difference!r}" for difference in self)
        return f"ModelDiff(\n{inner}\n)"

    def as_dict(self) -> dict[str, tuple[Any, Any]]:
        return {d.attr: (d.local, d.upstream) for d in self}


def _name_of(domain: Any) -> str:
    return domain.name if isinstance(domain, Domain) else domain


class _Model:
    """Shared behaviour: the upstream comparison and the client check."""

    #: Fields that name the entity; never reported as changes.
    _identity: ClassVar[tuple[str, ...]] = ()
    #: Fields compared with upstream; empty means every compared dataclass field.
    _compared: ClassVar[tuple[str, ...]] = ()

    client: Any

    def _client(self) -> Any:
        """``client=`` when given, else the default connection ``swfd.swf.settings`` makes."""
        if self.client is None:
            from swfd.swf import settings

            return settings.client()
        return self.client

    def upstream(self):  # pragma: no cover - every model overrides it
        raise NotImplementedError

    def _compared_fields(self) -> tuple[str, ...]:
        if self._compared:
            return self._compared
        return tuple(
            f.name
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.compare and f.name not in self._identity
        )

    def diff(self, other: _Model) -> ModelDiff:
        """The compared fields whose values differ between ``self`` and ``other``."""
        return ModelDiff(
            Difference(name, getattr(self, name), getattr(other, name))
            for name in self._compared_fields()
            if getattr(self, name) != getattr(other, name)
        )

    @property
    def exists(self) -> bool:
        """Whether SWF holds this entity."""
        try:
            self.upstream()
        except DoesNotExist:
            return False
        return True

    @property
    def changes(self) -> ModelDiff:
        """How this model differs from SWF's copy; raises DoesNotExist if there is none."""
        return self.diff(self.upstream())

    @property
    def is_synced(self) -> bool:
        """True when SWF holds this entity with the same attributes."""
        try:
            return not self.changes
        except DoesNotExist:
            return False

    def _raise_missing(self, exc: ClientError, what: str) -> None:
        if error_code(exc) == "UnknownResourceFault":
            message = exc.response.get("Error", {}).get("Message") or "UnknownResourceFault"
            raise DoesNotExist(f"{what} does not exist ({message})") from exc


# --------------------------------------------------------------------------- domains


@dataclass(frozen=True, repr=False)
class Domain(_Model):
    """An SWF domain; ``retention_period`` is the execution history retention in days."""

    name: str
    status: str = REGISTERED
    description: str | None = None
    retention_period: int = 1
    client: Any = field(default=None, repr=False, compare=False)

    _identity: ClassVar[tuple[str, ...]] = ("name",)

    def __str__(self) -> str:
        return f"Domain {self.name}"

    def __repr__(self) -> str:
        return f"Domain({self.name!r})"

    @classmethod
    def from_description(cls, response: dict, client: Any = None) -> Domain:
        info = response["domainInfo"]
        retention = response.get("configuration", {}).get("workflowExecutionRetentionPeriodInDays")
        return cls(
            name=info["name"],
            status=info["status"],
            description=info.get("description"),
            retention_period=int(retention) if retention not in (None, "NONE") else 0,
            client=client,
        )

    def upstream(self) -> Domain:
        try:
            response = swf_call(self._client(), "DescribeDomain", name=self.name)
        except ClientError as exc:
            self._raise_missing(exc, f"domain {self.name!r}")
            raise
        return Domain.from_description(response, self.client)

    def save(self) -> None:
        """Register the domain; raises AlreadyExists if SWF holds one by this name."""
        try:
            swf_call(
                self._client(),
                "RegisterDomain",
                name=self.name,
                description=self.description,
                workflowExecutionRetentionPeriodInDays=str(self.retention_period),
            )
        except ClientError as exc:
            if error_code(exc) == "DomainAlreadyExistsFault":
                raise AlreadyExists(f"domain {self.name!r} already exists") from exc
            raise

    def delete(self) -> None:
        """SWF has no call to delete a domain (no DeleteDomain): deprecate it instead."""
        raise NotSupportedBySWF(
            f"SWF has no call to delete a domain (no DeleteDomain): {self.name!r} can only be "
            "deprecated, with deprecate()"
        )

    def deprecate(self) -> Domain:
        self._status_call("DeprecateDomain")
        return dataclasses.replace(self, status=DEPRECATED)

    def undeprecate(self) -> Domain:
        self._status_call("UndeprecateDomain")
        return dataclasses.replace(self, status=REGISTERED)

    def _status_call(self, operation: str) -> None:
        try:
            swf_call(self._client(), operation, name=self.name)
        except ClientError as exc:
            self._raise_missing(exc, f"domain {self.name!r}")
            raise


# --------------------------------------------------------------------------- types


def _task_list_name(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("name")
    return value


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class _TypeModel(_Model):
    """What workflow and activity types share: identity, status, lifecycle calls."""

    _kind: ClassVar[str] = ""  # "workflow" | "activity"
    _identity: ClassVar[tuple[str, ...]] = ("domain", "name", "version")

    def __post_init__(self, task_list: str | None) -> None:
        object.__setattr__(self, "domain", _name_of(self.domain))  # type: ignore[attr-defined]
        # task_list is the seed's name; default_task_list wins when both are given
        # (dataclasses.replace passes the old task_list beside a new default_task_list).
        if task_list is not None and self.default_task_list is None:  # type: ignore[attr-defined]
            object.__setattr__(self, "default_task_list", task_list)

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.name} {self.version}"  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.version!r})"  # type: ignore[attr-defined]

    @property
    def _type_key(self) -> str:
        return f"{self._kind}Type"

    def _type_ref(self) -> dict:
        return {"name": self.name, "version": self.version}  # type: ignore[attr-defined]

    def _what(self) -> str:
        return (
            f"{self._kind} type {self.name!r} version {self.version!r}"  # type: ignore[attr-defined]
            f" in domain {self.domain!r}"  # type: ignore[attr-defined]
        )

    def _type_call(self, operation: str) -> dict:
        try:
            return swf_call(
                self._client(),
                operation,
                domain=self.domain,  # type: ignore[attr-defined]
                **{self._type_key: self._type_ref()},
            )
        except ClientError as exc:
            self._raise_missing(exc, self._what())
            raise

    def upstream(self):
        operation = "DescribeWorkflowType" if self._kind == "workflow" else "DescribeActivityType"
        response = self._type_call(operation)
        return type(self).from_description(self.domain, response, self.client)  # type: ignore

    @classmethod
    def from_description(cls, domain: str, response: dict, client: Any = None):
        raise NotImplementedError  # pragma: no cover

    def _register(self, operation: str, **defaults: Any) -> None:
        try:
            swf_call(
                self._client(),
                operation,
                domain=self.domain,  # type: ignore[attr-defined]
                name=self.name,  # type: ignore[attr-defined]
                version=self.version,  # type: ignore[attr-defined]
                description=self.description,  # type: ignore[attr-defined]
                **defaults,
            )
        except ClientError as exc:
            if error_code(exc) == "TypeAlreadyExistsFault":
                raise AlreadyExists(f"{self._what()} already exists") from exc
            self._raise_missing(exc, f"domain {self.domain!r}")  # type: ignore[attr-defined]
            raise

    def deprecate(self):
        """Deprecate the type; returns the model with status DEPRECATED."""
        self._type_call("Deprecate" + self._type_key[0].upper() + self._type_key[1:])
        return dataclasses.replace(self, status=DEPRECATED)

    def undeprecate(self):
        self._type_call("Undeprecate" + self._type_key[0].upper() + self._type_key[1:])
        return dataclasses.replace(self, status=REGISTERED)

    def delete(self) -> None:
        """Delete the type (SWF requires it to be deprecated first)."""
        self._type_call("Delete" + self._type_key[0].upper() + self._type_key[1:])


@dataclass(frozen=True, repr=False)
class WorkflowType(_TypeModel):
    """A workflow type and its registered defaults (timeouts are SWF strings)."""

    domain: str
    name: str
    version: str
    status: str = REGISTERED
    description: str | None = None
    default_task_list: str | None = None
    default_execution_start_to_close_timeout: str | None = None
    default_task_start_to_close_timeout: str | None = None
    default_child_policy: str | None = None
    default_task_priority: str | None = None
    default_lambda_role: str | None = None
    creation_date: datetime | None = field(default=None, compare=False)
    deprecation_date: datetime | None = field(default=None, compare=False)
    client: Any = field(default=None, repr=False, compare=False)
    #: The seed's name for ``default_task_list`` (accepted by the constructor).
    task_list: dataclasses.InitVar[str | None] = None

    _kind: ClassVar[str] = "workflow"

    @classmethod
    def from_description(cls, domain: str, response: dict, client: Any = None) -> WorkflowType:
        info, config = response["typeInfo"], response.get("configuration", {})
        return cls(
            domain=domain,
            name=info["workflowType"]["name"],
            version=info["workflowType"]["version"],
            status=info["status"],
            description=info.get("description"),
            default_task_list=_task_list_name(config.get("defaultTaskList")),
            default_execution_start_to_close_timeout=config.get(
                "defaultExecutionStartToCloseTimeout"
            ),
            default_task_start_to_close_timeout=config.get("defaultTaskStartToCloseTimeout"),
            default_child_policy=config.get("defaultChildPolicy"),
            default_task_priority=config.get("defaultTaskPriority"),
            default_lambda_role=config.get("defaultLambdaRole"),
            creation_date=info.get("creationDate"),
            deprecation_date=info.get("deprecationDate"),
            client=client,
        )

    def save(self) -> None:
        """Register the type with its defaults; raises AlreadyExists if it is registered."""
        self._register(
            "RegisterWorkflowType",
            defaultTaskList={"name": self.default_task_list} if self.default_task_list else None,
            defaultExecutionStartToCloseTimeout=_str_or_none(
                self.default_execution_start_to_close_timeout
            ),
            defaultTaskStartToCloseTimeout=_str_or_none(self.default_task_start_to_close_timeout),
            defaultChildPolicy=self.default_child_policy,
            defaultTaskPriority=_str_or_none(self.default_task_priority),
            defaultLambdaRole=self.default_lambda_role,
        )

    def start(
        self,
        workflow_id: str | None = None,
        *,
        task_list: str | None = None,
        input: str | None = None,
        execution_start_to_close_timeout: str | int | None = None,
        task_start_to_close_timeout: str | int | None = None,
        child_policy: str | None = None,
        tag_list: list[str] | tuple[str, ...] | None = None,
        task_priority: str | int | None = None,
        lambda_role: str | None = None,
    ) -> WorkflowExecution:
        """Start an execution of this type; every StartWorkflowExecution parameter is here.

        ``workflow_id`` defaults to a fresh UUID. Omitted parameters fall back to
        the type's registered defaults on SWF's side.
        """
        workflow_id = workflow_id or str(uuid.uuid4())
        try:
            response = swf_call(
                self._client(),
                "StartWorkflowExecution",
                domain=self.domain,
                workflowId=workflow_id,
                workflowType=self._type_ref(),
                taskList={"name": task_list} if task_list else None,
                taskPriority=_str_or_none(task_priority),
                input=input,
                executionStartToCloseTimeout=_str_or_none(execution_start_to_close_timeout),
                taskStartToCloseTimeout=_str_or_none(task_start_to_close_timeout),
                tagList=list(tag_list) if tag_list else None,
                childPolicy=child_policy,
                lambdaRole=lambda_role,
            )
        except ClientError as exc:
            self._raise_missing(exc, self._what())
            raise
        return WorkflowExecution(
            domain=self.domain,
            workflow_id=workflow_id,
            run_id=response["runId"],
            workflow_type=(self.name, self.version),
            status=OPEN,
            tag_list=tuple(tag_list or ()),
            client=self.client,
        )


@dataclass(frozen=True, repr=False)
class ActivityType(_TypeModel):
    """An activity type and its registered defaults (timeouts are SWF strings)."""

    domain: str
    name: str
    version: str
    status: str = REGISTERED
    description: str | None = None
    default_task_list: str | None = None
    default_task_heartbeat_timeout: str | None = None
    default_task_schedule_to_start_timeout: str | None = None
    default_task_schedule_to_close_timeout: str | None = None
    default_task_start_to_close_timeout: str | None = None
    default_task_priority: str | None = None
    creation_date: datetime | None = field(default=None, compare=False)
    deprecation_date: datetime | None = field(default=None, compare=False)
    client: Any = field(default=None, repr=False, compare=False)
    #: The seed's name for ``default_task_list`` (accepted by the constructor).
    task_list: dataclasses.InitVar[str | None] = None

    _kind: ClassVar[str] = "activity"

    @classmethod
    def from_description(cls, domain: str, response: dict, client: Any = None) -> ActivityType:
        info, config = response["typeInfo"], response.get("configuration", {})
        return cls(
            domain=domain,
            name=info["activityType"]["name"],
            version=info["activityType"]["version"],
            status=info["status"],
            description=info.get("description"),
            default_task_list=_task_list_name(config.get("defaultTaskList")),
            default_task_heartbeat_timeout=config.get("defaultTaskHeartbeatTimeout"),
            default_task_schedule_to_start_timeout=config.get("defaultTaskScheduleToStartTimeout"),
            default_task_schedule_to_close_timeout=config.get("defaultTaskScheduleToCloseTimeout"),
            default_task_start_to_close_timeout=config.get("defaultTaskStartToCloseTimeout"),
            default_task_priority=config.get("defaultTaskPriority"),
            creation_date=info.get("creationDate"),
            deprecation_date=info.get("deprecationDate"),
            client=client,
        )

    def save(self) -> None:
        """Register the type with its defaults; raises AlreadyExists if it is registered."""
        self._register(
            "RegisterActivityType",
            defaultTaskList={"name": self.default_task_list} if self.default_task_list else None,
            defaultTaskHeartbeatTimeout=_str_or_none(self.default_task_heartbeat_timeout),
            defaultTaskScheduleToStartTimeout=_str_or_none(
                self.default_task_schedule_to_start_timeout
            ),
            defaultTaskScheduleToCloseTimeout=_str_or_none(
                self.default_task_schedule_to_close_timeout
            ),
            defaultTaskStartToCloseTimeout=_str_or_none(self.default_task_start_to_close_timeout),
            defaultTaskPriority=_str_or_none(self.default_task_priority),
        )


# --------------------------------------------------------------------------- executions


@dataclass(frozen=True)
class WorkflowExecution(_Model):
    """One run of a workflow. ``workflow_type`` is ``(name, version)``.

    Only what changes over an execution's life (status, close status and time,
    cancel request) is compared with upstream: the rest is fixed at start.
    """

    domain: str
    workflow_id: str
    run_id: str
    workflow_type: tuple[str, str] | None = None
    status: str = OPEN
    close_status: str | None = None
    start_timestamp: datetime | None = None
    close_timestamp: datetime | None = None
    cancel_requested: bool = False
    tag_list: tuple[str, ...] = ()
    parent: tuple[str, str] | None = None
    task_list: str | None = None
    child_policy: str | None = None
    execution_start_to_close_timeout: str | None = None
    task_start_to_close_timeout: str | None = None
    task_priority: str | None = None
    lambda_role: str | None = None
    client: Any = field(default=None, repr=False, compare=False)

    _identity: ClassVar[tuple[str, ...]] = ("domain", "workflow_id", "run_id")
    _compared: ClassVar[tuple[str, ...]] = (
        "status",
        "close_status",
        "close_timestamp",
        "cancel_requested",
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", _name_of(self.domain))
        object.__setattr__(self, "tag_list", tuple(self.tag_list or ()))

    def __str__(self) -> str:
        return f"workflow execution {self.workflow_id!r} run {self.run_id!r}"

    @classmethod
    def from_info(cls, domain: str, info: dict, client: Any = None, **config: Any):
        """Build from an ``executionInfo`` (listings and describe)."""
        parent = info.get("parent")
        return cls(
            domain=domain,
            workflow_id=info["execution"]["workflowId"],
            run_id=info["execution"]["runId"],
            workflow_type=(info["workflowType"]["name"], info["workflowType"]["version"]),
            status=info["executionStatus"],
            close_status=info.get("closeStatus"),
            start_timestamp=info.get("startTimestamp"),
            close_timestamp=info.get("closeTimestamp"),
            cancel_requested=bool(info.get("cancelRequested", False)),
            tag_list=tuple(info.get("tagList", ())),
            parent=(parent["workflowId"], parent["runId"]) if parent else None,
            client=client,
            **config,
        )

    @classmethod
    def from_description(cls, domain: str, response: dict, client: Any = None):
        config = response.get("executionConfiguration", {})
        return cls.from_info(
            domain,
            response["executionInfo"],
            client,
            task_list=_task_list_name(config.get("taskList")),
            child_policy=config.get("childPolicy"),
            execution_start_to_close_timeout=config.get("executionStartToCloseTimeout"),
            task_start_to_close_timeout=config.get("taskStartToCloseTimeout"),
            task_priority=config.get("taskPriority"),
            lambda_role=config.get("lambdaRole"),
        )

    def save(self) -> None:
        """SWF has no call to save an execution: executions are started, then closed."""
        raise NotSupportedBySWF(
            f"SWF has no call to save a workflow execution ({self}): start one with "
            "WorkflowType.start() or WorkflowExecutionQuerySet.create(); an open one changes "
            "only through signal(), request_cancel() and terminate()"
        )

    @property
    def _execution(self) -> dict:
        return {"workflowId": self.workflow_id, "runId": self.run_id}

    def _call(self, operation: str, **params: Any) -> dict:
        try:
            return swf_call(self._client(), operation, domain=self.domain, **params)
        except ClientError as exc:
            self._raise_missing(exc, f"{self} in domain {self.domain!r}")
            raise

    def describe(self) -> dict:
        """The raw DescribeWorkflowExecution response."""
        return self._call("DescribeWorkflowExecution", execution=self._execution)

    def upstream(self) -> WorkflowExecution:
        return WorkflowExecution.from_description(self.domain, self.describe(), self.client)

    def history(self, reverse: bool = False, page_size: int | None = None) -> list[dict]:
        """Every event of the execution's history, all pages, oldest first unless ``reverse``.

        ``page_size`` is SWF's maximumPageSize (default: SWF's, 1000).
        """
        try:
            return list(
                iter_pages(
                    self._client(),
                    "GetWorkflowExecutionHistory",
                    "events",
                    domain=self.domain,
                    execution=self._execution,
                    reverseOrder=reverse or None,
                    maximumPageSize=page_size,
                )
            )
        except ClientError as exc:
            self._raise_missing(exc, f"{self} in domain {self.domain!r}")
            raise

    def signal(self, name: str, input: str | None = None) -> None:
        self._call(
            "SignalWorkflowExecution",
            workflowId=self.workflow_id,
            runId=self.run_id,
            signalName=name,
            input=input,
        )

    def request_cancel(self) -> None:
        self._call("RequestCancelWorkflowExecution", workflowId=self.workflow_id, runId=self.run_id)

    def terminate(
        self,
        reason: str | None = None,
        details: str | None = None,
        child_policy: str | None = None,
    ) -> None:
        self._call(
            "TerminateWorkflowExecution",
            workflowId=self.workflow_id,
            runId=self.run_id,
            reason=reason,
            details=details,
            childPolicy=child_policy,
        )


def _seed_task_list(self: Any) -> str | None:
    """The seed's name for ``default_task_list``."""
    return self.default_task_list


WorkflowType.task_list = property(_seed_task_list)  # type: ignore[assignment,method-assign]
ActivityType.task_list = property(_seed_task_list)  # type: ignore[assignment,method-assign]
