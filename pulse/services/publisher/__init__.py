"""Cluster publishers: one per cluster relays the live job's emoji units (Kafka
`emoji.aggregated`) to its cluster's nodes (Redis channel `cluster:{C}:emoji`).

`pulse serve publisher --cluster C`; why Kafka then Redis is written in `relay` and the README.
"""
