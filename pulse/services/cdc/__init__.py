"""Change data capture of the product catalogue: `products_pim` row changes to PRODUCT events,
read by logical replication with `pgoutput` (why, and the rooms: "The CDC relay" in
docs/ARCHITECTURE.md).
"""
