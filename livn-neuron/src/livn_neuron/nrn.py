"""Importing NEURON so that it and mpi4py agree on MPI.

NEURON's pip wheels load MPI at run time from ``MPI_LIB_NRN_PATH``. If that points at a different
MPI than mpi4py's (or is unset), NEURON silently runs every rank as its own one-rank world. So,
before NEURON is imported for an MPI run, :func:`import_neuron` finds the ``libmpi`` that mpi4py
loaded (``/proc/self/maps`` on Linux, ``dladdr`` elsewhere) and exports it as
``MPI_LIB_NRN_PATH`` unless the user set it. Pip-only install path::

    pip install livn-core livn-neuron mpich mpi4py
    mpiexec -n 2 python script.py

(mpi4py then builds against, or its wheel loads, the mpich wheel's ``lib/libmpi.so.12``;
``libmpi.so`` in that wheel is a linker script NEURON cannot dlopen, which is why the versioned
file is used.) With a system MPI: ``MPICC=mpicc pip install --no-binary mpi4py mpi4py`` and run
with that MPI's ``mpiexec``; the same discovery applies.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any

from livn.launcher import launched_under_mpi

from livn_neuron import settings

__all__ = ["import_neuron", "launched_under_mpi", "mpi_library_path", "neuron_mpi_size"]


def mpi_library_path() -> str | None:
    """The file of the MPI library mpi4py has loaded in this process, or None if not found."""
    from mpi4py import MPI  # noqa: F401  (loads libmpi)

    maps = Path("/proc/self/maps")
    if maps.exists():
        candidates = []
        for line in maps.read_text().splitlines():
            path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
            name = os.path.basename(path)
            if name.startswith(("libmpi.so", "libmpi_", "libmpich.so")) and "libmpi_cxx" not in name:
                if path not in candidates:
                    candidates.append(path)
        # prefer the main library over ABI shims
        candidates.sort(key=lambda p: (not os.path.basename(p).startswith("libmpi.so"), p))
        if candidates:
            return candidates[0]
    return _dladdr_mpi()


def _dladdr_mpi() -> str | None:
    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]

    try:
        libdl = ctypes.CDLL(None)
        symbol = ctypes.cast(libdl.MPI_Init, ctypes.c_void_p)
        info = DlInfo()
        if libdl.dladdr(symbol, ctypes.byref(info)) and info.dli_fname:
            return info.dli_fname.decode()
    except (AttributeError, OSError):
        return None
    return None


def import_neuron(use_mpi: bool) -> Any:
    """NEURON's ``h``, imported so that ``ParallelContext`` spans the MPI world when ``use_mpi``.

    Raises RuntimeError, with what to do, when NEURON was already imported without MPI or cannot
    load the MPI library.
    """
    os.environ.setdefault(settings.NEURON_MODULE_OPTIONS, "-nogui")
    already = "neuron" in sys.modules
    world_size = 1
    if use_mpi:
        from mpi4py import MPI

        world_size = MPI.COMM_WORLD.Get_size()
        if not already and world_size > 1 and not os.environ.get(settings.MPI_LIB_NRN_PATH):
            path = mpi_library_path()
            if path:
                os.environ[settings.MPI_LIB_NRN_PATH] = path
    from neuron import h

    if use_mpi and world_size > 1:
        size = neuron_mpi_size(h)
        if size != world_size:
            if size == 1:
                h.nrnmpi_init()
                size = neuron_mpi_size(h)
            if size != world_size:
                raise RuntimeError(
                    f"NEURON sees {size} MPI rank(s) but mpi4py sees {world_size}. "
                    + ("NEURON was imported before livn-neuron could point it at mpi4py's MPI; "
                       "import livn (or create the Env) before importing neuron, or "
                       if already else "")
                    + f"set {settings.MPI_LIB_NRN_PATH} to the libmpi mpi4py uses "
                    f"(found: {os.environ.get(settings.MPI_LIB_NRN_PATH) or mpi_library_path()!r}); "
                    "for the mpich wheel that is <venv>/lib/libmpi.so.12, not libmpi.so"
                )
    return h


def neuron_mpi_size(h: Any) -> int:
    """Number of ranks NEURON's ParallelContext spans."""
    return int(h.ParallelContext().nhost())
