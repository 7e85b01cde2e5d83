"""Pulse's long-running services: the ingest API, the CDC relay, the registry (and gateways).
`auth` holds the API keys shared by the HTTP services; `admission_tokens` the tokens the
registry signs and the delivery nodes check. Services talk to Kafka and the stores directly
and never import Spark.
"""
