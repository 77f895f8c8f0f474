"""Activity and workflow definitions, the decorators that make them, and the registry.

``@swfd.activity(...)`` and ``@swfd.workflow(...)`` turn a handler function into
an :class:`ActivityDef` / :class:`WorkflowDef`: a frozen dataclass that is still
callable like the function and carries the type's SWF defaults as the strings
SWF uses ("600", "NONE"). Everything is validated when the module is imported,
so a bad declaration fails before any process forks, naming the handler.

A :class:`Registry` is what :func:`swfd.plugins.load_plugins` builds: the
definitions keyed by ``(name, version)`` and indexed by default task list,
plus the plugin manager for calling hooks later (``swfd_worker_init``).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from swfd.codecs import CODECS
from swfd.errors import DefinitionError

# SWF's rule for names, versions, task lists and ids (API reference).
_FORBIDDEN = re.compile(r"[:/|\u0000-\u001f\u007f-\u009f]")
_MAX_DURATION = 31536000  # one year, SWF's longest timeout
CHILD_POLICIES = ("TERMINATE", "REQUEST_CANCEL", "ABANDON")


def _where(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", "?")
    return f"{module}.{getattr(func, '__qualname__', repr(func))}"


def check_swf_name(value: Any, field_name: str, max_len: int, where: str) -> str:
    """Validate a name/version/task list by SWF's rules; return it unchanged."""
    if not isinstance(value, str):
        raise DefinitionError(
            f"{where}: {field_name} must be a string, got {type(value).__name__} {value!r}"
        )
    problem = None
    if not 1 <= len(value) <= max_len:
        problem = f"must be 1 to {max_len} characters long"
    elif value != value.strip():
        problem = "must not start or end with whitespace"
    elif _FORBIDDEN.search(value):
        problem = "must not contain ':', '/', '|' or control characters"
    elif value == "arn":
        problem = "must not be the literal string 'arn'"
    if problem:
        raise DefinitionError(f"{where}: {field_name} {value!r} {problem}")
    return value


def swf_duration(value: Any, field_name: str, where: str, allow_none: bool = True) -> str:
    """Turn a timeout given as seconds (int or digit string) or "NONE"/None into SWF's string."""
    if value is None or value == "NONE":
        if allow_none:
            return "NONE"
        raise DefinitionError(f"{where}: {field_name} must be a number of seconds, not NONE")
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int):
        seconds = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and value.isdigit()
    ):
        seconds = int(value)
    else:
        seconds = None
    if seconds is None or not 0 <= seconds <= _MAX_DURATION:
        expected = "whole seconds from 0 to 31536000" + (' or "NONE"' if allow_none else "")
        raise DefinitionError(f"{where}: {field_name} {value!r} is not valid: expected {expected}")
    return str(seconds)


def _priority(value: Any, where: str) -> str | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or not -(2**31) <= number <= 2**31 - 1:
        raise DefinitionError(f"{where}: task_priority {value!r} is not a 32-bit integer")
    return str(number)


def _common(func: Any, name: Any, version: Any, task_list: Any, codec: Any,
            description: Any) -> str:
    if not callable(func):
        raise DefinitionError(f"{func!r} is not callable: decorate a function taking (task)")
    where = f"{_where(func)} ({name!r} {version!r})"
    check_swf_name(name, "name", 256, where)
    check_swf_name(version, "version", 64, where)
    check_swf_name(task_list, "task_list", 256, where)
    if codec not in CODECS:
        raise DefinitionError(f"{where}: codec {codec!r} is not one of {', '.join(CODECS)}")
    if description is not None and (not isinstance(description, str) or len(description) > 1024):
        raise DefinitionError(f"{where}: description must be a string of at most 1024 characters")
    return where


def _copy_identity(definition: Any) -> None:
    """Let tools (pytest, docs, debuggers) see the handler through its definition."""
    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        if hasattr(definition.func, name):
            object.__setattr__(definition, name, getattr(definition.func, name))
    object.__setattr__(definition, "__wrapped__", definition.func)


def seconds_or_none(duration: str) -> float | None:
    """SWF duration string to seconds; ``None`` for "NONE"."""
    return None if duration == "NONE" else float(duration)


class _HandlerDef:
    """What activity and workflow definitions share: a key, a callable handler and
    a repr that says where the handler lives."""

    kind: ClassVar[str]
    func: Callable[[Any], Any]
    name: str
    version: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __post_init__(self) -> None:
        _copy_identity(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.version} ({_where(self.func)})>"


