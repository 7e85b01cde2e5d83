"""Pure DataFrame transforms: they take and return DataFrames and know nothing of Kafka or sinks."""
