"""The data team's notebooks run top to bottom on the shipped data, in a fresh kernel of this interpreter."""
import json
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory, monkeypatch_module) -> str:
    """A kernelspec that starts this very interpreter, found before any user-installed 'python3'."""
    spec_dir = tmp_path_factory.mktemp("jupyter")
    kernel = spec_dir / "kernels" / "laksa-test"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "laksa tests", "language": "python"}))
    monkeypatch_module.setenv("JUPYTER_PATH", str(spec_dir))
    return "laksa-test"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_notebooks_are_numbered_and_stored_without_outputs():
    assert [p.name[:3] for p in PATHS] == [f"{n:02d}_" for n in range(1, len(PATHS) + 1)]
    assert len(PATHS) >= 2
    for path in PATHS:
        notebook = nbformat.read(path, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), \
            f"{path.name} holds outputs: clear them before saving"
        assert "shared" not in "".join(cell.source for cell in code), f"{path.name} must not read ../shared"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_top_to_bottom(path, kernel_name):
    notebook = nbformat.read(path, as_version=4)
    # Raises CellExecutionError, naming the cell, when any cell fails.
    NotebookClient(notebook, timeout=300, kernel_name=kernel_name,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    plots = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(plots) >= 4, f"{path.name} drew {len(plots)} plots; the inline backend may be lost"
