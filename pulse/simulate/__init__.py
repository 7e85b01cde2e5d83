"""Simulators of the five source systems: deterministic event generators and the producer loop.

Every generator is a pure function of (seed, rate, start): event `i` happens at
`start + i / rate`, so the same arguments give the same events, byte for byte, and with
`start = now` and a live pacer the event times follow the wall clock.
"""

from pulse.simulate.records import GENERATORS, Record, records

__all__ = ["GENERATORS", "Record", "records"]
