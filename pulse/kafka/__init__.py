"""Kafka: the streaming source (`read_kafka`), topic administration and the event producer.

`read_kafka` is imported lazily so that services can use the producer without importing Spark.
"""

from typing import Any

__all__ = ["read_kafka"]


def __getattr__(name: str) -> Any:
    if name == "read_kafka":
        from pulse.kafka.read import read_kafka

        return read_kafka
    raise AttributeError(name)
