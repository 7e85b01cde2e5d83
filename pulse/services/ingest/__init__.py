"""The ingest HTTP API: validated events in, batched to Kafka, a producer ack per delivery (its
rooms: "The ingest API" in docs/ARCHITECTURE.md).
"""
