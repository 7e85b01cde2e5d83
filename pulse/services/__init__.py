"""Pulse's long-running services: the ingest API (and, later, registry and gateways).

Services talk to Kafka and the stores directly and never import Spark (see DESIGN.md).
"""
