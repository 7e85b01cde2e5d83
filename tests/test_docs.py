"""The documents a user's clone has: every link of the README and of `docs/` names a file
inside the repository (a link to `../shared/...` worked only on the machine it was written on)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pulse.config import PROJECT_ROOT

DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _local_targets(document: Path) -> list[str]:
    """The targets of its Markdown links that are not web addresses or anchors."""
    targets = LINK.findall(document.read_text())
    return [t for t in targets if not re.match(r"^(https?:|mailto:|#)", t)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_a_document_links_only_files_inside_the_repository(document: Path):
    for target in _local_targets(document):
        path = (document.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(PROJECT_ROOT.resolve()), f"{document.name} links {target}"
        assert path.exists(), f"{document.name} links {target}, which does not exist"
