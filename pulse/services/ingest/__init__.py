"""The ingest HTTP API: validated events in, batched to Kafka, a producer ack per delivery.

Rooms: `requests` (request bodies to events, pure), `records` (what goes to Kafka, pure),
`metrics` (counters and the Prometheus text), `producer` (the batching Kafka producer, on the
event loop), `app` (the ASGI application: routes, answers, refusals) and `server` (uvicorn,
start-up checks). API keys are `pulse.services.auth`, shared with the registry.
"""
