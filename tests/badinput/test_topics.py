"""10,000 malformed records of every kind in the topics: each one a dead letter, with its reason
and origin, in the Delta `quarantine` table and on the dead-letter topic; every good record
processed; repeats of an event id counted once.

The records are those of the `produced` stores (`tests.hostile`), which the real jobs read.
Each test prints what it counted, expected against found.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict

import pytest
from deltalake import DeltaTable

from pulse.events import SCHEMAS, source_domains
from pulse.simulate.bad import BAD_KINDS
from pulse.stores import postgres_connect
from tests.exact import emoji_counts
from tests.hostile import MALFORMED
from tests.jobs.records import Record, is_valid, read_all
from tests.stacks import Stores

pytestmark = [pytest.mark.spark, pytest.mark.broker, pytest.mark.counts]

# What the reason of each kind's dead letter says (the first failed check names it, and the
# value it got: `pulse.transforms.decode.reason`).
GOT = r" \(got .*\)$"
REASONS = {
    "broken_json": r"^malformed JSON",
    "not_object": r"^malformed JSON|is required|must be a JSON object",
    "missing_field": r"is required \(got None\)$",
    # A value of another JSON kind than the field's.
    "wrong_type": r"must be (a string|a number \(\w+\)|an object|an ISO-8601 timestamp string"
    r"|one of .*)" + GOT,
    "unknown_enum": r"must be one of .* \(got '.*'\)$",
    "invalid_utf8": r"^invalid UTF-8 in the value$",
    "empty_value": r"^malformed JSON|^empty record",
    "oversized": r"is longer than \d+ characters" + GOT,
    "bad_timestamp": r"must be an ISO-8601 timestamp with a zone" + GOT,
    "unknown_field": r"is not a field of this event" + GOT,
    "ancient_time": r"is before 2000-01-01 \(a clock that was never set\) \(got '.*'\)$",
    "future_time": r"is more than 300 s ahead of when it was received \(got '.*'\)$",
    "nul_character": r"contains a NUL character \(U\+0000\), which PostgreSQL cannot store" + GOT,
    "wrong_domain": r"is required \(got None\)$|is not a field of this event|must be one of",
}


def source_records(stores: Stores) -> dict[str, list[Record]]:
    return {d: read_all(stores.conf, getattr(stores.conf.topics, d).name) for d in source_domains()}


def table(title: str, rows: list[tuple]) -> None:
    """Print counts as a table, for the CI log."""
    print(f"\n{title}")
    for row in rows:
        print("  " + "  ".join(f"{cell!s:>22}" for cell in row))


def test_every_malformed_record_is_a_dead_letter_with_its_reason_and_origin(
    produced: Stores,
) -> None:
    hostile = produced.hostile
    assert len(hostile.malformed) == MALFORMED and hostile.kinds() == set(BAD_KINDS)
    conf = produced.conf
    records = source_records(produced)
    invalid = {
        (r.topic, r.partition, r.offset)
        for domain, rs in records.items()
        for r in rs
        if not is_valid(SCHEMAS[domain], r)
    }
    sent = {s.origin: s for s in hostile.malformed}
    assert set(sent) <= invalid, "a malformed record passes the producers' own validation"

    quarantine = {
        (q["topic"], q["partition"], q["offset"]): q
        for q in DeltaTable(f"{conf.lake.path}/quarantine").to_pyarrow_table().to_pylist()
    }
    letters = {
        (m["topic"], m["partition"], m["offset"]): m
        for m in (json.loads(r.value) for r in read_all(conf, conf.topics.deadletter.name))
    }

    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    other_reasons: dict[str, set[str]] = defaultdict(set)
    for origin, record in sent.items():
        counts = by_kind[record.kind]
        counts["sent"] += 1
        for name, found in (("quarantine", quarantine), ("dead-letter topic", letters)):
            letter = found.get(origin)
            if letter is not None and re.search(REASONS[record.kind], letter["reason"]):
                counts[name] += 1
            elif letter is not None:
                other_reasons[record.kind].add(letter["reason"])
    table(
        "malformed records by kind: sent / in quarantine / on the dead-letter topic",
        [("kind", "sent", "quarantine", "dead-letter topic")]
        + [(k, c["sent"], c["quarantine"], c["dead-letter topic"]) for k, c in by_kind.items()],
    )
    table(
        "every invalid record of the topics (simulators' bad ones too)",
        [("expected", "quarantine", "dead-letter topic"),
         (len(invalid), len(quarantine), len(letters))],
    )  # fmt: skip
    assert set(quarantine) == invalid and set(letters) == invalid
    missing = {
        kind: (c["sent"], c["quarantine"], c["dead-letter topic"])
        for kind, c in by_kind.items()
        if not c["sent"] == c["quarantine"] == c["dead-letter topic"]
    }
    examples = {kind: sorted(reasons)[:3] for kind, reasons in other_reasons.items()}
    assert not missing, (
        f"dead letters missing or with another reason (sent, found): {missing}; "
        f"other reasons, for example: {examples}"
    )


def test_every_good_record_is_processed_and_a_repeated_id_counted_once(
    produced: Stores,
) -> None:
    conf = produced.conf
    records = source_records(produced)
    rows = [("domain", "valid records", "in silver", "distinct ids", "in the sink")]
    for domain, rs in records.items():
        schema = SCHEMAS[domain]
        ids = [json.loads(r.value)[schema.id_field] for r in rs if is_valid(schema, r)]
        silver = DeltaTable(f"{conf.lake.path}/silver/{domain}").to_pyarrow_table()
        in_silver = silver.column(schema.id_field).to_pylist()
        assert sorted(in_silver) == sorted(ids), domain
        rows.append((domain, len(ids), len(in_silver), len(set(ids)), ""))

    media = {json.loads(r.value)["id"] for r in records["media"] if is_valid(SCHEMAS["media"], r)}
    pg = postgres_connect(conf.postgres)
    try:
        with pg.cursor() as cur:
            cur.execute("SELECT id, count(*) FROM events GROUP BY id")
            stored = dict(cur.fetchall())
            cur.execute("SELECT match_id, emoji, window_start, count FROM emoji_windows")
            windows = {(m, e, w): c for m, e, w, c in cur.fetchall()}
    finally:
        pg.close()
    rows[-1] = (*rows[-1][:4], len(stored))
    assert set(stored) == media and set(stored.values()) == {1}

    expected = emoji_counts(conf)
    emoji_row = rows[source_domains().index("emoji") + 1]
    rows[source_domains().index("emoji") + 1] = (*emoji_row[:4], sum(windows.values()))
    table("good records: valid / in silver / distinct ids / in the sink (events, windows)", rows)
    distinct = {
        json.loads(r.value)["event_id"] for r in records["emoji"] if is_valid(SCHEMAS["emoji"], r)
    }
    assert {e["event_id"] for e in produced.hostile.duplicated["emoji"]} <= distinct
    assert windows == dict(expected), "emoji windows do not count each event id once"
    assert sum(windows.values()) == len(distinct)
