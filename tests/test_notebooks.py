"""Every notebook in notebooks/ runs from top to bottom without an error.

Each notebook is executed with nbclient in a fresh "python3" Jupyter kernel, in a
temporary working directory, within 300 s for the whole notebook. The kernel gets
``PYTHONPATH`` pointing at the directory that holds the ``gru_py`` package this test
process imported, so that it runs the same code as the rest of the suite (the source
tree or an installed copy, whichever pytest picked up); a probe cell appended to the
notebook checks that it did. The notebooks' own ``assert`` cells (quickstart: the test
MSE is at least ten times below the adding-problem baseline) make these runs tests of
results, not only of the absence of exceptions.

The notebooks are committed with their outputs; the second test checks that they are
complete, so that a notebook saved half-run or with an error shown does not get in.
"""

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import gru_py

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TIMEOUT = 300
KERNEL = "python3"

# The marker line lets the test find the probe's output among the notebook's.
PROBE = ("import json, gru_py\n"
         "print('GRU_PY_PROBE ' + json.dumps(gru_py.__file__))")


def _package_parent():
    """The directory to put on PYTHONPATH so that ``import gru_py`` finds this package."""
    return str(Path(gru_py.__file__).resolve().parent.parent)


def test_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] and "quickstart.ipynb" in [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    pythonpath = os.pathsep.join(
        [_package_parent()] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH")
                               else []))
    env = dict(os.environ, PYTHONPATH=pythonpath)
    deadline = time.monotonic() + TIMEOUT

    def remaining(cell):
        """Each cell may use what the earlier ones left of the notebook's budget."""
        return max(1, int(deadline - time.monotonic()))

    client = NotebookClient(nb, timeout_func=remaining, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(tmp_path)}})
    # A cell that raises (a failing assert included) makes execute raise
    # CellExecutionError, naming the cell and showing its traceback; a cell still
    # running at the deadline raises CellTimeoutError.
    client.execute(env=env)

    probe = "".join(out.get("text", "") for out in nb.cells[-1].outputs
                    if out.output_type == "stream")
    assert probe.startswith("GRU_PY_PROBE "), f"probe cell printed {probe!r}"
    kernel_file = json.loads(probe[len("GRU_PY_PROBE "):].strip())
    assert Path(kernel_file).resolve() == Path(gru_py.__file__).resolve()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_with_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == KERNEL
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "a notebook without code cells"
    # Executed once, top to bottom: execution counts 1, 2, 3, ...
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    for cell in code:
        for out in cell.outputs:
            assert out.output_type != "error", f"an error output is committed:\n{cell.source}"
            if out.output_type == "stream":
                assert out.name == "stdout", f"stderr output is committed:\n{out.text}"


def test_quickstart_shows_its_plot():
    nb = nbformat.read(NOTEBOOK_DIR / "quickstart.ipynb", as_version=4)
    images = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if "image/png" in out.get("data", {})]
    assert len(images) == 1
