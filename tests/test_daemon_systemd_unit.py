"""The shipped systemd unit passes ``systemd-analyze verify`` (where systemd is installed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_daemon_support import ROOT


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_shipped_unit_verifies(tmp_path):
    unit = (ROOT / "systemd" / "swfd.service").read_text()
    assert "ExecStart=/usr/local/bin/swfd --config /etc/swfd.ini" in unit
    assert "ExecReload=/usr/local/bin/swfd --config /etc/swfd.ini reload --wait" in unit
    assert "WatchdogSec=30" in unit and "Type=notify" in unit
    # verify checks that ExecStart exists: point it at this checkout's swfd
    copy = tmp_path / "swfd.service"
    copy.write_text(unit.replace("/usr/local/bin/swfd", str(Path(sys.executable).parent / "swfd")))
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and "swfd.service" not in done.stderr, done.stderr
