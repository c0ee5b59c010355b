"""Environment variables the NEURON backend reads, each documented once here (read when used)."""

from __future__ import annotations

__all__ = ["MPI_LIB_NRN_PATH", "NEURON_MODULE_OPTIONS", "NRNIVMODL", "LIVN_NEURON_MECHANISMS"]

#: NEURON's own variable: the MPI library NEURON dlopens. When unset and MPI is used, livn-neuron
#: sets it to the libmpi that mpi4py loaded, so NEURON and mpi4py share one MPI.
MPI_LIB_NRN_PATH = "MPI_LIB_NRN_PATH"

#: NEURON's own variable: options for ``import neuron``; livn-neuron defaults it to ``-nogui``.
NEURON_MODULE_OPTIONS = "NEURON_MODULE_OPTIONS"

#: Path of the ``nrnivmodl`` executable to compile the mechanisms with (default: the one installed
#: beside the running Python, else the first on ``PATH``).
NRNIVMODL = "LIVN_NRNIVMODL"

#: A directory that already holds compiled livn mechanisms (``<arch>/libnrnmech.so``); skips the
#: automatic build. Default: compile on first use into ``$LIVN_CACHE_DIR/neuron-mechanisms/<hash>``.
LIVN_NEURON_MECHANISMS = "LIVN_NEURON_MECHANISMS"
