"""What an MPI launcher (``mpiexec``, ``srun``) told this process, read without importing MPI.

Launchers set the job's size and this process's rank in the environment of every rank (MPICH/Hydra
``PMI_SIZE``/``PMI_RANK``, Open MPI ``OMPI_COMM_WORLD_SIZE``/``OMPI_COMM_WORLD_RANK``, PMIx, Intel
MPI, Slurm). livn reads them to decide, before MPI is initialised, whether a run spans ranks.
"""

from __future__ import annotations

import os

__all__ = ["launched_under_mpi", "launcher_rank", "launcher_size"]

#: Variables MPI launchers set to the number of ranks, tried in order.
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS")
#: Variables MPI launchers set to this process's rank, tried in order.
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MPI_LOCALRANKID", "SLURM_PROCID")


def _first_number(names: tuple[str, ...]) -> int | None:
    for name in names:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None


def launcher_size() -> int:
    """The number of ranks the launcher started (1 when not started by one)."""
    return max(_first_number(SIZE_VARIABLES) or 1, 1)


def launcher_rank() -> int:
    """This process's rank as the launcher numbered it (0 when not started by one)."""
    return _first_number(RANK_VARIABLES) or 0


def launched_under_mpi() -> bool:
    """True when an MPI launcher started this process as one of several ranks."""
    return launcher_size() > 1
