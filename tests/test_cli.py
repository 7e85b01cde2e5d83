"""The `pulse` command's dispatch: every command and service argparse accepts runs its own
handler (an if-chain once sent an unknown `serve` target to ingest and anything else to
simulate)."""

from __future__ import annotations

import argparse

import pytest

from pulse import cli


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def test_every_command_has_its_own_handler() -> None:
    assert set(_choices(cli.build_parser())) == set(cli._COMMANDS)


def test_every_service_has_its_own_handler_and_no_other_is_accepted() -> None:
    serve = _choices(cli.build_parser())["serve"]
    (service,) = [a for a in serve._actions if a.dest == "service"]
    assert set(service.choices) == set(cli._SERVICES)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "nonsense"])
