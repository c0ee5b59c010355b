"""Finding mpiexec and mpi4py for the tests that run under MPI (the optional ``mpi`` extra).

Without them such a test skips, unless ``LIVN_REQUIRE_MPI=1`` (the nox ``mpi`` session, which installs
them): there it fails, so a broken MPI install never passes as a skip.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def require_mpiexec() -> str:
    """The path of mpiexec (beside this Python or on PATH), with mpi4py importable; else skip or fail."""
    mpiexec = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    try:
        import mpi4py  # noqa: F401
    except ImportError as exc:
        missing = f"mpi4py does not import ({exc})"
    else:
        missing = None if mpiexec else "mpi4py is installed but no mpiexec was found"
    if missing is None:
        return mpiexec
    if os.environ.get("LIVN_REQUIRE_MPI") == "1":
        pytest.fail(f"LIVN_REQUIRE_MPI=1 but {missing}: pip install mpich mpi4py (livn-core[mpi])")
    pytest.skip(f"{missing} (pip install mpich mpi4py; LIVN_REQUIRE_MPI=1 makes this a failure)")
