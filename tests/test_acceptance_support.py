"""Helpers for the black-box acceptance tests (no tests here).

The plugins below are written the way a third party would write them: only
from DESIGN.md's plugin API (``swfd.activity``, ``swfd.workflow``,
``swfd.hookimpl``, ``swfd.Decisions``, ``swfd.Canceled``, ``task.history``),
installed by a real entry point (a ``*.dist-info`` directory with
``entry_points.txt`` on PYTHONPATH). Configs are written from DESIGN.md's INI,
with every documented key and comments on their own lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from test_daemon_support import Daemon, boto3_client

from swfd.testing import wait_for

TASK_LIST = "acc"
SECRET = "SECRET-PAYLOAD-7f3a"  # never allowed in a log line

ACCEPTANCE_PLUGIN = textwrap.dedent('''
    """An outsider's plugin: activities and workflows written from DESIGN.md alone."""
    import json
    import logging
    import time

    import swfd

    TL = "acc"


    @swfd.activity(name="AccEcho", version="1", task_list=TL)
    def echo(task):
        return {"echo": task.input, "activityId": task.activity_id}


    @swfd.activity(name="AccNone", version="1", task_list=TL)
    def nothing(task):
        return None


    @swfd.activity(name="AccRaw", version="1", task_list=TL, codec="raw")
    def raw(task):
        assert isinstance(task.input, str), type(task.input)
        return task.input[::-1]


    @swfd.activity(name="AccSized", version="1", task_list=TL)
    def sized(task):
        return task.input.get("char", "x") * task.input["n"]


    @swfd.activity(name="AccBoom", version="1", task_list=TL)
    def boom(task):
        raise RuntimeError("the handler broke")


    @swfd.activity(name="AccCancelable", version="1", task_list=TL, heartbeat_timeout=3)
    def cancelable(task):
        deadline = time.monotonic() + 20
        step = 0
        while time.monotonic() < deadline:
            step += 1
            task.heartbeat({"step": step})
            if task.cancel_requested:
                raise swfd.Canceled({"stopped_at": step})
            time.sleep(0.05)
        return "never canceled"


    @swfd.activity(name="AccWhoAmI", version="1", task_list=TL)
    def whoami(task):
        logging.getLogger("acc_plugin").warning("whoami handler running")
        return None


    @swfd.activity(name="AccSurrogate", version="1", task_list=TL, start_to_close_timeout=60)
    def surrogate(task):
        """A str Python allows but UTF-8 (and so SWF) does not: a lone surrogate."""
        return "bad \\ud800 text"


    def _fail_if_broken(decisions, history):
        for activity_id, state in history.activities.items():
            if not state.is_open and state.state != "completed":
                decisions.fail_workflow_execution(
                    reason=f"{activity_id} {state.state}", details=state.reason or "")
                return True
        return False


    @swfd.workflow(name="AccPipeline", version="1", task_list=TL)
    def pipeline(task):
        """Three activities at once (json, json returning None, raw); result gathers them."""
        decisions = swfd.Decisions()
        acts = task.history.activities
        if not acts:
            decisions.schedule_activity_task("echo", "AccEcho", "1",
                                             input=json.dumps(task.input["payload"]))
            decisions.schedule_activity_task("none", "AccNone", "1")
            decisions.schedule_activity_task("raw", "AccRaw", "1", input=task.input["raw"])
            return decisions
        if _fail_if_broken(decisions, task.history):
            return decisions
        if all(state.state == "completed" for state in acts.values()):
            decisions.complete_workflow_execution(result=json.dumps({
                "echo": json.loads(acts["echo"].result),
                "none": acts["none"].result,
                "raw": acts["raw"].result,
            }, ensure_ascii=False))
        return decisions


    @swfd.workflow(name="AccOne", version="1", task_list=TL)
    def one(task):
        """Run the activity named by the input once; close with its outcome."""
        logging.getLogger("acc_plugin").warning("deciding AccOne")
        decisions = swfd.Decisions()
        state = task.history.activities.get("one")
        if state is None:
            decisions.schedule_activity_task(
                "one", task.input["activity"], "1",
                input=json.dumps(task.input.get("input")))
        elif state.state == "completed":
            decisions.complete_workflow_execution(result=state.result)
        elif not state.is_open:
            decisions.fail_workflow_execution(reason=f"one {state.state}",
                                              details=state.details)
        return decisions


    @swfd.workflow(name="AccSignals", version="1", task_list=TL)
    def signals(task):
        """A timer, a client's signal, then a marker; completes once all three are seen."""
        decisions = swfd.Decisions()
        history = task.history
        if "t1" not in history.timers:
            decisions.start_timer(start_to_fire_timeout="1", timer_id="t1")
            return decisions
        go = [s for s in history.signals if s.name == "go"]
        if history.timers["t1"].state != "fired" or not go:
            return decisions
        if "seen" not in history.markers:
            decisions.record_marker("seen", details=go[0].input)
            decisions.start_timer(start_to_fire_timeout="0", timer_id="t2")
            return decisions
        if history.timers.get("t2") and history.timers["t2"].state == "fired":
            decisions.complete_workflow_execution(result=json.dumps({
                "signal": json.loads(go[0].input),
                "marker": json.loads(history.markers["seen"][0].details),
                "timers": sorted(history.timers),
                "events": [e["eventType"] for e in task.events],
            }, ensure_ascii=False))
        return decisions


    @swfd.workflow(name="AccParent", version="1", task_list=TL)
    def parent(task):
        decisions = swfd.Decisions()
        children = task.history.child_workflows
        child_id = task.workflow_execution["workflowId"] + "-child"
        if not children:
            decisions.start_child_workflow_execution(
                "AccChild", "1", child_id, input=json.dumps({"count": 0}))
            return decisions
        child = children[child_id]
        if child.state == "completed":
            decisions.complete_workflow_execution(
                result=json.dumps({"child": json.loads(child.result)}))
        elif child.state not in ("initiated", "started"):
            decisions.fail_workflow_execution(reason=f"child {child.state}")
        return decisions


    @swfd.workflow(name="AccChild", version="1", task_list=TL)
    def child(task):
        """Continues as new twice, then completes with its count."""
        decisions = swfd.Decisions()
        count = task.input["count"]
        if count < 2:
            decisions.continue_as_new_workflow_execution(input=json.dumps({"count": count + 1}))
        else:
            decisions.complete_workflow_execution(result=json.dumps({"count": count}))
        return decisions


    @swfd.workflow(name="AccCancelActivity", version="1", task_list=TL)
    def cancel_activity(task):
        """Schedule a long activity, cancel it from the decider after 1 s."""
        decisions = swfd.Decisions()
        history = task.history
        state = history.activities.get("long")
        if state is None:
            decisions.schedule_activity_task("long", "AccCancelable", "1")
            decisions.start_timer(start_to_fire_timeout="1", timer_id="wait")
        elif state.state == "canceled":
            decisions.complete_workflow_execution(result=json.dumps(
                {"state": state.state, "details": json.loads(state.details)}))
        elif not state.is_open:
            decisions.fail_workflow_execution(reason=f"long {state.state}")
        elif history.timers["wait"].state == "fired" and state.cancel_requested_event_id is None:
            decisions.request_cancel_activity_task("long")
        return decisions


    @swfd.workflow(name="AccCancelMe", version="1", task_list=TL)
    def cancel_me(task):
        """Waits; answers a client's RequestCancelWorkflowExecution by canceling itself."""
        decisions = swfd.Decisions()
        if task.history.cancel_requested is not None:
            decisions.cancel_workflow_execution(details="canceled on request")
        return decisions


    @swfd.activity(name="AccBoomWide", version="1", task_list=TL, start_to_close_timeout=60)
    def boom_wide(task):
        """A reason and traceback of characters outside the BMP (two UTF-16 units each)."""
        raise RuntimeError("\U0001F680" * task.input["n"])


    @swfd.activity(name="AccBoomSurrogate", version="1", task_list=TL, start_to_close_timeout=60)
    def boom_surrogate(task):
        raise RuntimeError("broke on \\udc80 input")


    @swfd.activity(name="AccBeatSurrogate", version="1", task_list=TL, heartbeat_timeout=2,
                   codec="raw")
    def beat_surrogate(task):
        """Heartbeat details (a str) that UTF-8 cannot carry, past the heartbeat timeout."""
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            task.heartbeat("at \\udc80")
            time.sleep(0.05)
        return "survived"


    @swfd.workflow(name="AccLeaky", version="1", task_list=TL)
    def leaky(task):
        """Decisions SWF refuses, carrying the input: swfd must not log them."""
        secret = task.input["secret"]
        if task.input["mode"] == "widereason":
            decisions = swfd.Decisions()
            decisions.fail_workflow_execution(reason="\U0001F680" * 200)
            return decisions
        if task.input["mode"] == "wide":
            raise ValueError("\u00e9" * 8000)
        if task.input["mode"] == "surrogate":
            decisions = swfd.Decisions()
            decisions.complete_workflow_execution(result=secret + "\\ud800")
            return decisions
        if task.input["mode"] == "builder":
            decisions = swfd.Decisions()
            decisions.complete_workflow_execution(result={"secret": secret, "set": {secret}})
            return decisions
        return [{"decisionType": "CompleteWorkflowExecution",
                 "completeWorkflowExecutionDecisionAttributes": {
                     "result": secret + "x" * 40000}}]


    @swfd.workflow(name="AccMany", version="1", task_list=TL)
    def many(task):
        """Grows its history past one page (markers), then reports what the handler saw."""
        decisions = swfd.Decisions()
        events = task.events
        ids = [e["eventId"] for e in events]
        if ids != list(range(1, len(ids) + 1)):
            decisions.fail_workflow_execution(reason="events missing or out of order")
        elif len(events) < task.input["events"]:
            for i in range(100):
                decisions.record_marker(f"m{len(events)}-{i}")
            decisions.start_timer(start_to_fire_timeout="0", timer_id=f"t{len(events)}")
        else:
            decisions.complete_workflow_execution(result=json.dumps({
                "seen": len(events), "markers": sum(len(m) for m in task.history.markers.values()),
                "new": len(task.new_events), "last": events[-1]["eventType"]}))
        return decisions


    @swfd.hookimpl
    def swfd_configure(settings):
        import os
        where = os.environ.get("ACC_HOOK_DIR")
        if where:
            with open(os.path.join(where, f"configure-{os.getpid()}"), "w") as out:
                out.write(settings.domain)


    @swfd.hookimpl
    def swfd_worker_init(pool, kind):
        import os
        where = os.environ.get("ACC_HOOK_DIR")
        if where:
            with open(os.path.join(where, f"init-{os.getpid()}"), "w") as out:
                out.write(f"{kind} {pool.name} {pool.task_list}")


    @swfd.workflow(name="AccRawWf", version="1", task_list=TL, codec="raw")
    def raw_workflow(task):
        decisions = swfd.Decisions()
        assert isinstance(task.input, str), type(task.input)
        decisions.complete_workflow_execution(result=task.input.upper())
        return decisions


    @swfd.hookimpl
    def swfd_activities():
        return [echo, nothing, raw, sized, boom, cancelable, whoami, surrogate,
                boom_surrogate, beat_surrogate, boom_wide]


    @swfd.hookimpl
    def swfd_workflows():
        return [pipeline, one, signals, parent, child, cancel_activity, cancel_me, raw_workflow,
                leaky, many]