@dataclass(frozen=True, repr=False)
class ActivityDef(_HandlerDef):
    """An activity type: its handler and the defaults it is registered with."""

    func: Callable[[Any], Any]
    name: str
    version: str
    task_list: str = "default"
    heartbeat_timeout: str = "600"
    start_to_close_timeout: str = "3600"
    schedule_to_start_timeout: str = "300"
    schedule_to_close_timeout: str = "3900"
    task_priority: str | None = None
    description: str | None = None
    codec: str = "json"
    retry: Any = None  # a swfd.Retry: how async def workflows retry this activity

    kind: ClassVar[str] = "activity"


@dataclass(frozen=True, repr=False)
class WorkflowDef(_HandlerDef):
    """A workflow type: its decision logic and the defaults it is registered with."""

    func: Callable[[Any], Any]
    name: str
    version: str
    task_list: str = "default"
    execution_start_to_close_timeout: str = "3600"
    task_start_to_close_timeout: str = "300"
    child_policy: str = "TERMINATE"
    task_priority: str | None = None
    description: str | None = None
    codec: str = "json"

    kind: ClassVar[str] = "workflow"


def activity(
    name: str,
    version: str,
    task_list: str = "default",
    heartbeat_timeout: int | str | None = 600,
    start_to_close_timeout: int | str | None = 3600,
    schedule_to_start_timeout: int | str | None = 300,
    schedule_to_close_timeout: int | str | None = 3900,
    task_priority: int | None = None,
    description: str | None = None,
    codec: str = "json",
    retry: Any = None,
) -> Callable[[Callable[[Any], Any]], ActivityDef]:
    """Declare an activity handler: ``@swfd.activity("Resize", "1.0", task_list="images")``.

    The handler gets a task (``.input`` decoded per ``codec``, ``.heartbeat(details)``,
    ``.cancel_requested``) and returns the result. Timeouts are seconds or "NONE".
    ``retry`` (a ``swfd.Retry``) is how ``async def`` workflows retry it by default.
    """

    def decorate(func: Callable[[Any], Any]) -> ActivityDef:
        where = _common(func, name, version, task_list, codec, description)
        if retry is not None:
            from swfd.flow.retry import Retry

            if not isinstance(retry, Retry):
                raise DefinitionError(f"{where}: retry must be a swfd.Retry, got {retry!r:.60}")
        return ActivityDef(
            func=func,
            name=name,
            version=version,
            task_list=task_list,
            heartbeat_timeout=swf_duration(heartbeat_timeout, "heartbeat_timeout", where),
            start_to_close_timeout=swf_duration(
                start_to_close_timeout, "start_to_close_timeout", where
            ),
            schedule_to_start_timeout=swf_duration(
                schedule_to_start_timeout, "schedule_to_start_timeout", where
            ),
            schedule_to_close_timeout=swf_duration(
                schedule_to_close_timeout, "schedule_to_close_timeout", where
            ),
            task_priority=_priority(task_priority, where),
            description=description,
            codec=codec,
            retry=retry,
        )

    return decorate


def workflow(
    name: str,
    version: str,
    task_list: str = "default",
    execution_start_to_close_timeout: int | str = 3600,
    task_start_to_close_timeout: int | str | None = 300,
    child_policy: str = "TERMINATE",
    task_priority: int | None = None,
    description: str | None = None,
    codec: str = "json",
    continue_as_new_after: int = 10_000,
) -> Callable[[Callable[[Any], Any]], WorkflowDef]:
    """Declare decision logic: ``@swfd.workflow("Thumbnails", "1.0", task_list="images")``.

    The function gets a decision task (``.events``, ``.history``, ``.input``) and
    returns a ``swfd.Decisions``. The execution timeout cannot be "NONE" (SWF).

    An ``async def`` taking ``(wf, input)`` is a workflow written as code
    (``swfd.flow``): replayed from the history at every decision task.
    ``continue_as_new_after`` (events) sets when its
    ``wf.continue_as_new_suggested`` turns true.
    """

    def decorate(func: Callable[[Any], Any]) -> WorkflowDef:
        where = _common(func, name, version, task_list, codec, description)
        if inspect.iscoroutinefunction(func):
            from swfd.flow.adapter import FlowWorkflow

            if (isinstance(continue_as_new_after, bool) or not isinstance(
                    continue_as_new_after, int) or not 1 <= continue_as_new_after <= 25_000):
                raise DefinitionError(f"{where}: continue_as_new_after "
                                      f"{continue_as_new_after!r} must be 1 to 25000 events")
            func = FlowWorkflow(func, continue_as_new_after)
        if child_policy not in CHILD_POLICIES:
            raise DefinitionError(
                f"{where}: child_policy {child_policy!r} is not one of {', '.join(CHILD_POLICIES)}"
            )
        return WorkflowDef(
            func=func,
            name=name,
            version=version,
            task_list=task_list,
            execution_start_to_close_timeout=swf_duration(
                execution_start_to_close_timeout,
                "execution_start_to_close_timeout",
                where,
                allow_none=False,
            ),
            task_start_to_close_timeout=swf_duration(
                task_start_to_close_timeout, "task_start_to_close_timeout", where
            ),
            child_policy=child_policy,
            task_priority=_priority(task_priority, where),
            description=description,
            codec=codec,
        )

    return decorate


