"""Plugin loading through real entry points (a dist-info on sys.path) and by module."""

from __future__ import annotations

import logging
import os
import sys
import textwrap
import uuid

import pytest

from swfd import plugins
from swfd.errors import PluginError

GOOD = """
import swfd

@swfd.activity("{prefix}Act", "1.0", task_list="t")
def act(task):
    return task.input

@swfd.workflow("{prefix}Flow", "1.0")
def flow(task):
    return []

@swfd.hookimpl
def swfd_activities():
    return [act]

@swfd.hookimpl
def swfd_workflows():
    return [flow]
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A directory on sys.path where tests install plugin modules with entry points."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)
    created = []

    def install(ep_name: str, source: str, module: str | None = None) -> str:
        module = module or f"swfdtest_{uuid.uuid4().hex[:8]}"
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        dist = root / f"{module}-0.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
        (dist / "entry_points.txt").write_text(f"[swfd]\n{ep_name} = {module}\n")
        created.append(module)
        return module

    yield install
    for name in set(sys.modules) - before:
        sys.modules.pop(name, None)


def test_allowlisted_entry_point_is_loaded_into_the_registry(site):
    site("good", GOOD.format(prefix="Good"))
    registry = plugins.load_plugins(["good"])
    assert list(registry.activities) == [("GoodAct", "1.0")]
    assert list(registry.workflows) == [("GoodFlow", "1.0")]
    assert registry.plugin_of[("activity", "GoodAct", "1.0")] == "good"
    assert registry.pm.get_plugin("good") is not None


def test_allowlist_loads_only_what_it_names(site):
    site("one", GOOD.format(prefix="One"))
    site("two", GOOD.format(prefix="Two"))
    registry = plugins.load_plugins("two")
    assert list(registry.activities) == [("TwoAct", "1.0")]


def test_autoload_loads_every_installed_plugin_unless_disabled(site, monkeypatch):
    site("auto", GOOD.format(prefix="Auto"))
    monkeypatch.setenv("SWFD_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert plugins.load_plugins(None).activities == {}
    monkeypatch.setenv("SWFD_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert ("AutoAct", "1.0") in plugins.load_plugins(None).activities


def test_settings_object_supplies_the_allowlist(site):
    site("fromsettings", GOOD.format(prefix="Set"))

    class FakeSettings:  # only .plugins is read before swfd_configure
        plugins = ("fromsettings",)

    assert ("SetAct", "1.0") in plugins.load_plugins(FakeSettings()).activities


def test_swfd_configure_receives_the_settings(site):
    module = site("conf", """
        import swfd
        SEEN = []
        @swfd.hookimpl
        def swfd_configure(settings):
            SEEN.append(settings)
    """)

    class FakeSettings:
        plugins = ("conf",)

    settings = FakeSettings()
    plugins.load_plugins(settings)
    assert sys.modules[module].SEEN == [settings]


def test_plugin_that_fails_to_import_is_named_with_entry_point_and_error(site):
    module = site("broken", "import swfd\nraise RuntimeError('database url missing')\n")
    with pytest.raises(PluginError) as info:
        plugins.load_plugins(["broken"])
    message = str(info.value)
    assert "'broken'" in message
    assert f"broken = '{module}'" in message
    assert "RuntimeError: database url missing" in message


def test_import_failure_traceback_is_logged_at_debug_only(site, caplog):
    module = site("broken", "import swfd\n\ndef connect():\n    raise RuntimeError('no db')\n"
                            "\nconnect()\n")
    caplog.set_level(logging.INFO, logger="swfd.plugins")
    with pytest.raises(PluginError):
        plugins.load_plugins(["broken"])
    assert not caplog.records
    caplog.set_level(logging.DEBUG, logger="swfd.plugins")
    sys.modules.pop(module, None)
    with pytest.raises(PluginError):
        plugins.load_plugins(["broken"])
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.levelno == logging.DEBUG
    assert "'broken'" in record.getMessage() and module in record.getMessage()
    text = caplog.text
    assert "Traceback (most recent call last)" in text
    assert f"{module}.py\", line 4, in connect" in text


def test_allowlisted_plugin_not_installed_lists_what_is(site):
    site("present", GOOD.format(prefix="P"))
    with pytest.raises(PluginError) as info:
        plugins.load_plugins(["absent"])
    assert "'absent'" in str(info.value)
    assert "present" in str(info.value.args[0].split("installed swfd plugins:")[1])


def test_same_type_from_two_plugins_names_both(site):
    site("first", GOOD.format(prefix="Dup"))
    site("second", GOOD.format(prefix="Dup"))
    with pytest.raises(PluginError) as info:
        plugins.load_plugins(["first", "second"])
    assert "'first'" in str(info.value) and "'second'" in str(info.value)
    assert "DupAct" in str(info.value)


def test_unknown_hook_name_is_rejected_by_check_pending(site):
    site("typo", "import swfd\n@swfd.hookimpl\ndef swfd_activites():\n    return []\n")
    with pytest.raises(PluginError, match="swfd_activites"):
        plugins.load_plugins(["typo"])


def test_hook_returning_plain_functions_is_reported(site):
    site("plain", "import swfd\ndef f(task):\n    pass\n@swfd.hookimpl\n"
                  "def swfd_activities():\n    return [f]\n")
    with pytest.raises(PluginError, match=r"plugin 'plain'.*@swfd.activity"):
        plugins.load_plugins(["plain"])


def test_hook_that_raises_is_reported_by_plugin(site):
    site("raiser", "import swfd\n@swfd.hookimpl\ndef swfd_workflows():\n"
                   "    raise KeyError('x')\n")
    with pytest.raises(PluginError, match=r"plugin 'raiser': swfd_workflows\(\) raised KeyError"):
        plugins.load_plugins(["raiser"])


def test_modules_can_be_registered_directly_and_through_the_environment(site, monkeypatch):
    direct = site("unused1", GOOD.format(prefix="Direct"))
    from_env = site("unused2", GOOD.format(prefix="Env"))
    monkeypatch.setenv("SWFD_PLUGINS", f" {from_env} ,")
    registry = plugins.load_plugins([], modules=[direct])
    assert set(registry.activities) == {("DirectAct", "1.0"), ("EnvAct", "1.0")}


def test_module_path_that_fails_to_import_is_reported(monkeypatch):
    monkeypatch.setenv("SWFD_PLUGINS", "no_such_swfd_plugin_module")
    with pytest.raises(PluginError, match="'no_such_swfd_plugin_module' .*SWFD_PLUGINS"):
        plugins.load_plugins([])


TESTPLUGINS = os.path.join(os.path.dirname(__file__), "plugins")


def test_internal_test_plugin_loads_by_module_path(monkeypatch):
    monkeypatch.syspath_prepend(TESTPLUGINS)
    registry = plugins.load_plugins([], modules=["swfd_testplugin"])
    assert ("Raise", "1") in registry.activities
    assert ("RunActivity", "1") in registry.workflows


def test_internal_test_plugin_loads_by_entry_point_name(monkeypatch):
    monkeypatch.syspath_prepend(TESTPLUGINS)
    registry = plugins.load_plugins(["testplugin"])
    assert ("Flaky", "1") in registry.workflows
    assert registry.pm.get_plugin("testplugin").__name__ == "swfd_testplugin"


def test_every_hookspec_says_when_it_is_called_and_what_its_return_means():
    import inspect

    from swfd import hookspecs

    specs = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
             if name.startswith("swfd_")]
    assert {f.__name__ for f in specs} >= {"swfd_activities", "swfd_workflows",
                                           "swfd_worker_init", "swfd_configure"}
    for spec in specs:
        doc = inspect.getdoc(spec) or ""
        assert "Called" in doc and ("Return" in doc or "return value" in doc), spec.__name__
