"""Errors of the transforms."""

from __future__ import annotations


class InvalidParameter(ValueError):
    """A transform parameter out of range; the message names the parameter and its value."""

    def __init__(self, name: str, value: object, reason: str) -> None:
        self.name, self.value = name, value
        super().__init__(f"{name} {reason} (got {value!r})")
