"""The deterministic loop a workflow coroutine runs on: futures, tasks, gather, wait.

Why not asyncio: asyncio's loop reads the wall clock, runs callbacks from
I/O and its ready queue in an order that depends on timing, and lets a
workflow await anything. A replayed workflow must take the same path every
time it runs against the same history, so swfd drives the coroutine by hand:
a :class:`Future` is resolved only by an event delivered from the history (or
by another task), and the :class:`Loop` runs ready tasks in the order they
became ready until none is. Nothing here knows about SWF.
"""

from __future__ import annotations

import contextlib
import itertools
from asyncio import CancelledError
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Iterator
from typing import Any

__all__ = ["CancelledError", "Future", "Loop", "Task", "current_loop", "gather", "wait"]

_PENDING, _DONE, _CANCELLED = "pending", "done", "cancelled"
_CURRENT: list[Loop] = []
_FOREIGN_AWAIT = ("swfd's deterministic loop runs a workflow: await only what the workflow "
                  "context returns, swfd.gather and swfd.wait (not asyncio.sleep, "
                  "asyncio.gather or I/O; use wf.sleep)")


def current_loop() -> Loop:
    """The loop running the workflow now (a workflow helper called outside one is a bug)."""
    if not _CURRENT:
        raise RuntimeError("no swfd workflow is running: swfd.gather/swfd.wait and the "
                           "workflow context work only inside an async def workflow")
    return _CURRENT[-1]


class Future:
    """A value that will be there later; ``await`` it inside a workflow.

    ``on_cancel`` (set by whoever made the future) issues what cancelling it means
    in SWF, e.g. a RequestCancelActivityTask decision.
    """

    _order = itertools.count(1)

    def __init__(self, what: str = "future") -> None:
        self.what = what
        self.state = _PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[Future], None]] = []
        self.on_cancel: Callable[[], None] | None = None
        self.resolved_order = 0  # which future was resolved first (swfd.wait's FIRST_COMPLETED)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.what} {self.state}>"

    def done(self) -> bool:
        return self.state != _PENDING

    def cancelled(self) -> bool:
        return self.state == _CANCELLED

    def result(self) -> Any:
        if self.state == _CANCELLED:
            raise CancelledError(self.what)
        if self.state == _PENDING:
            raise RuntimeError(f"{self.what} is not done yet")
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self) -> BaseException | None:
        if self.state == _CANCELLED:
            raise CancelledError(self.what)
        return self._exception

    def set_result(self, value: Any) -> None:
        if self.state == _PENDING:
            self._result = value
            self._finish(_DONE)

    def set_exception(self, exc: BaseException) -> None:
        if self.state == _PENDING:
            self._exception = exc
            self._finish(_DONE)

    def cancel(self) -> bool:
        """Cancel: issue the SWF side of it (``on_cancel``), then wake the awaiters."""
        if self.state != _PENDING:
            return False
        if self.on_cancel is not None:
            self.on_cancel()
        self._finish(_CANCELLED)
        return True

    def add_done_callback(self, callback: Callable[[Future], None]) -> None:
        if self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def _finish(self, state: str) -> None:
        self.state = state
        self.resolved_order = next(Future._order)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __await__(self) -> Generator[Future, None, Any]:
        if not self.done():
            yield self
        return self.result()


class Task(Future):
    """A coroutine run by the loop; it is itself a future of the coroutine's outcome.

    Cancelling a task cancels what it is waiting for (an activity, a timer, a child,
    another task), so ``CancelledError`` is raised at its ``await`` and cancelling
    reaches SWF; the coroutine may catch it and clean up.
    """

    def __init__(self, loop: Loop, coro: Coroutine[Any, Any, Any], what: str) -> None:
        super().__init__(what)
        self.loop = loop
        self.coro = coro
        self.waiting_on: Future | None = None
        self._throw: BaseException | None = None
        self._cancel_requested = False

    def _finish(self, state: str) -> None:
        self.loop.tasks.pop(self, None)
        super()._finish(state)

    def cancel(self) -> bool:
        if self.done():
            return False
        self._cancel_requested = True
        target = self.waiting_on
        if target is not None and not target.done():
            target.cancel()  # wakes this task with CancelledError via its callback
        elif target is None:
            self._throw = CancelledError(self.what)
            self.loop.ready(self)
        return True

    def step(self) -> None:
        """Run the coroutine until it awaits something not yet done, or ends."""
        if self.done():
            return
        value, error = None, None
        target, self.waiting_on = self.waiting_on, None
        if self._throw is not None:
            error, self._throw = self._throw, None
        elif target is not None:
            if target.cancelled():
                error = CancelledError(target.what)
            elif target.exception() is not None:
                error = target.exception()
            else:
                value = target.result()
        if isinstance(error, CancelledError):
            self._cancel_requested = False  # delivered: the coroutine may go on (clean up)
        self.loop.running = self
        try:
            awaited = self.coro.throw(error) if error is not None else self.coro.send(value)
        except StopIteration as stop:
            self.set_result(stop.value)
            return
        except CancelledError:
            super().cancel()
            return
        except RuntimeError as exc:
            if "event loop" in str(exc):  # asyncio.sleep() and friends look for theirs
                exc = TypeError(f"{exc}: {_FOREIGN_AWAIT}")
            self.set_exception(exc)
            return
        except BaseException as exc:  # noqa: BLE001 - the task's outcome, re-raised to awaiters
            self.set_exception(exc)
            return
        finally:
            self.loop.running = None
        if awaited is None:  # a bare yield (asyncio.sleep(0)): let others run first
            self.loop.ready(self)
            return
        if not isinstance(awaited, Future):
            self.coro.close()
            self.set_exception(TypeError(f"workflow code awaited {awaited!r}: {_FOREIGN_AWAIT}"))
            return
        self.waiting_on = awaited
        if self._cancel_requested and not awaited.done():
            awaited.cancel()
        awaited.add_done_callback(lambda _f: self.loop.ready(self))


