"""Every event's path can be followed: the ingest API's producer ack and the enrich job's
processing ack of one product change meet on `platform.monitoring` under the change's id."""

from __future__ import annotations

import json
import uuid

from pulse.events import example
from pulse.events.domains import PRODUCT
from tests.jobs.records import read_all
from tests.jobstack import JobStack
from tests.polling import wait_for


def test_a_change_sent_through_the_api_has_a_producer_and_a_processing_ack(job_stack, start_api):
    api = start_api(flush_interval_ms=100)
    # The job reads the topics the API writes; checkpoints and lake stay the test's own.
    jobs = JobStack({**job_stack.env, **api.env}, api.conf, job_stack.logs, job_stack.spark)
    change_ids = [f"pc-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    for number, change_id in enumerate(change_ids):
        change = {**example(PRODUCT), "change_id": change_id, "version": number + 1}
        answer = api.post(f"/v1/products/{change['product_id']}", change)
        assert answer.status == 202, answer.body

    def acks() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for record in read_all(api.conf, api.topic("monitoring")):
            ack = json.loads(record.value)
            if ack.get("event_id") in change_ids:
                found.setdefault(ack["event_id"], set()).add(f"{ack['component']}:{ack['kind']}")
        return found

    wait_for(lambda: len(acks()) == len(change_ids), 20, "the API's producer acks")
    jobs.run("enrich")

    assert acks() == {
        change_id: {"ingest:producer_ack", "enrich:processing_ack"} for change_id in change_ids
    }
