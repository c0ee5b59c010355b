"""Run a culture on however many ranks this was started with and save the gathered spikes (rank 0).

Usage: ``[mpiexec -n N] python mpi_check.py OUT.npz [SYSTEM] [DURATION_MS]``. ``test_mpi.py`` runs
it on 1 and 2 ranks and compares; it also checks that every rank only returns its own cells.
"""

from __future__ import annotations

import sys

import numpy as np


def main(out: str, system: str = "EI2", duration: float = 200.0) -> None:
    from livn import make

    env = make(system, backend="neuron", seed=11, record=("spikes", "voltage"))
    size = 1 if env.comm is None else env.comm.Get_size()
    run = env.run(duration)
    if size > 1:
        rank = env.comm.Get_rank()
        own = np.asarray(run.voltage.ids)
        assert np.all(own % size == rank), "a rank returned cells it does not own"
        assert np.all(np.asarray(run.spikes.ids) % size == rank)
        run = run.gather(env.comm)
        if rank != 0:
            return
    np.savez(out, ids=np.asarray(run.spikes.ids), times=np.asarray(run.spikes.times), size=size,
             voltage_ids=np.asarray(run.voltage.ids))


if __name__ == "__main__":
    main(sys.argv[1], *(sys.argv[2:3]), *(float(x) for x in sys.argv[3:4]))
