"""Errors of the Kafka room: each names the option, topic or partition it is about."""


class KafkaSourceError(RuntimeError):
    """The Kafka source cannot go on (bad option, unreachable broker, lost offsets)."""


class DataLossError(KafkaSourceError):
    """Offsets the query needs are gone from the broker (deleted, aged out, topic recreated)."""
