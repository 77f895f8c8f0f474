"""The README's promises, checked: its test command is what CI runs, and its
"Write a plugin" section works as written: the plugin and its pyproject.toml
are pip-installed from the README's text, its INI is valid and serves the
plugin's task lists, and its `swfd start` command runs the workflow under a
real daemon."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from test_daemon_support import Daemon

from swfd.config import load

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PLUGIN_SECTION = README.split("## Write a plugin", 1)[1].split("\n## ", 1)[0]


def _shell_blocks(text: str = README) -> list[str]:
    return re.findall(r"```sh\n(.*?)\n```", text, flags=re.DOTALL)


def _block(language: str) -> str:
    """The first ``language`` block of the "Write a plugin" section."""
    return re.search(rf"```{language}\n(.*?)\n```", PLUGIN_SECTION, flags=re.DOTALL).group(1)


def test_readme_test_command_is_what_ci_runs():
    first, second = _shell_blocks()[:2]
    assert "swfd --config etc/swfd-local.ini" in first
    assert "pytest" in second
    assert second in (ROOT / ".ci" / "run").read_text()


def test_readme_first_command_uses_shipped_config_and_tutorial_plugin():
    first = _shell_blocks()[0]
    assert "-e plugins/tutorial" in first
    assert (ROOT / "etc" / "swfd-local.ini").read_text().count("plugins = tutorial") == 1


def _write_plugin_project(directory: Path) -> Path:
    """The README's plugin project, file by file as its layout shows."""
    project = directory / "my-plugin"
    code, toml = _block("python"), _block("toml")
    assert code.startswith("# my_plugin/__init__.py\n")
    assert toml.startswith("# pyproject.toml\n")
    (project / "my_plugin").mkdir(parents=True)
    (project / "my_plugin" / "__init__.py").write_text(code + "\n")
    (project / "pyproject.toml").write_text(toml + "\n")
    return project


def _pip_install_readme_plugin(tmp_path: Path) -> Path:
    """pip-install the README's project (a real build of its pyproject.toml) into a
    directory of its own, as `pip install` would into swfd's virtualenv."""
    project = _write_plugin_project(tmp_path)
    install = re.search(r"^\.venv/bin/pip install (.*)$", "\n".join(_shell_blocks(PLUGIN_SECTION)),
                        flags=re.MULTILINE).group(1)
    assert shlex.split(install) == ["-e", project.name]
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
         "--target", str(site), str(project)],
        capture_output=True, text=True, timeout=300, check=False, cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    return site


def _readme_config(directory: Path) -> Path:
    path = directory / "my-swfd.ini"
    path.write_text(_block("ini") + "\n")
    return path


def test_readme_plugin_config_is_valid_and_serves_both_task_lists(tmp_path):
    settings = load(_readme_config(tmp_path))
    assert settings.is_embedded and settings.plugins == ("my_plugin",)
    code = _block("python")
    declared = set(re.findall(r'task_list="([^"]+)"', code))
    assert declared == {"images"}
    for kind in ("decider", "worker"):
        assert {pool.task_list for pool in settings.pools_of(kind)} == declared, kind


def _pools_of_readme_config() -> str:
    """The README INI's [decider:...] and [worker:...] sections, keys as written."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(_block("ini"))
    return "".join(
        f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in parser[name].items())
        + "\n"
        for name in parser.sections() if name.startswith(("decider:", "worker:"))
    )


def test_readme_plugin_installs_from_its_pyproject_and_runs_under_the_daemon(tmp_path):
    site = _pip_install_readme_plugin(tmp_path)
    entry_points = next(site.glob("my_plugin-0.1.0.dist-info")) / "entry_points.txt"
    assert entry_points.read_text().split() == ["[swfd]", "my_plugin", "=", "my_plugin"]

    pythonpath = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    daemon = Daemon(tmp_path, _pools_of_readme_config(), plugins="my_plugin",
                    env={"PYTHONPATH": pythonpath})
    try:
        daemon.start().wait_ready()
        start = next(line for block in _shell_blocks(PLUGIN_SECTION)
                     for line in block.splitlines() if " start Thumbnails " in line)
        args = shlex.split(start)
        assert args[:3] == [".venv/bin/swfd", "--config", "my-swfd.ini"]
        done = subprocess.run(
            [sys.executable, "-m", "swfd.cli", "--config", str(daemon.config), *args[3:],
             "--timeout", "60"],
            env=daemon.env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr + daemon.text()
        closed = done.stdout.splitlines()[-1]
        assert closed == f"closed: COMPLETED result='{json.dumps({'width': 400})}'"
        assert closed in PLUGIN_SECTION  # what the README says it prints

        refused = subprocess.run(
            [sys.executable, "-m", "swfd.cli", "--config", str(daemon.config), "start",
             "Thumbnails", "--input", "width=800"],
            env=daemon.env, capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode == 2
        assert "is not valid JSON (codec 'json')" in refused.stderr
    finally:
        daemon.close()
