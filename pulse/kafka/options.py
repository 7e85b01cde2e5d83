"""The options of `read_kafka`, under the names of Spark's official Kafka source.

Parsed once on the driver into a small frozen dataclass, which is what travels (pickled) to the
executors. Every error names the option and the value it got.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pulse.kafka.errors import KafkaSourceError

EARLIEST, LATEST = -2, -1
Client = Literal["confluent", "kafka-python"]
Offsets = dict[tuple[str, int], int]

# Options Pulse's own source reads; every other `kafka.*` option passes through to the client.
_OWN = {
    "kafka.bootstrap.servers",
    "kafka.client",
    "subscribe",
    "subscribepattern",
    "assign",
    "startingoffsets",
    "maxoffsetspertrigger",
    "failondataloss",
    "includeheaders",
    "pulse.batchseconds",
}
# Official options that only the official connector implements; accepted and ignored here,
# so that the same job runs on either source.
_OFFICIAL_ONLY = {
    "minoffsetspertrigger",
    "maxtriggerdelay",
    "minpartitions",
    "groupidprefix",
    "kafkaconsumer.polltimeoutms",
    "fetchoffset.numretries",
    "fetchoffset.retryintervalms",
    "startingtimestamp",
    "startingoffsetsbytimestamp",
    "startingoffsetsbytimestampstrategy",
    "endingoffsets",
    "maxoffsetspertrigger.split",
}


@dataclass(frozen=True)
class SourceOptions:
    """What to read, from where and how; derived from the official option names."""

    bootstrap: str
    subscribe: tuple[str, ...] = ()
    pattern: str | None = None
    assign: tuple[tuple[str, int], ...] = ()
    starting: Literal["earliest", "latest"] | Offsets = "latest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    include_headers: bool = False
    # Pulse's own option `pulse.batchSeconds`: size each batch from the measured throughput so
    # that it finishes within this many seconds (its trigger); `maxOffsetsPerTrigger` stays the
    # ceiling. Unset: every batch takes up to the ceiling, as Spark's own source does.
    batch_seconds: float | None = None
    client: Client = "confluent"
    client_params: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> SourceOptions:
        """Validate Spark-style options (names case-insensitive, values strings)."""
        opts = {key.lower(): str(value) for key, value in options.items()}
        unknown = [
            key
            for key in opts
            if key not in _OWN and key not in _OFFICIAL_ONLY and not key.startswith("kafka.")
        ]
        if unknown:
            raise KafkaSourceError(f"unknown option {unknown[0]!r} for the Kafka source")
        bootstrap = opts.get("kafka.bootstrap.servers", "").strip()
        if not bootstrap:
            raise KafkaSourceError("option 'kafka.bootstrap.servers' is required")
        chosen = [name for name in ("subscribe", "subscribepattern", "assign") if name in opts]
        if len(chosen) != 1:
            raise KafkaSourceError(
                "exactly one of the options 'subscribe', 'subscribePattern', 'assign' is required"
                f" (got {', '.join(chosen) or 'none'})"
            )
        client = opts.get("kafka.client", "confluent")
        if client not in ("confluent", "kafka-python"):
            raise KafkaSourceError(
                f"option 'kafka.client' must be confluent or kafka-python (got {client!r})"
            )
        return cls(
            bootstrap=bootstrap,
            subscribe=_subscribe(opts.get("subscribe")),
            pattern=_pattern(opts.get("subscribepattern")),
            assign=_assign(opts.get("assign")),
            starting=_starting(opts.get("startingoffsets", "latest")),
            max_offsets_per_trigger=_positive_int(
                opts, "maxoffsetspertrigger", "maxOffsetsPerTrigger"
            ),
            fail_on_data_loss=_boolean(opts, "failondataloss", "failOnDataLoss", default=True),
            include_headers=_boolean(opts, "includeheaders", "includeHeaders", default=False),
            batch_seconds=_positive_float(opts, "pulse.batchseconds", "pulse.batchSeconds"),
            client=client,  # type: ignore[arg-type]  # one of the two names: checked above
            client_params={
                key[len("kafka.") :]: value
                for key, value in opts.items()
                if key.startswith("kafka.") and key not in _OWN
            },
        )


def _subscribe(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    topics = tuple(name.strip() for name in value.split(",") if name.strip())
    if not topics:
        raise KafkaSourceError(f"option 'subscribe' names no topic (got {value!r})")
    return topics


def _pattern(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        re.compile(value)
    except re.error as exc:
        raise KafkaSourceError(
            f"option 'subscribePattern' is not a regular expression: {exc} (got {value!r})"
        ) from None
    return value


def _assign(value: str | None) -> tuple[tuple[str, int], ...]:
    if value is None:
        return ()
    parsed = _json_object("assign", value)
    try:
        pairs = tuple(
            sorted(
                (topic, int(partition)) for topic, parts in parsed.items() for partition in parts
            )
        )
    except (TypeError, ValueError):
        raise KafkaSourceError(
            f"option 'assign' must look like {{\"topic\": [0, 1]}} (got {value!r})"
        ) from None
    if not pairs:
        raise KafkaSourceError(f"option 'assign' names no partition (got {value!r})")
    return pairs


def _starting(value: str) -> Literal["earliest", "latest"] | Offsets:
    text = value.strip()
    if text.lower() in ("earliest", "latest"):
        return text.lower()  # type: ignore[return-value]  # one of the two: checked above
    parsed = _json_object("startingOffsets", text)
    offsets: Offsets = {}
    try:
        for topic, partitions in parsed.items():
            for partition, offset in partitions.items():
                offsets[(topic, int(partition))] = int(offset)
    except (AttributeError, TypeError, ValueError):
        raise KafkaSourceError(
            "option 'startingOffsets' must be earliest, latest or JSON like "
            f'{{"topic": {{"0": 23, "1": -2}}}} (got {value!r})'
        ) from None
    bad = [(tp, offset) for tp, offset in offsets.items() if offset < EARLIEST]
    if bad:
        (topic, partition), offset = bad[0]
        raise KafkaSourceError(
            f"option 'startingOffsets': offset {offset} for {topic}[{partition}] is not an "
            "offset, -2 (earliest) or -1 (latest)"
        )
    return offsets


def _json_object(name: str, value: str) -> dict:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise KafkaSourceError(
            f"option '{name}' is not valid JSON: {exc.msg} (got {value!r})"
        ) from None
    if not isinstance(parsed, dict):
        raise KafkaSourceError(f"option '{name}' must be a JSON object (got {value!r})")
    return parsed


def _positive_int(opts: Mapping[str, str], key: str, name: str) -> int | None:
    number = _positive(opts, key, name, int, "a positive integer")
    return None if number is None else int(number)


def _positive_float(opts: Mapping[str, str], key: str, name: str) -> float | None:
    return _positive(opts, key, name, float, "a positive number")


def _positive(
    opts: Mapping[str, str], key: str, name: str, kind: type[int] | type[float], what: str
) -> float | None:
    if key not in opts:
        return None
    try:
        number = kind(opts[key])
    except ValueError:
        number = 0
    if not 0 < number < float("inf"):
        raise KafkaSourceError(f"option '{name}' must be {what} (got {opts[key]!r})")
    return number


def _boolean(opts: Mapping[str, str], key: str, name: str, default: bool) -> bool:
    text = opts.get(key)
    if text is None:
        return default
    if text.lower() not in ("true", "false"):
        raise KafkaSourceError(f"option '{name}' must be true or false (got {text!r})")
    return text.lower() == "true"
