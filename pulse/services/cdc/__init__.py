"""Change data capture of the product catalogue: `products_pim` row changes to PRODUCT events.

Why logical replication with `pgoutput` (not `test_decoding`, not an outbox table):
`pgoutput` is PostgreSQL's own plugin, built into every server since version 10 and used by
its native subscriptions, so it is there on any managed or Debian PostgreSQL without an
extension; it sends only the tables of a publication, with a versioned binary protocol whose
Relation messages carry the column names and types, and values in their exact text form.
`test_decoding` is a contrib example whose text output is meant for tests and would have to be
parsed by quoting rules that are not a stable interface.

Rooms: `pgoutput` (bytes to messages, pure), `transactions` (messages to committed row
changes, pure), `events` (row changes to PRODUCT events, pure), `ledger` (which commits Kafka
has acknowledged, pure), `source` (checks, slot and stream on the PostgreSQL side) and
`relay` (the loop, `pulse serve cdc`).
"""