''')

SECOND_PLUGIN = textwrap.dedent('''
    """A second outsider plugin; its workflow uses an activity of the first one."""
    import json

    import swfd


    @swfd.activity(name="AccSecond", version="1", task_list="acc")
    def second(task):
        return {"second": task.input}


    @swfd.workflow(name="AccSecondWf", version="1", task_list="acc")
    def second_workflow(task):
        decisions = swfd.Decisions()
        acts = task.history.activities
        if not acts:
            decisions.schedule_activity_task("a", "AccSecond", "1", input=json.dumps(1))
            decisions.schedule_activity_task("b", "AccEcho", "1", input=json.dumps(2))
        elif all(s.state == "completed" for s in acts.values()):
            decisions.complete_workflow_execution(result=json.dumps(
                [json.loads(acts["a"].result), json.loads(acts["b"].result)["echo"]]))
        elif any(not s.is_open for s in acts.values() if s.state != "completed"):
            decisions.fail_workflow_execution(reason="an activity did not complete")
        return decisions


    @swfd.hookimpl
    def swfd_activities():
        return [second]


    @swfd.hookimpl
    def swfd_workflows():
        return [second_workflow]
''')

PLUGINS = {"acceptance": ("acc_plugin", ACCEPTANCE_PLUGIN),
           "acc_second": ("acc_second_plugin", SECOND_PLUGIN)}


def install_plugins(site: Path, names: tuple[str, ...] = ("acceptance", "acc_second")) -> Path:
    """Write each plugin module and its dist-info (entry point group ``swfd``) into ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    for name in names:
        module, source = PLUGINS[name]
        (site / f"{module}.py").write_text(source)
        dist = site / f"{module}-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text(f"[swfd]\n{name} = {module}\n")
    return site


def full_config(domain: str, *, endpoint_url: str, plugins: str | None, port: int = 8799,
                log_format: str = "json", extra_pools: str = "",
                poll_timeout: float = 1.0) -> str:
    """DESIGN.md's INI with every documented key, comments on their own lines."""
    embedded = endpoint_url == "embedded"
    graceful = 12 if embedded else 75
    return (
        "# written from DESIGN.md by an outsider\n"
        "[swfd]\n"
        f"domain = {domain}\n"
        "region = us-east-1\n"
        "# embedded, or a URL\n"
        f"endpoint_url = {endpoint_url}\n"
        "# expanded per child\n"
        "identity = acc@{hostname}/{pid}/{pool}\n"
        + ("" if plugins is None else f"# allowlist\nplugins = {plugins}\n")
        + f"graceful_timeout = {graceful}\n"
        "pidfile = run/swfd.pid\n"
        f"log_format = {log_format}\n"
        "log_level = INFO\n"
        + ("" if embedded else "register = yes\n")
        + "retention_days = 1\n"
        "\n"
        "[embedded]\n"
        "host = 127.0.0.1\n"
        f"port = {port}\n"
        "database = state/local.sqlite3\n"
        "# seconds an empty poll waits\n"
        f"poll_timeout = {poll_timeout}\n"
        "\n"
        "[decider:main]\n"
        f"task_list = {TASK_LIST}\n"
        "processes = 1\n"
        "decider_max_attempts = 5\n"
        "\n"
        "[worker:default]\n"
        f"task_list = {TASK_LIST}\n"
        "processes = 2\n"
        "heartbeat_interval = 30\n"
        "max_tasks_per_child = 1000\n"
        "max_memory_per_child = 512MB\n"
        + extra_pools
    )


class AccDaemon(Daemon):
    """The shared ``Daemon`` helper, but with the outsider's full config and plugins."""

    def __init__(self, tmp_path: Path, *, plugins: str | None = "acceptance",
                 endpoint_url: str = "embedded", log_format: str = "json",
                 env: dict[str, str] | None = None, site: Path | None = None,
                 autoload: bool = False, extra_pools: str = "") -> None:
        site = site or install_plugins(tmp_path / "site")
        pythonpath = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
        merged = {"PYTHONPATH": pythonpath, **(env or {})}
        super().__init__(tmp_path, "", plugins=plugins or "x",
                         endpoint_url=None if endpoint_url == "embedded" else endpoint_url,
                         env=merged, log_format=log_format)
        if autoload:
            self.env.pop("SWFD_DISABLE_PLUGIN_AUTOLOAD", None)
        self.config.write_text(full_config(
            self.domain, endpoint_url=endpoint_url, plugins=plugins, port=self.fixed_port,
            log_format=log_format, extra_pools=extra_pools))

    def ready_pool(self, group: str, count: int = 1, timeout: float = 30) -> None:
        wait_for(lambda: len(polling_pids(self.text(), group)) >= count or None, timeout,
                 message=f"{count} {group} process(es) polling")


class StandaloneEndpoint:
    """``swfd local`` as its own process, the way an operator runs it."""

    def __init__(self, tmp_path: Path, poll_timeout: float = 1.0) -> None:
        self.log = tmp_path / "local.log"
        read, write = os.pipe()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "swfd.cli", "local", "--host", "127.0.0.1",
                 "--port", "0", "--database", str(tmp_path / "standalone.sqlite3"),
                 "--poll-timeout", str(poll_timeout), "--ready-fd", str(write)],
                stdout=log, stderr=log, pass_fds=(write,),
            )
        os.close(write)
        with os.fdopen(read) as ready:  # the endpoint's own word, with the port it bound
            line = ready.readline()
        assert line.startswith("ready "), f"{line!r}\n{self.log.read_text()}"
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.client = boto3_client(self.url)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def json_lines(text: str) -> list[dict]:
    """The JSON log lines of a daemon's output (other lines, e.g. tracebacks, skipped)."""
    import json

    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def polling_pids(text: str, group: str) -> set[int]:
    """Pids of ``group`` that logged they are polling, from JSON or text logs."""
    import re

    pids = {line["pid"] for line in json_lines(text)
            if line.get("pool") == group and " polling task list " in line.get("message", "")}
    pattern = rf"\[{re.escape(group)} (\d+)\] \S+: \w+ polling"
    return pids | {int(p) for p in re.findall(pattern, text)}


class ThrottlingProxy:
    """An HTTP proxy in front of an SWF endpoint that answers ThrottlingException to the
    first ``times`` calls of ``operation`` (as SWF does under load); the rest pass."""

    def __init__(self, upstream_port: int, operation: str, times: int = 1,
                 lose_response: bool = False) -> None:
        """``lose_response``: forward the call, then answer 500 as if the reply was lost."""
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        proxy = self
        self.throttled = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                with lock:
                    throttle = target.endswith("." + operation) and proxy.throttled < times
                    proxy.throttled += throttle
                if throttle and not lose_response:
                    reply = (b'{"__type": "com.amazon.coral.availability#ThrottlingException",'
                             b' "message": "Rate exceeded"}')
                    status, content_type = 400, "application/x-amz-json-1.0"
                else:
                    upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=90)
                    try:
                        upstream.request("POST", self.path, body, dict(self.headers))
                        response = upstream.getresponse()
                        reply, status = response.read(), response.status
                        content_type = response.getheader("Content-Type", "")
                    finally:
                        upstream.close()
                    if throttle:  # lose_response: it landed, but the caller cannot know
                        reply = (b'{"__type": "com.amazon.coral.service#InternalFailure",'
                                 b' "message": "lost"}')
                        status, content_type = 500, "application/x-amz-json-1.0"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:  # the daemon's poller went away (a stop): nothing to tell
                    self.close_connection = True

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
