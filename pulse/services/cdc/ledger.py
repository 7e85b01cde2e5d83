"""Which committed transactions Kafka has acknowledged entirely: the position the relay may
confirm to PostgreSQL. Pure bookkeeping, fed by the producer's delivery callbacks (the rules:
"The CDC relay" in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(slots=True)
class Pending:
    """One transaction's records that Kafka has not acknowledged yet."""

    end_lsn: int
    waiting: int
    failed: bool = False


class CommitLedger:
    """Transactions sent and not yet confirmable, oldest first."""

    def __init__(self) -> None:
        self._pending: deque[Pending] = deque()
        self._confirmable = 0
        self.failure: str | None = None

    def add(self, end_lsn: int, records: int) -> Pending:
        """Register a transaction before its `records` records are sent; return its handle.

        Registering first matters: a delivery callback may run while the later records of the
        same transaction are still being handed to the producer.
        """
        if self._pending and end_lsn <= self._pending[-1].end_lsn:
            raise ValueError(
                f"transaction ending at {end_lsn} added after one ending at "
                f"{self._pending[-1].end_lsn}: commits must come in order"
            )
        pending = Pending(end_lsn, records)
        self._pending.append(pending)
        return pending

    def acknowledged(self, pending: Pending) -> None:
        """Kafka has acknowledged one record of `pending`'s transaction."""
        if pending.waiting <= 0:
            raise ValueError(f"more acknowledgements than records for LSN {pending.end_lsn}")
        pending.waiting -= 1

    def failed(self, pending: Pending, reason: str) -> None:
        """A record of `pending`'s transaction was not written: nothing from it on is confirmed."""
        pending.failed = True
        if self.failure is None:
            self.failure = f"transaction ending at LSN {pending.end_lsn}: {reason}"

    @property
    def waiting(self) -> int:
        """Records sent and not yet acknowledged."""
        return sum(pending.waiting for pending in self._pending)

    def confirmable(self) -> int:
        """The end LSN up to which everything is acknowledged (0: nothing yet); never past a
        transaction with a failed record."""
        while self._pending and self._pending[0].waiting == 0 and not self._pending[0].failed:
            self._confirmable = self._pending.popleft().end_lsn
        return self._confirmable
