"""Pulse: a real-time event platform on Spark Structured Streaming."""
