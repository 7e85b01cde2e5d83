"""Errors raised by Pulse's sinks; each names the sink, the table or key, and the value."""

from __future__ import annotations


class SinkError(RuntimeError):
    """A sink could not write its batch."""


class SinkDefinitionError(SinkError, ValueError):
    """A sink is declared wrong, or its batch lacks a column it writes: a wiring bug, not data."""


class DuplicateKeyError(SinkError):
    """One batch holds two rows with the same natural key; the caller must dedupe first."""
