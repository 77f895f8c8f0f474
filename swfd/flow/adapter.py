"""The bridge from the decider's world (a function of a decision task) to a replay.

Kept free of imports beyond the standard library so that declaring an
``async def`` workflow (importing a plugin) costs nothing until a decision
task arrives.
"""

from __future__ import annotations

from typing import Any, Callable


class FlowWorkflow:
    """What ``@swfd.workflow`` stores as ``WorkflowDef.func`` for an ``async def``:
    a function from a decision task to ``swfd.Decisions``, as the decider expects.

    Where the decider keeps the run's view between tasks (the history cache on),
    the suspended instance is kept there too (:mod:`swfd.flow.sticky`); ``counts``
    says how often a decision continued it, replayed from the start, or fell back
    to a replay because the history did not continue the kept instance."""

    def __init__(self, func: Callable[..., Any], continue_as_new_after: int = 10_000) -> None:
        self.func = func
        self.continue_as_new_after = continue_as_new_after
        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            if hasattr(func, name):
                setattr(self, name, getattr(func, name))
        self.__wrapped__ = func
        self.counts = {"continued": 0, "replayed": 0, "fell_back": 0}

    def __repr__(self) -> str:
        return f"<async def workflow {getattr(self.func, '__qualname__', self.func)!r}>"

    def __call__(self, task: Any) -> Any:
        codec = task.definition.codec if task.definition else "json"
        view = getattr(task, "run_view", None)
        if view is not None:
            from swfd.flow.sticky import decide

            return decide(self, task, view, codec)
        return self.replay(task.raw_events, task.workflow_execution, codec, task.input)

    def replay(self, events: list[dict[str, Any]], execution: dict[str, str], codec: str,
               input: Any, live: bool = True) -> Any:
        """Replay ``events``; the decisions of the decision task being decided (if live)."""
        from swfd.flow.replay import Replay

        return Replay(self.func, events, execution, codec, self.continue_as_new_after,
                      input=input, live=live).run()
