"""Register the domain and every plugin type, idempotently, and report drift.

SWF never updates a registered type: a plugin that changes a default after
its type was registered keeps running with SWF's old default. So when a type
already exists its registered defaults are compared with what the plugin
declares, and every difference comes back as a :class:`Drift`: a readable
line for the caller to log or print (``str()``), and data for ``--json``
(``as_dict()``); nothing is silently ignored.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from swfd.swf.models import (
    DEPRECATED,
    ActivityType,
    AlreadyExists,
    DoesNotExist,
    Domain,
    WorkflowType,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Drift:
    """One field where SWF's registered domain or type and the local declaration differ.

    ``kind`` is "domain", "activity" or "workflow"; ``field`` the API's name for
    it (``defaultTaskList``, ``status``, ...); ``upstream`` what SWF has,
    ``declared`` what the plugin or config says (None where nothing is declared,
    as for a deprecated status). ``str()`` is the line logs and tables show.
    """

    kind: str
    name: str
    version: str | None
    field: str
    upstream: Any
    declared: Any
    message: str

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "version": self.version,
                "field": self.field, "upstream": self.upstream, "declared": self.declared,
                "message": self.message}


def _camel(attr: str) -> str:
    """``default_task_list`` -> ``defaultTaskList``: the name SWF's API uses."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), attr)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def activity_model(domain: str, definition: Any, client: Any) -> ActivityType:
    """The ActivityType an ActivityDef (or any object with its attributes) declares."""
    return ActivityType(
        domain,
        definition.name,
        definition.version,
        description=getattr(definition, "description", None),
        default_task_list=definition.task_list,
        default_task_heartbeat_timeout=_str(definition.heartbeat_timeout),
        default_task_schedule_to_start_timeout=_str(definition.schedule_to_start_timeout),
        default_task_schedule_to_close_timeout=_str(definition.schedule_to_close_timeout),
        default_task_start_to_close_timeout=_str(definition.start_to_close_timeout),
        default_task_priority=_str(getattr(definition, "task_priority", None)),
        client=client,
    )


def workflow_model(domain: str, definition: Any, client: Any) -> WorkflowType:
    """The WorkflowType a WorkflowDef (or any object with its attributes) declares."""
    return WorkflowType(
        domain,
        definition.name,
        definition.version,
        description=getattr(definition, "description", None),
        default_task_list=definition.task_list,
        default_execution_start_to_close_timeout=_str(definition.execution_start_to_close_timeout),
        default_task_start_to_close_timeout=_str(definition.task_start_to_close_timeout),
        default_child_policy=definition.child_policy,
        default_task_priority=_str(getattr(definition, "task_priority", None)),
        default_lambda_role=getattr(definition, "lambda_role", None),
        client=client,
    )


def register_domain(client: Any, domain: str, retention_days: int) -> list[Drift]:
    """Register ``domain`` unless it exists; how an existing one differs."""
    local = Domain(domain, retention_period=retention_days, client=client)
    try:
        local.save()
        log.info("registered domain %s (retention %s days)", domain, retention_days)
        return []
    except AlreadyExists:
        pass
    upstream = local.upstream()
    lines = []
    if upstream.status == DEPRECATED:
        lines.append(Drift(
            "domain", domain, None, "status", DEPRECATED, None,
            f"Domain {domain}: is DEPRECATED upstream; no new executions can start"))
    if upstream.retention_period != retention_days:
        lines.append(Drift(
            "domain", domain, None, "workflowExecutionRetentionPeriodInDays",
            str(upstream.retention_period), str(retention_days),
            f"Domain {domain}: workflowExecutionRetentionPeriodInDays is "
            f"'{upstream.retention_period}' upstream, config declares '{retention_days}'"))
    return lines


def register_type(model: ActivityType | WorkflowType) -> list[Drift]:
    """Register one type unless it exists; each default that differs."""
    try:
        model.save()
        log.info("registered %s in domain %s", model, model.domain)
        return []
    except AlreadyExists:
        pass
    try:
        changes = model.changes
    except DoesNotExist:  # deleted between the register and the describe: try once more
        model.save()
        return []
    return drift_lines(model, changes)


#: What to do about drift: SWF has no call that updates a registered type.
NEW_VERSION_HINT = (
    "SWF types cannot change in place (SWF has no call to update a registered type): "
    "register a new version to change a default"
)


def drift_lines(model: ActivityType | WorkflowType, changes: Any) -> list[Drift]:
    """A :class:`Drift` per field where ``model`` (what the plugin declares) and SWF
    differ."""
    kind = "activity" if isinstance(model, ActivityType) else "workflow"
    lines = []
    for difference in changes:
        field = _camel(difference.attr)
        if difference.attr == "status":
            message = (f"{model}: is {difference.upstream} upstream; "
                       "deciders cannot schedule a deprecated type")
            declared = None
        else:
            message = (f"{model}: {field} is {difference.upstream!r} upstream, "
                       f"plugin declares {difference.local!r}")
            declared = difference.local
        lines.append(Drift(kind, model.name, model.version, field,
                                difference.upstream, declared, message))
    return lines


def type_drift(client: Any, domain: str, registry: Any) -> tuple[list[Drift], list[str]]:
    """Compare every type of ``registry`` with SWF without registering anything.

    Returns ``(differences, types not registered yet)``.
    """
    lines: list[Drift] = []
    missing: list[str] = []
    models = [activity_model(domain, d, client) for d in registry.activities.values()]
    models += [workflow_model(domain, d, client) for d in registry.workflows.values()]
    for model in models:
        try:
            changes = model.changes
        except DoesNotExist:
            missing.append(str(model))
            continue
        lines += drift_lines(model, changes)
    return lines, missing


def register_all(client: Any, domain: str, registry: Any,
                 retention_days: int) -> list[Drift]:
    """Register the domain and every type of ``registry``; return the differences.

    ``registry`` has ``activities`` and ``workflows`` mappings whose values carry
    the ActivityDef/WorkflowDef attributes. Idempotent: a second run registers
    nothing and returns the same lines. The caller logs or prints the lines (the
    master's registrar logs them as warnings; ``swfd register`` prints them).
    """
    lines = register_domain(client, domain, retention_days)
    for definition in registry.activities.values():
        lines += register_type(activity_model(domain, definition, client))
    for definition in registry.workflows.values():
        lines += register_type(workflow_model(domain, definition, client))
    return lines
