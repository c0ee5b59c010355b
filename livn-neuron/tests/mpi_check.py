"""Run a culture on however many ranks this was started with and save the gathered spikes (rank 0).

Usage: ``[mpiexec -n N] python mpi_check.py OUT.npz [SYSTEM] [DURATION_MS]``. ``test_mpi.py`` runs
it on 1 and 2 ranks and compares; it also checks that every rank only returns its own cells.
"""

from __future__ import annotations

import sys

import numpy as np


def main(out: str, system: str = "EI2", duration: float = 200.0) -> None:
    from livn import make
    from livn.stimulus import Stimulus

    env = make(system, backend="neuron", seed=11, record=("spikes", "voltage"))
    # the moderate-conductance regime tuned for EI3/EI4, so that both stimuli visibly act
    env.set_noise(env.model.noise_defaults("EI3")).set_weights(env.model.weight_defaults("EI3"))
    size = 1 if env.comm is None else env.comm.Get_size()
    # three continued runs: spontaneous, a current step on ten cells, an MEA pulse train on channel 0
    first = env.run(duration / 2)
    step = Stimulus(np.full((int(duration / 8 / 0.05), 10), 0.05), dt=0.05, gids=np.arange(10), input_mode="current")
    second = env.run(duration / 4, stimulus=step)
    pulses = Stimulus.biphasic_pulse(len(env.io.electrode_coordinates), 0, amplitude=20.0,
                                     pulse_times=(0.0, 20.0), duration=duration / 4, dt=0.05)
    third = env.run(duration / 4, stimulus=env.cell_stimulus(pulses, dt=0.05))
    run = first.concat(second).concat(third)
    if size > 1:
        rank = env.comm.Get_rank()
        # partitioned loading: this rank read only the rows onto its own cells, and the ranks'
        # rows together are the whole table, each once
        held = env.network.local_rows
        assert env.system.partitioning == (rank, size)
        assert np.all(env.network.local_post % size == rank)
        counts = env.comm.allgather(held.size)
        assert sum(counts) == env.network.num_rows and max(counts) < env.network.num_rows, counts
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
