"""The floor: a minimal raw boto3 poll -> respond loop, one process.

    python -m bench.rawworker URL DOMAIN TASK_LIST

SIGTERM stops it after the outstanding poll returns (the harness may SIGKILL it
instead: nothing it holds matters then).
"""

from __future__ import annotations

import signal
import sys

import boto3


def main(argv: list[str]) -> int:
    url, domain, task_list = argv
    client = boto3.client("swf", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    while not stopping:
        task = client.poll_for_activity_task(domain=domain, taskList={"name": task_list},
                                             identity="raw")
        if task.get("taskToken"):
            client.respond_activity_task_completed(taskToken=task["taskToken"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
