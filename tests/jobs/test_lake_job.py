"""jobs/lake.py end to end: simulated events in; bronze, silver, quarantine and dead letters out."""

from __future__ import annotations

import json

import pytest
from deltalake import DeltaTable

from pulse.events import SCHEMAS, SOURCE_DOMAINS
from tests.jobs.records import is_valid, read_all

pytestmark = [pytest.mark.spark, pytest.mark.broker]


def test_every_record_lands_in_bronze_and_each_bad_one_in_the_dead_letters(job_stack):
    conf = job_stack.conf
    job_stack.simulate("all", rate=300, seconds=2, bad_ratio=0.05, seed=11)
    produced = {d: read_all(conf, getattr(conf.topics, d).name) for d in SOURCE_DOMAINS}
    bad = {
        d: [r for r in records if not is_valid(SCHEMAS[d], r)] for d, records in produced.items()
    }
    assert all(bad.values()), "the simulator produced no bad records to follow"

    job_stack.run("lake")
    job_stack.run("lake")  # caught up: a second run must add nothing

    lake = conf.lake.path
    bronze = DeltaTable(f"{lake}/bronze").to_pyarrow_table().to_pylist()
    # The jobs' own progress reports on platform.monitoring land in bronze too: count apart.
    sources = [b for b in bronze if b["topic"] != conf.topics.monitoring.name]
    assert sorted((b["topic"], b["partition"], b["offset"]) for b in sources) == sorted(
        (r.topic, r.partition, r.offset) for records in produced.values() for r in records
    )
    for domain, records in produced.items():
        silver = DeltaTable(f"{lake}/silver/{domain}").to_pyarrow_table()
        schema = SCHEMAS[domain]
        expected_ids = sorted(
            json.loads(r.value)[schema.id_field] for r in records if r not in bad[domain]
        )
        assert sorted(silver.column(schema.id_field).to_pylist()) == expected_ids, domain

    quarantine = DeltaTable(f"{lake}/quarantine").to_pyarrow_table().to_pylist()
    expected_bad = {(r.topic, r.partition, r.offset) for records in bad.values() for r in records}
    assert {(q["topic"], q["partition"], q["offset"]) for q in quarantine} == expected_bad
    assert len(quarantine) == len(expected_bad)
    assert all(q["reason"] for q in quarantine)

    letters = read_all(conf, conf.topics.deadletter.name)
    messages = [json.loads(letter.value) for letter in letters]
    assert {(m["topic"], m["partition"], m["offset"]) for m in messages} == expected_bad
    assert all(m["reason"] for m in messages)
    originals = {(r.topic, r.partition, r.offset): r.key for rs in bad.values() for r in rs}
    assert all(
        letter.key == originals[(m["topic"], m["partition"], m["offset"])]
        for letter, m in zip(letters, messages, strict=True)
    )
