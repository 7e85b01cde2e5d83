"""A Spark standalone cluster for the module: a master and two workers of one core each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pulse.local.standalone import Standalone, standalone_cluster


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    with standalone_cluster(tmp_path_factory.mktemp("standalone"), workers=2) as cluster:
        yield cluster
