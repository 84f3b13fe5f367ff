"""Imports the C extension, with a helpful message when it is missing."""

try:
    from gru_py import _core
except ImportError as exc:  # pragma: no cover - only in a broken or unbuilt checkout
    raise ImportError(
        "gru_py's C extension (gru_py._core) could not be loaded. Install the package with "
        "`pip install .` from the repository root (or `pip install gru_py`); if you are "
        "running from a source checkout that has not been built, run from another "
        f"directory so that the installed package is imported. Cause: {exc}"
    ) from exc

__all__ = ["_core"]
