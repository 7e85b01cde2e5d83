"""The notebooks run top to bottom on what the jobs wrote, and draw their plots.

Each is executed in a real Jupyter kernel (nbclient) with the environment pointing at the
`produced` stores; the executed copy, outputs and plots included, is kept in
test-artifacts/notebooks/ for a reader to open.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from pulse.config import PROJECT_ROOT
from tests.stacks import Stores

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "notebooks"


def test_there_are_notebooks_for_the_lake_emoji_and_performance():
    names = {path.stem for path in NOTEBOOKS}
    assert len(names) >= 3, names
    assert any("lake" in name for name in names)
    assert any("emoji" in name for name in names)
    assert any("performance" in name for name in names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_runs_top_to_bottom_and_draws_its_plots(
    path: Path, produced: Stores, monkeypatch: pytest.MonkeyPatch
):
    produced.apply(monkeypatch)  # the kernel inherits this process's environment
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    try:
        client.execute()  # a cell that raises fails the test with that cell's traceback
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, ARTIFACTS / path.name)

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    plotting = [cell for cell in code if "plt.show()" in cell.source]
    drawn = [
        cell
        for cell in plotting
        if any("image/png" in output.get("data", {}) for output in cell.outputs)
    ]
    assert plotting, f"{path.name} draws no plot"
    missing = len(plotting) - len(drawn)
    assert missing == 0, f"{missing} plots of {path.name} are missing"
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors
