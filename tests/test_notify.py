"""sd_notify over a real unix datagram socket, path and abstract."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from swfd.notify import Notifier


@pytest.fixture(params=["path", "abstract"])
def listener(request, tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        address = str(tmp_path / "notify.sock")
        sock.bind(address)
    else:
        name = f"swfd-test-{uuid.uuid4().hex}"
        sock.bind("\0" + name)
        address = "@" + name
    sock.settimeout(5)
    yield address, sock
    sock.close()


def test_ready_status_stopping_reach_the_socket(listener):
    address, sock = listener
    notifier = Notifier(address)
    assert notifier.ready("1 worker running")
    assert sock.recv(4096).decode().split("\n") == [
        "READY=1", f"MAINPID={os.getpid()}", "STATUS=1 worker running",
    ]
    assert notifier.status("2 workers running")
    assert sock.recv(4096) == b"STATUS=2 workers running"
    assert not notifier.status("2 workers running")  # unchanged: not resent
    assert notifier.stopping("draining")
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=draining"


def test_reads_and_unsets_notify_socket(listener, monkeypatch):
    address, sock = listener
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    notifier = Notifier()
    assert "NOTIFY_SOCKET" not in os.environ  # children must not inherit it
    assert notifier.enabled and notifier.send("STATUS=x")
    assert sock.recv(4096) == b"STATUS=x"


def test_noop_without_notify_socket(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert not notifier.ready("x") and not notifier.status("y") and not notifier.stopping()


def test_unreachable_socket_is_logged_not_raised(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "nobody-listens"))
    assert not notifier.ready()
    assert "sd_notify to" in caplog.text


def test_a_reader_that_falls_behind_never_blocks_the_sender(listener):
    address, sock = listener
    notifier = Notifier(address)
    results = [notifier.send(f"STATUS={n}") for n in range(500)]
    assert results[0] and not all(results)  # the queue filled up; nothing blocked
    assert sock.recv(4096) == b"STATUS=0"
