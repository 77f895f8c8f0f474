"""Querysets: Django-manager-like access to SWF domains, types and executions.

As in the seed ``swf`` library, a queryset needs a connection and so is an
instance, usually built against a domain: ``WorkflowTypeQuerySet(domain)``
takes the domain model's client. Models returned by domain and type querysets
are complete (described, defaults included), so their ``changes`` are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from swfd.swf import executions
from swfd.swf.models import (
    CLOSED,
    DEPRECATED,
    OPEN,
    REGISTERED,
    ActivityType,
    AlreadyExists,
    DoesNotExist,
    Domain,
    MultipleObjectsReturned,
    WorkflowExecution,
    WorkflowType,
    iter_pages,
)

_STATUSES = (REGISTERED, DEPRECATED)


def _statuses(status: str | None) -> tuple[str, ...]:
    if status is None:
        return _STATUSES
    if status not in _STATUSES:
        raise ValueError(f"registration status must be one of {_STATUSES}, not {status!r}")
    return (status,)


class _QuerySet:
    """The connection: ``client=`` when given, else ``swfd.swf.settings``' default one."""

    _given_client: Any = None

    @property
    def client(self) -> Any:
        if self._given_client is not None:
            return self._given_client
        from swfd.swf import settings

        return settings.client()

    @client.setter
    def client(self, value: Any) -> None:
        self._given_client = value


class DomainQuerySet(_QuerySet):
    """Domains visible to ``client`` (default: the settings' connection)."""

    def __init__(self, client: Any = None) -> None:
        self.client = client

    def _names(self, status: str | None) -> Iterator[str]:
        for registration_status in _statuses(status):
            for info in iter_pages(
                self.client, "ListDomains", "domainInfos", registrationStatus=registration_status
            ):
                yield info["name"]

    def get(self, name: str) -> Domain:
        """The domain ``name``; raises DoesNotExist naming it."""
        return Domain(name, client=self.client).upstream()

    def filter(self, status: str | None = None, name: str | None = None) -> list[Domain]:
        """Domains with ``status`` (REGISTERED, DEPRECATED, or both when None) and ``name``."""
        found = []
        for domain_name in self._names(status):
            if name is not None and domain_name != name:
                continue
            try:
                found.append(self.get(domain_name))
            except DoesNotExist:  # gone between the listing and the describe
                continue
        return found

    def all(self) -> list[Domain]:
        return self.filter()

    def create(
        self, name: str, description: str | None = None, retention_period: int = 1
    ) -> Domain:
        """Register a new domain; raises AlreadyExists if it is there."""
        domain = Domain(
            name, description=description, retention_period=retention_period, client=self.client
        )
        domain.save()
        return domain

    def get_or_create(self, name: str, **defaults: Any) -> tuple[Domain, bool]:
        """``(domain, created)``: the existing domain, or a new one registered with ``defaults``."""
        try:
            return self.get(name), False
        except DoesNotExist:
            pass
        try:
            return self.create(name, **defaults), True
        except AlreadyExists:  # registered by someone else meanwhile
            return self.get(name), False


#: The seed quickstart's spelling (``queryset = DomainQuery()``).
DomainQuery = DomainQuerySet


class _TypeQuerySet(_QuerySet):
    """Types of one domain; subclasses name the model and the SWF operations."""

    model: type[WorkflowType | ActivityType]
    _list_operation: str
    _type_key: str

    def __init__(self, domain: Domain | str, client: Any = None) -> None:
        if isinstance(domain, Domain):
            client = client if client is not None else domain.client
            domain = domain.name
        self.domain: str = domain
        self.client = client

    def get(self, name: str, version: str | None = None):
        """The type ``name``/``version``; raises DoesNotExist naming it.

        Without ``version``: the one registered version of ``name`` (either
        status); MultipleObjectsReturned names the versions to choose from.
        """
        if version is None:
            version = self._only_version(name)
        return self.model(self.domain, name, version, client=self.client).upstream()

    def _only_version(self, name: str) -> str:
        client = self.client
        versions = sorted(
            info[self._type_key]["version"]
            for registration_status in _STATUSES
            for info in iter_pages(
                client,
                self._list_operation,
                "typeInfos",
                domain=self.domain,
                name=name,
                registrationStatus=registration_status,
            )
            if info[self._type_key]["name"] == name
        )
        kind = self.model._kind
        if not versions:
            raise DoesNotExist(f"no {kind} type {name!r} in domain {self.domain!r}")
        if len(versions) > 1:
            raise MultipleObjectsReturned(
                f"{kind} type {name!r} in domain {self.domain!r} has versions "
                f"{', '.join(repr(v) for v in versions)}: pass version= to choose one"
            )
        return versions[0]

    def filter(
        self, status: str | None = None, name: str | None = None, version: str | None = None
    ) -> list:
        """Types with ``status`` (both when None), ``name`` and ``version``, all pages."""
        found = []
        for registration_status in _statuses(status):
            for info in iter_pages(
                self.client,
                self._list_operation,
                "typeInfos",
                domain=self.domain,
                name=name,
                registrationStatus=registration_status,
            ):
                ref = info[self._type_key]
                if version is not None and ref["version"] != version:
                    continue
                try:
                    found.append(self.get(ref["name"], ref["version"]))
                except DoesNotExist:  # deleted between the listing and the describe
                    continue
        return found

    def all(self) -> list:
        return self.filter()

    def create(self, name: str, version: str, **defaults: Any):
        """Register a new type with ``defaults`` (model fields); raises AlreadyExists."""
        model = self.model(self.domain, name, version, client=self.client, **defaults)
        model.save()
        return model

    def get_or_create(self, name: str, version: str, **defaults: Any) -> tuple[Any, bool]:
        """``(type, created)``: the registered type, or a new one registered with ``defaults``."""
        try:
            return self.get(name, version), False
        except DoesNotExist:
            pass
        try:
            return self.create(name, version, **defaults), True
        except AlreadyExists:
            return self.get(name, version), False


