"""Running tests under ``mpiexec``: finding MPI, and jobs that fail the test instead of hanging.

:func:`require_mpiexec` skips a test when mpi4py or mpiexec is missing, unless ``LIVN_REQUIRE_MPI=1``
(the nox ``mpi`` session, which installs them): there it fails, so a broken MPI install never passes
as a skip. :func:`run_job` runs a command (usually ``mpiexec -n K ...``) under a timeout and ends every
rank of a job that outlives it. Needs pytest, like the conformance suite.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

__all__ = ["require_mpiexec", "run_job"]


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


def run_job(command: list[str], cwd: str | Path, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    """``(result, seconds)`` of ``command``; one still running after ``timeout`` s is ended (all ranks) and fails the test."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.setdefault("NEURON_MODULE_OPTIONS", "-nogui")
    env.setdefault("MPLBACKEND", "Agg")
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()  # mpiexec ends its ranks on SIGTERM; the group kill is the fallback
        try:
            out, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
        pytest.fail(f"{' '.join(command)} hung: still running after {timeout} s\n{out[-2000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err), time.perf_counter() - start
