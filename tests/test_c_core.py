"""Builds and runs the C unit tests of the core under AddressSanitizer + UBSan.

``test_core_under_sanitizers`` compiles ``csrc/*.c`` together with
``csrc/tests/test_core.c`` using gcc (``-std=c11 -g -O1
-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
-DGP_DEBUG -Wall -Wextra -Werror``), links the OpenBLAS shipped with the
package (``libscipy_openblas.so``), runs the binary with
``OPENBLAS_NUM_THREADS=1`` and ``ASAN_OPTIONS=detect_leaks=1``, and requires
exit code 0 and a ``N passed, 0 failed`` summary line.
``test_core_compiles_without_warnings`` compiles every ``csrc/*.c`` on its own
with strict warnings (``-Wpedantic -Wconversion -Wshadow -Werror``), no
sanitizers. Everything is built in pytest's ``tmp_path``.

OpenBLAS is looked up in ``<gru_py package dir>/.libs`` without importing
gru_py (its C extension is not needed here). Environment overrides:

* ``GRU_PY_TEST_BLAS_DIR``: directory holding ``libscipy_openblas.so``
  (e.g. the ``scipy_openblas32/lib`` directory of the scipy-openblas32 wheel).
* ``GRU_PY_TEST_BLAS_SYSTEM=1``: link a system OpenBLAS instead, found with
  ``pkg-config --libs openblas``, and build with ``-DGP_BLAS_SYSTEM``.

A C compiler is a documented requirement, so a missing gcc fails the tests
rather than skipping them.
"""

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CSRC = REPO / "csrc"
TEST_SOURCE = CSRC / "tests" / "test_core.c"
BLAS_LIB = "libscipy_openblas.so"

SANITIZER_FLAGS = [
    "-std=c11", "-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer", "-DGP_DEBUG", "-Wall", "-Wextra", "-Werror",
]
STRICT_FLAGS = [
    "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow", "-Werror",
    "-O2", "-c",
]
COMPILE_TIMEOUT = 120
RUN_TIMEOUT = 300
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


def _gcc():
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc not found: the C core tests need a C compiler (see the README)",
                    pytrace=False)
    return gcc


def _core_sources():
    sources = sorted(CSRC.glob("*.c"))
    assert sources, f"no C sources found in {CSRC}"
    return sources


def _run(cmd, timeout, env=None):
    """Runs cmd and returns (exit code, stdout + stderr)."""
    try:
        proc = subprocess.run(cmd, check=False, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        out = exc.output or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        pytest.fail(f"timed out after {timeout} s: {' '.join(map(str, cmd))}\n{out}")
    return proc.returncode, proc.stdout


def _blas_link_args():
    """Compiler arguments that link OpenBLAS: the package's copy unless overridden."""
    if os.environ.get("GRU_PY_TEST_BLAS_SYSTEM") == "1":
        try:
            libs = subprocess.run(["pkg-config", "--libs", "openblas"], check=True,
                                  capture_output=True, text=True).stdout.split()
        except (OSError, subprocess.CalledProcessError) as exc:
            pytest.fail(f"GRU_PY_TEST_BLAS_SYSTEM=1 but pkg-config found no openblas: {exc}")
        return ["-DGP_BLAS_SYSTEM", *libs]

    override = os.environ.get("GRU_PY_TEST_BLAS_DIR")
    if override:
        blas_dir = Path(override)
        origin = "GRU_PY_TEST_BLAS_DIR"
    else:
        # find_spec locates the top-level package without running its __init__, so the
        # compiled extension is neither needed nor loaded.
        spec = importlib.util.find_spec("gru_py")
        if spec is None or not spec.submodule_search_locations:
            pytest.fail("gru_py is not importable, so its OpenBLAS cannot be found; build it, "
                        "or set GRU_PY_TEST_BLAS_DIR to a directory holding " + BLAS_LIB)
        blas_dir = Path(next(iter(spec.submodule_search_locations))) / ".libs"
        origin = "the gru_py package"
    if not (blas_dir / BLAS_LIB).is_file():
        pytest.fail(f"{BLAS_LIB} not found in {blas_dir} (from {origin}); build gru_py or set "
                    "GRU_PY_TEST_BLAS_DIR")
    blas_dir = blas_dir.resolve()
    return [f"-L{blas_dir}", "-lscipy_openblas", f"-Wl,-rpath,{blas_dir}"]


@pytest.fixture(scope="module", params=["simd", "scalar"])
def sanitized_binary(request, tmp_path_factory):
    """The C tests built under the sanitizers, with the AVX2 activations or with the
    scalar fallback only (-DGP_NO_SIMD). The parallel threshold is lowered so that the
    tests' small batches also run split across threads."""
    gcc = _gcc()
    binary = tmp_path_factory.mktemp(request.param) / "test_core"
    variant = ["-DGP_NO_SIMD"] if request.param == "scalar" else []
    cmd = [gcc, *SANITIZER_FLAGS, *variant, "-DGP_MIN_PARALLEL_WORK=1", "-pthread",
           f"-I{CSRC}", *map(str, _core_sources()), str(TEST_SOURCE), "-o", str(binary),
           *_blas_link_args(), "-lm"]
    code, out = _run(cmd, COMPILE_TIMEOUT)
    assert code == 0, f"compiling the C tests failed ({code}):\n{' '.join(cmd)}\n{out}"
    return binary


@pytest.mark.parametrize("threads", ["1", "2"])
def test_core_under_sanitizers(sanitized_binary, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, ASAN_OPTIONS="detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    code, out = _run([str(sanitized_binary)], RUN_TIMEOUT, env=env)
    assert code == 0, f"C core tests failed (exit code {code}):\n{out}"
    summary = SUMMARY.findall(out)
    assert summary, f"no 'N passed, N failed' line in the output:\n{out}"
    passed, failed = map(int, summary[-1])
    assert failed == 0 and passed > 0 and " 0 failed" in out, out


def test_core_compiles_without_warnings(tmp_path):
    gcc = _gcc()
    errors = []
    for source in _core_sources():
        cmd = [gcc, *STRICT_FLAGS, str(source), "-o", str(tmp_path / (source.stem + ".o"))]
        code, out = _run(cmd, COMPILE_TIMEOUT)
        if code != 0:
            errors.append(f"$ {' '.join(cmd)}\n{out}")
    assert not errors, "the core does not compile warning-free:\n" + "\n".join(errors)