class WorkflowTypeQuerySet(_TypeQuerySet):
    model = WorkflowType
    _list_operation = "ListWorkflowTypes"
    _type_key = "workflowType"


class ActivityTypeQuerySet(_TypeQuerySet):
    model = ActivityType
    _list_operation = "ListActivityTypes"
    _type_key = "activityType"


class WorkflowExecutionQuerySet(_QuerySet):
    """Executions of one domain, open and closed."""

    def __init__(self, domain: Domain | str, client: Any = None) -> None:
        if isinstance(domain, Domain):
            client = client if client is not None else domain.client
            domain = domain.name
        self.domain: str = domain
        self.client = client

    def get(self, workflow_id: str, run_id: str | None = None) -> WorkflowExecution:
        """The described execution; without ``run_id`` the latest run. DoesNotExist names it."""
        return executions.get_execution(self.client, self.domain, workflow_id, run_id)

    def filter(
        self,
        status: str | None = None,
        *,
        workflow_id: str | None = None,
        workflow_type: str | tuple[str, str] | WorkflowType | None = None,
        tag: str | None = None,
        close_status: str | None = None,
        start_oldest: datetime | None = None,
        start_latest: datetime | None = None,
        close_oldest: datetime | None = None,
        close_latest: datetime | None = None,
        reverse: bool = False,
    ) -> list[WorkflowExecution]:
        """Executions with ``status`` OPEN or CLOSED (both when None), all pages.

        A close status or close time range implies CLOSED. Any combination of
        filters works: what SWF cannot combine in one call is filtered here.
        """
        filters = self._filters(
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            tag=tag,
            close_status=close_status,
            start_oldest=start_oldest,
            start_latest=start_latest,
            close_oldest=close_oldest,
            close_latest=close_latest,
        )
        found = []
        for execution_status in self._statuses(status, filters):
            infos = executions.list_execution_infos(
                self.client, self.domain, execution_status, reverse=reverse, **filters
            )
            found.extend(
                WorkflowExecution.from_info(self.domain, info, self.client) for info in infos
            )
        return found

    def all(self) -> list[WorkflowExecution]:
        return self.filter()

    def count(self, status: str | None = None, **filters: Any) -> int:
        """How many executions match (same arguments as ``filter``, except ``reverse``)."""
        filters = self._filters(**filters)
        return sum(
            executions.count_executions(self.client, self.domain, execution_status, **filters)
            for execution_status in self._statuses(status, filters)
        )

    def create(
        self,
        workflow_type: WorkflowType | tuple[str, str],
        workflow_id: str | None = None,
        **params: Any,
    ) -> WorkflowExecution:
        """Start an execution; ``params`` are every StartWorkflowExecution parameter
        (task_list, input, execution_start_to_close_timeout, task_start_to_close_timeout,
        child_policy, tag_list, task_priority, lambda_role)."""
        name, version = self._type_ref(workflow_type)
        return executions.start_workflow_execution(
            self.client, self.domain, name, version, workflow_id, **params
        )

    def get_or_create(
        self,
        workflow_type: WorkflowType | tuple[str, str],
        workflow_id: str,
        **params: Any,
    ) -> tuple[WorkflowExecution, bool]:
        """``(execution, created)``: the open run of ``workflow_id``, or a newly started one.

        Arguments in ``create``'s order: the type, then the workflow id.
        """
        if isinstance(workflow_type, str) and isinstance(workflow_id, (WorkflowType, tuple)):
            raise TypeError(
                "get_or_create(workflow_type, workflow_id): the type comes first, "
                "as in create()"
            )
        client = self.client
        infos = executions.list_execution_infos(client, self.domain, OPEN, workflow_id=workflow_id)
        if infos:
            return self.get(workflow_id, infos[0]["execution"]["runId"]), False
        return self.create(workflow_type, workflow_id, **params), True

    @staticmethod
    def _type_ref(workflow_type: Any) -> tuple[str, str | None]:
        if isinstance(workflow_type, WorkflowType):
            return workflow_type.name, workflow_type.version
        if isinstance(workflow_type, str):
            return workflow_type, None
        return tuple(workflow_type)  # type: ignore[return-value]

    def _filters(self, **filters: Any) -> dict[str, Any]:
        if filters.get("workflow_type") is not None:
            filters["workflow_type"] = self._type_ref(filters["workflow_type"])
        return {key: value for key, value in filters.items() if value is not None}

    @staticmethod
    def _statuses(status: str | None, filters: dict[str, Any]) -> tuple[str, ...]:
        if status is not None:
            if status not in (OPEN, CLOSED):
                raise ValueError(f"execution status must be {OPEN!r} or {CLOSED!r}, not {status!r}")
            return (status,)
        closed_only = {"close_status", "close_oldest", "close_latest"} & filters.keys()
        return (CLOSED,) if closed_only else (OPEN, CLOSED)
