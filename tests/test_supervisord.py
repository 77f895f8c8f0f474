"""The shipped etc/supervisord.conf under a real supervisord: ``supervisorctl stop``
drains the daemon; and the shipped stop budgets exceed the drain budget."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

from test_daemon_support import ROOT, Daemon

from swfd.testing import wait_for

BIN = Path(sys.executable).parent
SHIPPED = ROOT / "etc" / "supervisord.conf"


def _ini(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",), strict=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(path)
    return parser


def test_shipped_stop_budgets_exceed_graceful_timeout():
    graceful = float(_ini(ROOT / "etc" / "swfd.ini")["swfd"]["graceful_timeout"])
    kill_grace = 5  # swfd.arbiter.respawn.Timing.kill_grace
    program = _ini(SHIPPED)["program:swfd"]
    assert program["stopsignal"] == "TERM"
    assert program["stopasgroup"] == "false" and program["killasgroup"] == "true"
    assert float(program["stopwaitsecs"]) >= graceful + kill_grace + 10
    unit = _ini(ROOT / "systemd" / "swfd.service")["Service"]
    assert float(unit["TimeoutStopSec"]) >= graceful + kill_grace + 10
    assert unit["Type"] == "notify" and unit["KillMode"] == "mixed"
    assert unit["RestartPreventExitStatus"] == "2"


def test_supervisorctl_stop_drains_the_daemon(tmp_path):
    d = Daemon(tmp_path, "[decider:test]\ntask_list = test\n\n[worker:test]\ntask_list = test\n")
    (tmp_path / "log").mkdir()
    conf = tmp_path / "supervisord.conf"
    text = SHIPPED.read_text()
    for old, new in [
        ("/run/swfd-supervisor.sock", str(tmp_path / "sup.sock")),
        ("/run/swfd-supervisord.pid", str(tmp_path / "supervisord.pid")),
        ("/var/log/swfd", str(tmp_path / "log")),
        ("/usr/local/bin/swfd", str(BIN / "swfd")),
        ("/etc/swfd.ini", str(d.config)),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    text = re.sub(r"(?m)^nodaemon = false$", "nodaemon = true", text)
    conf.write_text(text)
    d.log = tmp_path / "log" / "swfd.log"
    env = {k: v for k, v in d.env.items() if k != "NOTIFY_SOCKET"}

    def ctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "supervisorctl"), "-c", str(conf), *args],
                              capture_output=True, text=True, timeout=120, check=False, env=env)

    supervisord = subprocess.Popen([str(BIN / "supervisord"), "-c", str(conf)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   cwd=str(tmp_path))
    try:
        wait_for(lambda: "swfd ready" in d.text(), 60, message="the daemon under supervisord")
        wait_for(lambda: "RUNNING" in ctl("status", "swfd").stdout, 30,
                 message="supervisord's startsecs")
        hup = ctl("signal", "HUP", "swfd")  # the reload line in the shipped comments
        assert hup.returncode == 0, hup
        wait_for(lambda: "generation 2 serves; generation 1 drains" in d.text(), 60,
                 message="a reload under supervisord")
        assert "RUNNING" in ctl("status", "swfd").stdout
        run = d.start_workflow(input={"activity": "Sleep", "input": {"seconds": 3}})
        wait_for(lambda: d.count(run, "ActivityTaskStarted") == 1, 30, message="task in hand")
        stopped = ctl("stop", "swfd")
        assert stopped.returncode == 0 and "swfd: stopped" in stopped.stdout, stopped
        assert "SIGTERM: draining" in d.text()
        assert "swfd supervisor exiting with code 0" in d.text()
        assert "STOPPED" in ctl("status", "swfd").stdout
        d.reopen()
        types = d.event_types(run)
        assert types.count("ActivityTaskCompleted") == 1
        assert "ActivityTaskFailed" not in types and "ActivityTaskTimedOut" not in types
        ctl("shutdown")
        supervisord.wait(30)
    finally:
        if supervisord.poll() is None:
            ctl("shutdown")  # stops swfd too; a bare kill would orphan it
            try:
                supervisord.wait(30)
            except subprocess.TimeoutExpired:
                supervisord.kill()
                supervisord.wait(10)
        d.close()  # kills whatever of the daemon is left, by the pids its log names
