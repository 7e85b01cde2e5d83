"""The position the relay may confirm: only past transactions Kafka acknowledged entirely."""

from __future__ import annotations

from pulse.services.cdc.ledger import CommitLedger


def test_nothing_is_confirmable_before_every_record_of_a_transaction_is_acknowledged() -> None:
    ledger = CommitLedger()
    first = ledger.add(100, records=2)

    ledger.acknowledged(first)
    assert ledger.confirmable() == 0
    ledger.acknowledged(first)
    assert ledger.confirmable() == 100


def test_a_later_transaction_acknowledged_first_waits_for_the_earlier_ones() -> None:
    ledger = CommitLedger()
    first, second = ledger.add(100, records=1), ledger.add(200, records=1)

    ledger.acknowledged(second)
    assert ledger.confirmable() == 0
    ledger.acknowledged(first)
    assert ledger.confirmable() == 200


def test_a_transaction_without_records_is_confirmable_in_its_turn() -> None:
    ledger = CommitLedger()
    first = ledger.add(100, records=1)
    ledger.add(200, records=0)

    assert ledger.confirmable() == 0
    ledger.acknowledged(first)
    assert ledger.confirmable() == 200


def test_a_failed_record_stops_the_confirmations_before_its_transaction() -> None:
    ledger = CommitLedger()
    first, second, third = (ledger.add(lsn, records=1) for lsn in (100, 200, 300))
    ledger.acknowledged(first)
    ledger.failed(second, "Broker: Message size too large")
    ledger.acknowledged(third)

    assert ledger.confirmable() == 100
    assert ledger.failure is not None and "LSN 200" in ledger.failure
