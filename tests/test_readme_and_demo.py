"""The README's examples run as written, and the demo runs end to end."""

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from gru_py.datasets import ADDING_BASELINE_MSE, adding_problem

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _python_blocks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_the_two_setup_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install . && python -m gru_py" in text
    assert 'pip install ".[test]" && pytest' in text


def test_readme_python_examples_run():
    blocks = _python_blocks()
    assert blocks, "README.md has no python examples"
    namespace = {}
    for block in blocks:  # later blocks use names from earlier ones, as a reader would
        exec(compile(block, "README.md", "exec"), namespace)


def test_adding_problem_matches_its_definition():
    x, y = adding_problem(500, 12, seed=3)
    assert x.shape == (500, 12, 2) and y.shape == (500, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    markers = x[:, :, 1]
    np.testing.assert_array_equal(markers.sum(axis=1), 2.0)
    assert (markers[:, :6].sum(axis=1) == 1).all(), "one marker in the first half"
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(axis=1), rtol=1e-6)
    # The constant guess 1.0 scores about 1/6 on a large sample.
    _, y_big = adding_problem(200_000, 4, seed=0)
    assert abs(float(np.mean((y_big - 1.0) ** 2)) - ADDING_BASELINE_MSE) < 0.005


@pytest.mark.parametrize("samples, length", [(0, 10), (10, 1)])
def test_adding_problem_rejects_bad_sizes(samples, length):
    with pytest.raises(ValueError, match="adding_problem"):
        adding_problem(samples, length)


def test_demo_runs_and_reports(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gru_py", "--length", "8", "--units", "8", "--epochs", "2",
         "--samples", "256"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "Epoch 2/2" in result.stdout
    mse = float(re.search(r"Test MSE ([0-9.]+)", result.stdout).group(1))
    assert np.isfinite(mse)


def test_demo_rejects_bad_options(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gru_py", "--length", "1"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "--length" in result.stderr
