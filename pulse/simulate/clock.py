"""Event time for generated events: event `i` happens at `start + i / rate`.

Timestamps are the hot path of every generator (20k+ events/s), so the second-level part of the
wire form is formatted once per second and only the milliseconds per event.
"""

from __future__ import annotations

from datetime import UTC, datetime

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class StartTimeError(ValueError):
    """`--start` is not an ISO-8601 time; names the value."""


def parse_start(text: str | None) -> datetime:
    """The start time of a run: ISO-8601 (a missing zone means UTC), or now when not given."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise StartTimeError(
            f"--start: not an ISO-8601 time: {text!r} (example: 2026-11-22T20:15:00Z)"
        ) from None
    # A command-line convenience: the events themselves always carry an explicit zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def epoch_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch, exactly (no float rounding)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def run_tag(start: datetime) -> str:
    """A short tag of the start time, so that two runs with one seed do not reuse event ids."""
    value = epoch_micros(start) // 1000
    digits = []
    while True:
        value, digit = divmod(value, 36)
        digits.append(_ALPHABET[digit])
        if value == 0:
            return "".join(reversed(digits))


def id_prefix(prefix: str, seed: int, start: datetime) -> str:
    """The common beginning of a run's event ids: `er-<seed>-<run tag>-`, then the index."""
    return f"{prefix}-{seed}-{run_tag(start)}-"


class EventClock:
    """Maps an event index to its event time, and an event time to its wire form."""

    def __init__(self, start: datetime, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be greater than 0, got {rate}")
        self.start_us = epoch_micros(start)
        self.step_us = 1_000_000 / rate
        self._second = -1
        self._prefix = ""

    def micros(self, index: int) -> int:
        """Event time of event `index`, in microseconds since the epoch."""
        return self.start_us + int(index * self.step_us)

    def stamp(self, micros: int) -> str:
        """The wire form of a time (UTC, milliseconds, `Z`), as `format_timestamp` writes it."""
        second, rest = divmod(micros, 1_000_000)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        return f"{self._prefix}{rest // 1000:03d}Z"