@dataclass
class Registry:
    """Every activity and workflow the loaded plugins provide.

    ``activities``/``workflows`` map ``(name, version)`` to definitions;
    ``plugin_of`` remembers which plugin gave each one (for error messages);
    ``pm`` is the pluggy manager, or ``None`` for a registry built by hand.
    """

    pm: Any = None
    activities: dict[tuple[str, str], ActivityDef] = field(default_factory=dict)
    workflows: dict[tuple[str, str], WorkflowDef] = field(default_factory=dict)
    plugin_of: dict[tuple[str, str, str], str] = field(default_factory=dict)

    @classmethod
    def from_defs(cls, defs: list[ActivityDef | WorkflowDef], plugin: str = "<direct>",
                  pm: Any = None) -> Registry:
        """A registry from definitions given directly (tests, embedding)."""
        registry = cls(pm=pm)
        for definition in defs:
            registry.add(definition, plugin)
        return registry

    def add(self, definition: ActivityDef | WorkflowDef, plugin: str) -> None:
        """Add one definition; the same (kind, name, version) from two places is an error."""
        if isinstance(definition, ActivityDef):
            table: dict[tuple[str, str], Any] = self.activities
        elif isinstance(definition, WorkflowDef):
            table = self.workflows
        else:
            raise DefinitionError(
                f"plugin {plugin!r} gave {definition!r}: expected a definition made with "
                "@swfd.activity or @swfd.workflow"
            )
        existing = table.get(definition.key)
        if existing is definition:
            return
        marker = (definition.kind, definition.name, definition.version)
        if existing is not None:
            raise DefinitionError(
                f"{definition.kind} type {definition.name!r} version {definition.version!r} "
                f"is defined twice: by plugin {self.plugin_of[marker]!r} ({_where(existing.func)})"
                f" and by plugin {plugin!r} ({_where(definition.func)})"
            )
        table[definition.key] = definition
        self.plugin_of[marker] = plugin

    def activity(self, name: str, version: str) -> ActivityDef | None:
        return self.activities.get((name, version))

    def workflow(self, name: str, version: str) -> WorkflowDef | None:
        return self.workflows.get((name, version))

    def activities_for(self, task_list: str) -> list[ActivityDef]:
        """Activities whose default task list is ``task_list``."""
        return [a for a in self.activities.values() if a.task_list == task_list]

    def workflows_for(self, task_list: str) -> list[WorkflowDef]:
        """Workflows whose default task list is ``task_list``."""
        return [w for w in self.workflows.values() if w.task_list == task_list]

    def describe(self) -> str:
        """One line listing every type, for logs and error details."""
        acts = ", ".join(f"{n} {v}" for n, v in sorted(self.activities)) or "none"
        wfs = ", ".join(f"{n} {v}" for n, v in sorted(self.workflows)) or "none"
        return f"activities: {acts}; workflows: {wfs}"


def pool_coverage(settings: Any, registry: Any) -> list[dict[str, Any]]:
    """Pools that poll a task list no loaded type has, and types no pool polls.

    Warnings, not errors: another host may poll the types, and a decider may
    schedule activities on other task lists. Each is ``{"detail": ..., **data}``.
    """
    found: list[dict[str, Any]] = []
    kinds = (("worker", "activity", registry.activities),
             ("decider", "workflow", registry.workflows))
    for kind, noun, defs in kinds:
        polled = {pool.task_list for pool in settings.pools_of(kind)}
        for pool in settings.pools_of(kind):
            if not any(d.task_list == pool.task_list for d in defs.values()):
                found.append({
                    "detail": f"[{pool.section}] polls task list {pool.task_list!r}, but no "
                              f"loaded plugin declares {_article(noun)} {noun} type on it",
                    "pool": pool.section, "taskList": pool.task_list,
                })
        for (name, version), definition in sorted(defs.items()):
            if definition.task_list not in polled:
                found.append({
                    "detail": f"{noun} type {name}/{version} uses task list "
                              f"{definition.task_list!r}, which no [{kind}:NAME] pool of this "
                              "config polls (fine if another host does)",
                    "type": {"kind": noun, "name": name, "version": version},
                    "taskList": definition.task_list,
                })
    return found


def _article(noun: str) -> str:
    return "an" if noun[:1] in "aeiou" else "a"
