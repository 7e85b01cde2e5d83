"""The examples in the docstrings run and show what they say (`>>>` in any module of `pulse`)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import pulse


def modules_with_examples() -> list[str]:
    """Every module of the package whose source holds an example, by name."""
    found = []
    for info in pkgutil.walk_packages(pulse.__path__, "pulse."):
        spec = importlib.util.find_spec(info.name)
        if spec and spec.origin and spec.origin.endswith(".py"):
            with open(spec.origin, encoding="utf-8") as source:
                if ">>>" in source.read():
                    found.append(info.name)
    return found


@pytest.mark.parametrize("name", modules_with_examples())
def test_the_examples_in_a_module_run_as_written(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name}: no example found by doctest"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
