"""The tutorial notebook under docs/ runs from top to bottom (executed with nbclient, so it cannot rot)."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_tutorial_notebook_runs_and_shows_its_results():
    notebook = nbformat.read(DOCS / "tutorial.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(DOCS)}}).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    texts = [out.get("data", {}).get("text/plain", "") for out in outputs]
    assert any("'load':" in text for text in texts)  # the energy summary
    assert any("max SOC spread %" in text for text in texts)  # the strategy table
    assert any("application/vnd.plotly.v1+json" in out.get("data", {}) for out in outputs)  # an inline figure
    assert any("image/png" in out.get("data", {}) for out in outputs)  # the spread plot
    load_kwh = float(texts[-1])
    assert load_kwh == pytest.approx(0.35 * 24)
