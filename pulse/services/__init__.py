"""Pulse's long-running services: the ingest API, the CDC relay, the registry (and gateways).

`auth` holds the API keys shared by the HTTP services.

Services talk to Kafka and the stores directly and never import Spark (see DESIGN.md).
"""
