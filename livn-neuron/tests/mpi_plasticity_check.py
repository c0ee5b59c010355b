"""Learn on however many ranks this was started with; save the learned weights and gathered recordings (rank 0).

Usage: ``[mpiexec -n N] python mpi_plasticity_check.py OUT.npz``. ``test_neuron_mpi.py`` runs it on
1 and 2 ranks: the learned weights (every row on every rank) must not depend on the rank count.
"""

from __future__ import annotations

import sys

import numpy as np


def main(out: str) -> None:
    from livn import make
    from livn.plasticity import STDP, TsodyksMarkram

    env = make("EI2", backend="neuron", seed=11, record=("spikes",))
    env.set_noise(env.model.noise_defaults("EI3")).set_weights(env.model.weight_defaults("EI3"))
    env.enable_plasticity({"EXC->EXC": STDP(a_plus=0.05), "EXC->INH": [STDP(a_plus=0.05), TsodyksMarkram()]})
    env.record_weights(dt=5.0)
    name = env.weight_names[0]
    env.record_conductance(name, dt=1.0)
    size = 1 if env.comm is None else env.comm.Get_size()
    run = env.run(100.0).concat(env.run(100.0))
    weights = env.get_weights().values
    if size > 1:
        run = run.gather(env.comm)
        if env.comm.Get_rank() != 0:
            return
    np.savez(out, weights=weights, size=size, row_weights=env.row_weights(), ids=np.asarray(run.spikes.ids),
             times=np.asarray(run.spikes.times), rec_ids=np.asarray(run.weights.ids), rec=np.asarray(run.weights.values),
             g_ids=np.asarray(run.conductance.ids), g=np.asarray(run.conductance.values))


if __name__ == "__main__":
    main(sys.argv[1])
