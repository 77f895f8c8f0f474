"""The README's "Workflows as code" example runs as written: its module, its
``swfd start`` input and its ``swfd signal`` input, through swfd's decider and
worker code on the local endpoint."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from pathlib import Path

from test_flow_support import Driver, attrs, closing, decider_errors, types

from swfd.flow.replay import check_history

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SECTION = README.split("### Workflows as code", 1)[1].split("\n## ", 1)[0]


def _example(tmp_path):
    code = re.search(r"```python\n(# my_plugin/orders.py\n.*?)\n```", SECTION, re.DOTALL)[1]
    path = tmp_path / "readme_orders.py"
    path.write_text(code + "\n")
    spec = importlib.util.spec_from_file_location("readme_orders", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _input_of(command: str) -> str:
    words = shlex.split(command)
    return words[words.index("--input") + 1]


def test_readme_order_workflow_runs_as_written(tmp_path, local_endpoint, swf_client, domain):
    orders = _example(tmp_path)
    commands = re.search(r"```sh\n(.*?)\n```", SECTION, re.DOTALL)[1].splitlines()
    start = next(c for c in commands if " start Order " in c)
    signal = next(c for c in commands if " signal order-1 approve " in c)
    driver = Driver(tmp_path, local_endpoint.url, swf_client, domain,
                    [orders.charge, orders.pack, orders.order])
    execution = driver.start(orders.order, raw=_input_of(start), workflow_id="order-1")
    driver.run(execution, until=lambda ev: "TimerStarted" in types(ev))
    driver.client.signal_workflow_execution(domain=domain, signalName="approve",
                                            input=_input_of(signal), **execution)
    events = driver.run(execution)
    assert decider_errors(events) == []
    assert json.loads(closing(events)["result"]) == {
        "receipt": {"charged": 30}, "parcels": ["parcel of tea", "parcel of cups"],
        "by": "ada"}
    check_history(orders.order, events)

    stolen = driver.start(orders.order, {"card": "stolen", "amount": 1, "items": []})
    events = driver.run(stolen)
    assert closing(events)["reason"] == "payment refused"
    assert closing(events)["details"] == "non-retryable NonRetryable: card reported stolen"
    assert [attrs(e)["activityId"] for e in events
            if e["eventType"] == "ActivityTaskScheduled"] == ["Charge-1"]
