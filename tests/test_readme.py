"""The README's promises, checked: its test command is what CI runs, and its
"write a plugin" example runs under a real daemon, installed by entry point."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from test_daemon_support import TEST_PLUGINS, Daemon

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)\n```", README, flags=re.DOTALL)


def test_readme_test_command_is_what_ci_runs():
    first, second = _shell_blocks()[:2]
    assert "swfd --config etc/swfd-local.ini" in first
    assert "pytest" in second
    assert second in (ROOT / ".ci" / "run").read_text()


def test_readme_first_command_uses_shipped_config_and_tutorial_plugin():
    first = _shell_blocks()[0]
    assert "-e plugins/tutorial" in first
    assert (ROOT / "etc" / "swfd-local.ini").read_text().count("plugins = tutorial") == 1


def _install_readme_plugin(site: Path) -> None:
    """Write the README's plugin module and a dist-info carrying its entry point."""
    section = README.split("## Write a plugin", 1)[1]
    code = re.search(r"```python\n(.*?)\n```", section, flags=re.DOTALL).group(1)
    package = site / "my_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(code + "\n")
    toml = re.search(r"```toml\n(.*?)\n```", section, flags=re.DOTALL).group(1)
    name, target = re.search(r'^(\w+) = "(\w+)"$', toml, flags=re.MULTILINE).groups()
    dist = site / "my_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[swfd]\n{name} = {target}\n")


def test_readme_plugin_example_runs_under_the_daemon(tmp_path):
    site = tmp_path / "site"
    _install_readme_plugin(site)
    pools = (
        "[decider:images]\ntask_list = images\nprocesses = 1\n\n"
        "[worker:images]\ntask_list = images\nprocesses = 1\n"
    )
    pythonpath = os.pathsep.join(filter(None, [str(site), str(TEST_PLUGINS),
                                               os.environ.get("PYTHONPATH")]))
    daemon = Daemon(tmp_path, pools, plugins="my_plugin", env={"PYTHONPATH": pythonpath})
    try:
        daemon.start().wait_ready()
        execution = daemon.start_workflow("Thumbnails", "1.0", input={"width": 640})
        info = daemon.wait_closed(execution)
        assert info["closeStatus"] == "COMPLETED", daemon.event_types(execution)
        completed = daemon.history(execution)[-1]
        result = completed["workflowExecutionCompletedEventAttributes"]["result"]
        assert json.loads(result) == {"width": 320}
    finally:
        daemon.close()
