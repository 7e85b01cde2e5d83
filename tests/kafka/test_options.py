"""Options of `read_kafka`: official names in, clear errors naming the option and value out."""

from __future__ import annotations

import pytest

from pulse.kafka.errors import KafkaSourceError
from pulse.kafka.options import SourceOptions

BASE = {"kafka.bootstrap.servers": "127.0.0.1:9092"}


def test_official_names_are_understood():
    options = SourceOptions.parse(
        {
            **BASE,
            "subscribe": "a, b",
            "startingOffsets": '{"a": {"0": -2}, "b": {"0": 17}}',
            "maxOffsetsPerTrigger": "500",
            "failOnDataLoss": "false",
            "includeHeaders": "true",
            "kafka.client": "kafka-python",
            "kafka.security.protocol": "SASL_SSL",
        }
    )
    assert options.subscribe == ("a", "b")
    assert options.starting == {("a", 0): -2, ("b", 0): 17}
    assert options.max_offsets_per_trigger == 500
    assert options.fail_on_data_loss is False
    assert options.include_headers is True
    assert options.client == "kafka-python"
    assert options.client_params == {"security.protocol": "SASL_SSL"}


def test_assign_lists_partitions():
    options = SourceOptions.parse({**BASE, "assign": '{"a": [1, 0]}'})
    assert options.assign == (("a", 0), ("a", 1))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"subscribe": "a"}, "'kafka.bootstrap.servers' is required"),
        ({**BASE}, "exactly one of"),
        ({**BASE, "subscribe": "a", "assign": '{"a": [0]}'}, "exactly one of"),
        (
            {**BASE, "subscribe": "a", "startingOffsets": "{oops"},
            "'startingOffsets' is not valid JSON",
        ),
        (
            {**BASE, "subscribe": "a", "maxOffsetsPerTrigger": "-3"},
            "'maxOffsetsPerTrigger' must be a positive integer \\(got '-3'\\)",
        ),
        (
            {**BASE, "subscribe": "a", "failOnDataLoss": "perhaps"},
            "'failOnDataLoss' must be true or false \\(got 'perhaps'\\)",
        ),
        (
            {**BASE, "subscribe": "a", "kafka.client": "java"},
            "'kafka.client' must be confluent or kafka-python \\(got 'java'\\)",
        ),
        (
            {**BASE, "subscribePattern": "(", "startingOffsets": "earliest"},
            "'subscribePattern' is not a regular expression",
        ),
        (
            {**BASE, "subscribe": "a", "startingOffset": "earliest"},
            "unknown option 'startingoffset'",
        ),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(KafkaSourceError, match=message):
        SourceOptions.parse(options)
