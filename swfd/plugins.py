"""The plugin manager: find, import and validate plugins, then build the Registry.

Shaped like tox's manager: add the hookspecs, load entry points of the
``swfd`` group (only the allowlisted ones when ``plugins =`` is set), register
modules given directly, ``check_pending()``, then ask every plugin for its
definitions. Everything that can be wrong with a plugin is reported here, in
the master, before any fork, as a :class:`~swfd.errors.PluginError` naming
the plugin, its entry point and the error; the error's traceback is logged at
DEBUG (``log_level = DEBUG``, ``swfd check -v``).

Environment:

``SWFD_DISABLE_PLUGIN_AUTOLOAD=1``
    do not load *every* installed plugin when no allowlist is given (the test
    suite sets it). Plugins named explicitly (an allowlist, ``SWFD_PLUGINS``,
    ``modules=``) still load, as with pytest's ``-p`` under
    ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``.
``SWFD_PLUGINS=package.module,other.module``
    also register these modules as plugins (by import path, no entry point).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from swfd import hookspecs
from swfd.errors import DefinitionError, PluginError
from swfd.registry import Registry

ENTRY_POINT_GROUP = "swfd"
ENV_DISABLE_AUTOLOAD = "SWFD_DISABLE_PLUGIN_AUTOLOAD"
ENV_PLUGINS = "SWFD_PLUGINS"

log = logging.getLogger(__name__)


def installed_entry_points() -> dict[str, metadata.EntryPoint]:
    """The ``swfd`` entry points visible on sys.path, by name (first one wins)."""
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def _autoload_disabled() -> bool:
    return os.environ.get(ENV_DISABLE_AUTOLOAD, "").strip().lower() not in ("", "0", "false", "no")


def _describe_ep(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    origin = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point {ep.name} = {ep.value!r}{origin}"


def _load_entry_point(ep: metadata.EntryPoint) -> Any:
    try:
        return ep.load()
    except Exception as exc:  # whatever a plugin raises is reported by name
        log.debug("swfd plugin %r (%s) failed to load", ep.name, _describe_ep(ep), exc_info=True)
        raise PluginError(
            f"swfd plugin {ep.name!r} failed to load ({_describe_ep(ep)}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _import_module(path: str, origin: str) -> ModuleType:
    try:
        return importlib.import_module(path)
    except Exception as exc:
        log.debug("swfd plugin module %r (from %s) failed to import", path, origin,
                  exc_info=True)
        raise PluginError(
            f"swfd plugin module {path!r} (from {origin}) failed to import: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _allowlist_of(source: Any) -> tuple[str, ...] | None:
    if source is None:
        return None
    if isinstance(source, str):
        return tuple(name.strip() for name in source.split(",") if name.strip())
    if hasattr(source, "plugins"):  # swfd.config.Settings
        return None if source.plugins is None else tuple(source.plugins)
    return tuple(source)


def _register(pm: pluggy.PluginManager, plugin: Any, name: str, origin: str) -> None:
    if pm.is_registered(plugin):
        return
    if pm.get_plugin(name) is not None:
        raise PluginError(f"two swfd plugins are named {name!r} (the second from {origin})")
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"swfd plugin {name!r} ({origin}) is invalid: {exc}") from exc


def load_plugins(
    settings_or_allowlist: Any = None,
    *,
    modules: Iterable[ModuleType | str] = (),
) -> Registry:
    """Load plugins and return the Registry of their activities and workflows.

    ``settings_or_allowlist``: a :class:`swfd.config.Settings` (its ``plugins``
    is the allowlist, ``None`` meaning every installed plugin), an iterable or
    comma-separated string of entry-point names, or ``None``. ``modules``:
    plugin modules (or import paths) to register without an entry point.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    settings = settings_or_allowlist if hasattr(settings_or_allowlist, "plugins") else None
    allowlist = _allowlist_of(settings_or_allowlist)

    available = installed_entry_points()
    if allowlist is None:
        chosen = [] if _autoload_disabled() else list(available.values())
    else:
        missing = [name for name in allowlist if name not in available]
        if missing:
            installed = ", ".join(sorted(available)) or "none"
            raise PluginError(
                f"swfd plugin(s) {', '.join(map(repr, missing))} listed in 'plugins =' "
                f"are not installed (no entry point in group {ENTRY_POINT_GROUP!r}); "
                f"installed swfd plugins: {installed}"
            )
        chosen = [available[name] for name in dict.fromkeys(allowlist)]
    for ep in chosen:
        _register(pm, _load_entry_point(ep), ep.name, _describe_ep(ep))

    env_paths = [p.strip() for p in os.environ.get(ENV_PLUGINS, "").split(",") if p.strip()]
    for path in env_paths:
        _register(pm, _import_module(path, ENV_PLUGINS), path, f"{ENV_PLUGINS}={path}")
    for module in modules:
        if isinstance(module, str):
            module = _import_module(module, "modules=")
        _register(pm, module, module.__name__, f"module {module.__name__}")

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            f"swfd plugin {exc.plugin!r} implements a hook swfd does not have: {exc}"
        ) from exc

    if settings is not None:
        _call_each(pm, "swfd_configure", settings=settings)
    registry = Registry(pm=pm)
    for hook in ("swfd_activities", "swfd_workflows"):
        for plugin_name, returned in _call_each(pm, hook):
            _collect(registry, plugin_name, hook, returned)
    log.debug("swfd plugins loaded: %s; %s", ", ".join(pm_names(pm)) or "none",
              registry.describe())
    return registry


def pm_names(pm: pluggy.PluginManager) -> list[str]:
    """Names of the registered plugins (the hookspec module excluded)."""
    return [name for name, _ in pm.list_name_plugin() if name and _ is not hookspecs]


def _call_each(pm: pluggy.PluginManager, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call each implementation of ``hook`` separately, so results and errors are attributed."""
    results = []
    for impl in getattr(pm.hook, hook).get_hookimpls():
        try:
            results.append((impl.plugin_name, impl.function(**kwargs)))
        except Exception as exc:
            log.debug("swfd plugin %r: %s() raised", impl.plugin_name, hook, exc_info=True)
            raise PluginError(
                f"swfd plugin {impl.plugin_name!r}: {hook}() raised {type(exc).__name__}: {exc}"
            ) from exc
    return results


def _collect(registry: Registry, plugin_name: str, hook: str, returned: Any) -> None:
    if returned is None:
        return
    if not isinstance(returned, (list, tuple)):
        raise PluginError(
            f"swfd plugin {plugin_name!r}: {hook}() returned {type(returned).__name__}, "
            "expected a list of definitions"
        )
    wanted = "activity" if hook == "swfd_activities" else "workflow"
    for item in returned:
        if getattr(item, "kind", None) != wanted:
            raise PluginError(
                f"swfd plugin {plugin_name!r}: {hook}() returned {item!r}; expected "
                f"definitions made with @swfd.{wanted}"
            )
        try:
            registry.add(item, plugin_name)
        except DefinitionError as exc:
            raise PluginError(str(exc)) from exc