class Loop:
    """Runs ready tasks in the order they became ready, until none is."""

    MAX_STEPS = 1_000_000  # a workflow spinning on bare yields is a bug, not a long decision

    def __init__(self) -> None:
        self._ready: deque[Task] = deque()
        # Tasks not done, in creation order (a dict: one done leaves in O(1), so a
        # workflow kept between decision tasks holds only its open tasks).
        self.tasks: dict[Task, None] = {}
        self.running: Task | None = None

    def create_task(self, coro: Coroutine[Any, Any, Any] | Awaitable[Any], what: str = "task"
                    ) -> Future:
        """Run ``coro`` as a task; a future is returned unchanged."""
        if isinstance(coro, Future):
            return coro
        if not isinstance(coro, Coroutine):
            coro = _await(coro)
        task = Task(self, coro, what)
        self.tasks[task] = None
        self.ready(task)
        return task

    def ready(self, task: Task) -> None:
        self._ready.append(task)

    @contextlib.contextmanager
    def entered(self) -> Iterator[Loop]:
        """The loop the workflow helpers (``swfd.gather``, ``swfd.wait``) reach meanwhile."""
        _CURRENT.append(self)
        try:
            yield self
        finally:
            _CURRENT.pop()

    def run_until_blocked(self) -> None:
        with self.entered():
            for _ in range(self.MAX_STEPS):
                if not self._ready:
                    return
                self._ready.popleft().step()
            raise RuntimeError(f"the workflow ran {self.MAX_STEPS} steps without waiting on "
                               "SWF: a loop that never awaits an activity, timer or signal?")


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _futures(awaitables: Iterable[Awaitable[Any]]) -> list[Future]:
    loop = current_loop()
    return [loop.create_task(a, "gathered") for a in awaitables]


def gather(*awaitables: Awaitable[Any], return_exceptions: bool = False) -> Future:
    """Wait for all; results in argument order. The first failure is raised at once
    (the others keep running) unless ``return_exceptions``, as in ``asyncio.gather``."""
    children = _futures(awaitables)
    outer = Future("gather")
    remaining = [len(children)]

    def one_done(child: Future) -> None:
        if outer.done():
            return
        if not return_exceptions:
            if child.cancelled():
                outer.set_exception(CancelledError(child.what))
                return
            if child.exception() is not None:
                outer.set_exception(child.exception())  # type: ignore[arg-type]
                return
        remaining[0] -= 1
        if remaining[0] == 0:
            outer.set_result([_outcome(c) for c in children])

    def cancel_children() -> None:
        for child in children:
            child.cancel()

    outer.on_cancel = cancel_children
    if not children:
        outer.set_result([])
    for child in children:
        child.add_done_callback(one_done)
    return outer


def _outcome(future: Future) -> Any:
    if future.cancelled():
        return CancelledError(future.what)
    return future.exception() or future.result()


FIRST_COMPLETED = "FIRST_COMPLETED"
FIRST_EXCEPTION = "FIRST_EXCEPTION"
ALL_COMPLETED = "ALL_COMPLETED"


def wait(awaitables: Iterable[Awaitable[Any]], return_when: str = FIRST_COMPLETED) -> Future:
    """``done, pending = await swfd.wait([...])``, as ``asyncio.wait``: ``done`` lists
    every outcome in by the time the waiter runs, in the order they arrived in the
    history (so a replay picks the same winner)."""
    if return_when not in (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED):
        raise ValueError(f"return_when {return_when!r} is not one of FIRST_COMPLETED, "
                         "FIRST_EXCEPTION, ALL_COMPLETED")
    children = _futures(awaitables)
    outer = _Waiting(children)

    def check(_child: Future | None = None) -> None:
        if outer.done():
            return
        done = [c for c in children if c.done()]
        failed = any(c.cancelled() or c.exception() is not None for c in done)
        if (len(done) == len(children) or (done and return_when == FIRST_COMPLETED)
                or (failed and return_when == FIRST_EXCEPTION)):
            outer.set_result(None)

    for child in children:
        child.add_done_callback(check)
    check()
    return outer


class _Waiting(Future):
    """``swfd.wait``'s future: (done, pending) as they stand when it is read."""

    def __init__(self, children: list[Future]) -> None:
        super().__init__("wait")
        self.children = children

    def result(self) -> Any:
        super().result()
        done = sorted((c for c in self.children if c.done()), key=lambda c: c.resolved_order)
        return done, [c for c in self.children if not c.done()]
