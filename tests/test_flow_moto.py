"""An ``async def`` workflow using what moto's SWF supports (activities in parallel, a
timer, a marker, a signal, the random seed) gives the same history on moto and on the
local endpoint, and each replays against the other's."""

from __future__ import annotations

import json

from test_flow_support import closing, decider_errors, on_moto_and_local, scheduled, types

import swfd
from swfd.flow.replay import check_history


@swfd.activity("Echo", "1", task_list="flow-echo")
def echo(task):
    return task.input


@swfd.workflow("MotoFlow", "1", task_list="flow")
async def moto_flow(wf, n):
    first = await wf.activity(echo, n)
    pair = await swfd.gather(wf.activity(echo, first + 1), wf.activity(echo, first + 2))
    await wf.sleep(1)
    wf.record_marker("slept", {"pair": pair})
    go = await wf.signal("go")
    return {"pair": pair, "go": go, "ticket": str(wf.uuid4())[:8]}


def _scenario(driver):
    execution = driver.start(moto_flow, 10, workflow_id="moto-flow")
    driver.run(execution, until=lambda ev: "MarkerRecorded" in types(ev))
    driver.signal(execution, "go", "now")
    events = driver.run(execution)
    assert decider_errors(events) == []
    assert events[-1]["eventType"] == "WorkflowExecutionCompleted"
    return events


def test_flow_histories_match_moto(tmp_path, local_endpoint, swf_client, domain):
    moto_events, local_events = on_moto_and_local(tmp_path, local_endpoint, swf_client,
                                                  domain, [echo, moto_flow], _scenario)
    assert types(local_events) == types(moto_events)
    assert scheduled(local_events) == scheduled(moto_events)
    result = json.loads(closing(local_events)["result"])
    assert result["pair"] == [11, 12] and result["go"] == "now"
    check_history(moto_flow, moto_events)
    check_history(moto_flow, local_events)
