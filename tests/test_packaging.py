"""Packaging of the installed gru_py: it imports from anywhere, ships its OpenBLAS next
to the extension and finds it through a relative rpath, honours OPENBLAS_NUM_THREADS,
and does not depend on scipy-openblas32 at run time.

Every check looks at the installed package as a fresh interpreter imports it from an
unrelated directory, so a source checkout on sys.path cannot stand in for it.
"""

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

VENDORED_OPENBLAS = "libscipy_openblas.so"

# Prints where gru_py was imported from, its BLAS info and the OpenBLAS actually mapped
# into the process.
PROBE = """
import json
import gru_py
from gru_py import _native

with open("/proc/self/maps") as maps:
    mapped = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
print(json.dumps({
    "package": gru_py.__file__,
    "extension": _native._core.__file__,
    "blas_info": gru_py.blas_info(),
    "mapped_openblas": mapped,
}))
"""

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def run_probe(cwd, **env_overrides):
    """Runs PROBE in a new interpreter in `cwd`, without PYTHONPATH or thread settings
    inherited from the test run; returns its JSON."""
    env = {key: value for key, value in os.environ.items()
           if key != "PYTHONPATH" and key not in THREAD_VARIABLES}
    env.update(env_overrides)
    child = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env,
                           capture_output=True, text=True, check=False)
    assert child.returncode == 0, f"import gru_py failed in {cwd}:\n{child.stderr}"
    return json.loads(child.stdout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return run_probe(tmp_path_factory.mktemp("elsewhere"))


def readelf_dynamic(path):
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.fail("readelf not found: install binutils (it comes with gcc toolchains) to "
                    "inspect the extension's dynamic section")
    return subprocess.run([readelf, "-d", "-W", str(path)], check=True, capture_output=True,
                          text=True).stdout


def search_paths(dynamic):
    """Entries of RUNPATH and RPATH in `readelf -d` output."""
    found = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]", dynamic)
    return [entry for value in found for entry in value.split(":")]


def needed(dynamic):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]*)\]", dynamic)


# ---------------------------------------------------------------------------------- #


def test_imports_from_another_directory_with_blas_info(tmp_path):
    info = run_probe(tmp_path)
    assert not Path(info["package"]).is_relative_to(tmp_path)
    blas = info["blas_info"]
    assert set(blas) == {"config", "num_threads"}
    assert isinstance(blas["config"], str) and "OpenBLAS" in blas["config"]
    assert isinstance(blas["num_threads"], int) and blas["num_threads"] >= 1


def test_vendored_openblas_is_found_through_a_relative_rpath(installed):
    extension = Path(installed["extension"])
    libs = extension.parent / ".libs"
    dynamic = readelf_dynamic(extension)
    if not libs.is_dir():
        if "OpenBLAS" in installed["blas_info"]["config"] and not any(
                VENDORED_OPENBLAS in lib for lib in needed(dynamic)):
            pytest.skip("built with GRU_PY_BLAS=system (linked to the system OpenBLAS, "
                        "nothing vendored); the CI build uses the default scipy-openblas")
        pytest.fail(f"{libs} is missing although the extension needs {needed(dynamic)}")

    vendored = libs / VENDORED_OPENBLAS
    assert vendored.is_file(), f"{vendored} is not shipped"
    assert VENDORED_OPENBLAS in needed(dynamic)
    assert "$ORIGIN/.libs" in search_paths(dynamic), (
        f"no RUNPATH/RPATH entry $ORIGIN/.libs in:\n{dynamic}")
    for leak in ("pip-build-env", "/tmp/"):
        assert leak not in dynamic, f"build path {leak!r} in the dynamic section:\n{dynamic}"
    # The loader really picked the vendored copy, not one found elsewhere (NumPy's own
    # OpenBLAS, under another name, is mapped too).
    loaded = [str(Path(p).resolve()) for p in installed["mapped_openblas"]
              if Path(p).name == VENDORED_OPENBLAS]
    assert loaded == [str(vendored.resolve())]


def test_vendored_openblas_is_recorded_in_the_distribution(installed):
    """RECORD lists the library, so it is part of the wheel and uninstalled with it."""
    libs = Path(installed["extension"]).parent / ".libs"
    if not libs.is_dir():
        pytest.skip("no vendored OpenBLAS (GRU_PY_BLAS=system build)")
    files = importlib.metadata.files("gru_py") or []
    assert any(str(path).replace("\\", "/").endswith(f".libs/{VENDORED_OPENBLAS}")
               for path in files)


def test_openblas_num_threads_is_honoured(tmp_path):
    info = run_probe(tmp_path, OPENBLAS_NUM_THREADS="1")
    assert info["blas_info"]["num_threads"] == 1


def _requirement_name(requirement):
    return re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0].lower().replace(
        "_", "-").replace(".", "-")


def test_runtime_requirements_are_numpy_not_scipy_openblas():
    requires = importlib.metadata.requires("gru_py") or []
    unconditional = {_requirement_name(r) for r in requires if ";" not in r}
    everything = {_requirement_name(r) for r in requires}
    assert "numpy" in unconditional, requires
    assert not {name for name in everything if name.startswith("scipy-openblas")}, requires
