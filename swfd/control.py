"""The supervisor's control socket: a Unix socket, owner only, one JSON request a connection.

``swfd --config F reload --wait`` (systemd's ``ExecReload``) asks the running
supervisor for a reload and waits for its outcome; later commands (status)
use the same channel. A request is one JSON object on one line; the answer
is one JSON object on one line, sent when it is known (a reload's answer
comes when the new generation serves, or has failed).

The socket lives next to the pidfile (``[swfd] control_socket`` to move it),
mode 0600: whoever can use it can reload the daemon. Paths longer than a
Unix socket address allows (108 bytes) are reached through the directory's
``/proc/self/fd`` entry.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from typing import Any

MAX_REQUEST = 4096


class ControlError(Exception):
    """No daemon answers on the control socket (or it answered nonsense)."""


@contextlib.contextmanager
def _short_path(path: str) -> Iterator[str]:
    """``path`` itself, or an equivalent short one through an open directory fd."""
    if len(os.fsencode(path)) < 100:
        yield path
        return
    directory = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
    try:
        yield f"/proc/self/fd/{directory}/{os.path.basename(path)}"
    finally:
        os.close(directory)


class ControlServer:
    """The supervisor's end: ``fileno()`` for its select loop, then ``accept()``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock: socket.socket | None = None

    def open(self) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        try:
            os.unlink(self.path)  # the pidfile lock says no other supervisor lives
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            with _short_path(self.path) as short:
                sock.bind(short)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(16)
        sock.setblocking(False)
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock else -1

    def accept(self) -> tuple[socket.socket, dict[str, Any]] | None:
        """One waiting connection and its request, or None (nothing there, or garbage)."""
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        conn.settimeout(1.0)  # the owner's own CLI: a request arrives at once
        try:
            data = b""
            while not data.endswith(b"\n") and len(data) < MAX_REQUEST:
                chunk = conn.recv(MAX_REQUEST)
                if not chunk:
                    break
                data += chunk
            request = json.loads(data)
            if not isinstance(request, dict) or not isinstance(request.get("command"), str):
                raise TypeError("not a command")
        except (OSError, ValueError, TypeError):
            answer(conn, {"ok": False, "error": "expected one JSON object with a command"})
            return None
        return conn, request

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def answer(conn: socket.socket, reply: dict[str, Any]) -> None:
    """Send the reply and close; a client that left gets nothing, and nothing breaks."""
    try:
        conn.settimeout(1.0)
        conn.sendall(json.dumps(reply).encode() + b"\n")
    except OSError:
        pass
    finally:
        conn.close()


def request(path: str, command: str, timeout: float, **fields: Any) -> dict[str, Any]:
    """Send one command to the supervisor at ``path`` and return its reply."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            with _short_path(path) as short:
                sock.connect(short)
        except OSError as exc:
            raise ControlError(f"no swfd answers on {path}: {exc.strerror or exc}") from exc
        sock.sendall(json.dumps({"command": command, **fields}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout as exc:
        raise ControlError(f"swfd on {path} did not answer within {timeout:g} s") from exc
    finally:
        sock.close()
    try:
        reply = json.loads(data)
    except ValueError as exc:
        raise ControlError(f"swfd on {path} closed the connection without an answer") from exc
    if not isinstance(reply, dict):
        raise ControlError(f"swfd on {path} answered {reply!r}")
    return reply
