"""Builds gru_py's C extension (csrc/*.c + csrc/binding/_core.c) against OpenBLAS.

OpenBLAS comes from one of two places, chosen by the environment variable GRU_PY_BLAS:

* ``scipy-openblas`` (default): the PyPI package scipy-openblas32, pinned in
  pyproject.toml's build requirements. Its shared library is copied into the package
  (``gru_py/.libs``) and found at run time through the relative rpath ``$ORIGIN/.libs``,
  so the installed package depends neither on scipy-openblas32 nor on pip's temporary
  build environment.
* ``system``: an OpenBLAS found by ``pkg-config openblas`` (for example Debian's
  libopenblas-dev), linked as it is; nothing is copied.
"""

import glob
import os
import shlex
import shutil
import subprocess

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
BLAS_CHOICES = ("scipy-openblas", "system")
VENDOR_DIR = ".libs"


def _pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "openblas"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(
            "GRU_PY_BLAS=system: `pkg-config openblas` failed; install OpenBLAS's "
            f"development files or unset GRU_PY_BLAS ({exc})") from exc
    return shlex.split(out)


def blas_build_settings():
    """Returns (Extension keyword arguments, shared libraries to copy into the package)."""
    choice = os.environ.get("GRU_PY_BLAS", "scipy-openblas").strip().lower()
    if choice == "system":
        return {
            "define_macros": [("GP_BLAS_SYSTEM", "1")],
            "extra_compile_args": _pkg_config("--cflags"),
            "extra_link_args": _pkg_config("--libs"),
        }, []
    if choice == "scipy-openblas":
        import scipy_openblas32

        lib_dir = scipy_openblas32.get_lib_dir()
        # The libraries OpenBLAS itself needs (a bundled libgfortran in some builds)
        # sit in the wheel's ".libs" folder next to the package.
        bundled = os.path.join(os.path.dirname(os.path.dirname(lib_dir)),
                               "scipy_openblas32.libs")
        shared = [p for d in (lib_dir, bundled) for p in glob.glob(os.path.join(d, "*.so*"))]
        return {
            "library_dirs": [lib_dir],
            "libraries": [scipy_openblas32.get_library()],
            "extra_link_args": [f"-Wl,-rpath,$ORIGIN/{VENDOR_DIR}"],
        }, shared
    raise SystemExit(f"GRU_PY_BLAS must be one of {BLAS_CHOICES}, got {choice!r}")


BLAS_KWARGS, VENDORED_LIBS = blas_build_settings()


class build_ext_with_blas(build_ext):
    """build_ext that also places the vendored OpenBLAS beside the extension.

    The extension and the libraries are copied into the source tree's ``gru_py/`` too
    (both are git-ignored), so that ``python -m gru_py`` run from the repository root,
    where the source package shadows the installed one, finds its extension as well.
    """

    def run(self):
        super().run()
        for ext in self.extensions:
            built = self.get_ext_fullpath(ext.name)
            package_dirs = {os.path.dirname(built), os.path.join(HERE, "gru_py")}
            for package_dir in package_dirs:
                self._place(built, package_dir)

    def _place(self, built, package_dir):
        target = os.path.join(package_dir, os.path.basename(built))
        if os.path.abspath(target) != os.path.abspath(built):
            _replace(built, target)
        if VENDORED_LIBS:
            libs = os.path.join(package_dir, VENDOR_DIR)
            os.makedirs(libs, exist_ok=True)
            for lib in VENDORED_LIBS:
                _replace(lib, os.path.join(libs, os.path.basename(lib)))


def _replace(source, target):
    """Copies to a temporary name and renames over the target: a running process that
    has the old shared library mapped keeps its file instead of seeing it rewritten."""
    temp = f"{target}.{os.getpid()}.tmp"
    shutil.copy2(source, temp)
    os.replace(temp, target)


core = Extension(
    "gru_py._core",
    sources=sorted(glob.glob("csrc/*.c")) + sorted(glob.glob("csrc/binding/*.c")),
    include_dirs=["csrc", numpy.get_include()],
    define_macros=BLAS_KWARGS.get("define_macros", []),
    library_dirs=BLAS_KWARGS.get("library_dirs", []),
    libraries=BLAS_KWARGS.get("libraries", []),
    # -fno-math-errno: the core never reads errno, and without it a sqrtf in a loop (the
    # optimizers') keeps the loop scalar. -std=c11 also keeps multiply-adds unfused.
    extra_compile_args=["-std=c11", "-O3", "-fno-math-errno", "-pthread",
                        *BLAS_KWARGS.get("extra_compile_args", [])],
    extra_link_args=["-pthread", *BLAS_KWARGS.get("extra_link_args", [])],
)

setup(
    ext_modules=[core],
    cmdclass={"build_ext": build_ext_with_blas},
    package_data={"gru_py": [f"{VENDOR_DIR}/*.so*"]},
)
