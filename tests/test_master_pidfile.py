"""The pidfile: exclusive while a swfd lives, taken over when stale, removed only if ours."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from swfd.pidfile import Pidfile, PidfileError
from swfd.pidfile import holder as pidfile_holder
from swfd.testing import wait_for


def test_create_and_remove(tmp_path):
    path = tmp_path / "run" / "swfd.pid"
    pidfile = Pidfile(str(path))
    pidfile.create(pid=12345)
    assert path.read_text() == "12345\n"
    pidfile.remove()
    assert not path.exists()


_HOLD = """
import sys, time
from swfd.pidfile import Pidfile
Pidfile(sys.argv[1]).create()
print("held", flush=True)
time.sleep(60)
"""


def test_live_swfd_holds_it(tmp_path):
    path = tmp_path / "swfd.pid"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert pidfile_holder(str(path)) == holder.pid
        with pytest.raises(PidfileError, match=f"held by a running swfd \\(pid {holder.pid}\\)"):
            Pidfile(str(path)).create()
        assert path.read_text() == f"{holder.pid}\n"
        holder.kill()
        holder.wait()
        assert pidfile_holder(str(path)) is None  # the lock died with its holder
        Pidfile(str(path)).create(pid=4242)
        assert path.read_text() == "4242\n"
    finally:
        holder.kill()
        holder.wait()


def test_stale_pid_and_pid_of_another_program_are_taken_over(tmp_path):
    """Whatever the file names (a dead pid, a live program whose command line says
    swfd, our own parent), an unlocked pidfile is stale."""
    path = tmp_path / "swfd" / "swfd.pid"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "swfd"])
    try:
        wait_for(lambda: b"swfd" in Path(f"/proc/{other.pid}/cmdline").read_bytes(), 10,
                 message="the other program's exec")
        for pid in (gone.pid, other.pid, os.getppid()):
            path.parent.mkdir(exist_ok=True)
            path.write_text(f"{pid}\n")
            pidfile = Pidfile(str(path))
            pidfile.create(pid=4242)
            assert path.read_text() == "4242\n"
            pidfile.remove()
    finally:
        other.kill()
        other.wait()


def test_remove_leaves_a_successors_file(tmp_path):
    path = tmp_path / "swfd.pid"
    pidfile = Pidfile(str(path))
    pidfile.create(pid=111)
    path.write_text("222\n")
    pidfile.remove()
    assert path.read_text() == "222\n"


def test_unwritable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PidfileError, match="pidfile .*file/swfd.pid"):
        Pidfile(str(blocker / "swfd.pid")).create()
