"""The scoreboard: where each pool child says what it is doing, for ``swfd status``.

One file per generation in the supervisor's state directory, mapped shared by
the generation and the children it forks: a fixed-size record per slot. A
child rewrites its own record when its state changes (polling, running a task,
draining) under a sequence counter that is odd while it writes, so a reader
never takes half a record. Nobody is woken and nothing is sent: writing costs a
memory copy, and the supervisor reads the file only when it is asked for
status. No payload is ever written: task ids and type names only.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import threading
import time
from typing import Any

RECORD_SIZE = 1024
_HEADER = struct.Struct("<II")  # sequence, payload length
_MAX_PAYLOAD = RECORD_SIZE - _HEADER.size
_READ_TRIES = 20


class Scoreboard:
    """``slots`` records in the file at ``path``; ``create`` in the generation (before
    it forks), ``open`` in the supervisor to read."""

    def __init__(self, path: str, memory: mmap.mmap, slots: int) -> None:
        self.path = path
        self.memory = memory
        self.slots = slots

    @classmethod
    def create(cls, path: str, slots: int) -> Scoreboard:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, slots * RECORD_SIZE)
            memory = mmap.mmap(fd, slots * RECORD_SIZE, mmap.MAP_SHARED)
        finally:
            os.close(fd)
        return cls(path, memory, slots)

    @classmethod
    def open(cls, path: str) -> Scoreboard:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            memory = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        return cls(path, memory, size // RECORD_SIZE)

    def write(self, index: int, record: dict[str, Any]) -> None:
        payload = json.dumps(record, separators=(",", ":"), default=str).encode()
        if len(payload) > _MAX_PAYLOAD:
            payload = json.dumps({k: record[k] for k in ("pid", "pool", "slot", "state")
                                  if k in record}).encode()
        base = index * RECORD_SIZE
        sequence, _ = _HEADER.unpack_from(self.memory, base)
        odd = (sequence + 1) | 1
        _HEADER.pack_into(self.memory, base, odd, 0)
        self.memory[base + _HEADER.size:base + _HEADER.size + len(payload)] = payload
        _HEADER.pack_into(self.memory, base, odd + 1, len(payload))

    def clear(self, index: int) -> None:
        base = index * RECORD_SIZE
        sequence, _ = _HEADER.unpack_from(self.memory, base)
        _HEADER.pack_into(self.memory, base, ((sequence + 1) | 1) + 1, 0)

    def read(self, index: int) -> dict[str, Any] | None:
        base = index * RECORD_SIZE
        for _ in range(_READ_TRIES):
            before, length = _HEADER.unpack_from(self.memory, base)
            if before % 2:
                time.sleep(0.0001)
                continue
            payload = bytes(self.memory[base + _HEADER.size:base + _HEADER.size + length])
            after, _ = _HEADER.unpack_from(self.memory, base)
            if after == before:
                if not length:
                    return None
                try:
                    return json.loads(payload)
                except ValueError:
                    return None
        return None

    def read_all(self) -> list[dict[str, Any]]:
        return [r for r in (self.read(i) for i in range(self.slots)) if r is not None]

    def close(self) -> None:
        self.memory.close()


class ScoreboardSlot:
    """A child's own record: ``update(**fields)`` merges and rewrites it now;
    ``stage(**fields)`` merges it for the next ``flush()`` (or ``update``).

    Why staging: an activity worker would otherwise rewrite its record twice per
    task (running, then back to polling with the count), ~12 us of a no-op task;
    it stages both and its heartbeat thread flushes within a tick (0.1 s), so a
    task shorter than a tick never shows as running. One lock orders the writes
    of the two threads (the record has one writer at a time, as the sequence
    counter requires).
    """

    def __init__(self, board: Scoreboard | None, index: int, **fields: Any) -> None:
        self.board = board
        self.index = index
        self.record: dict[str, Any] = dict(fields)
        self._lock = threading.Lock()
        self._staged = False

    def update(self, **fields: Any) -> None:
        with self._lock:
            self.record.update(fields)
            self._staged = False
            self._write()

    def stage(self, **fields: Any) -> None:
        with self._lock:
            self.record.update(fields)
            self._staged = True

    def flush(self) -> None:
        """Write what was staged since the last write, if anything."""
        if not self._staged:  # read without the lock: a stage racing it is seen next time
            return
        with self._lock:
            if self._staged:
                self._staged = False
                self._write()

    def _write(self) -> None:
        if self.board is not None:
            try:
                self.board.write(self.index, self.record)
            except (ValueError, OSError):  # a closed or foreign map: status is best effort
                self.board = None
