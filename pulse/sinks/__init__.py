"""Sinks: where a micro-batch goes. Each one is idempotent for a replayed `batch_id`."""
