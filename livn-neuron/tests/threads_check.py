"""Run EI2 serially, on 2 NEURON threads and on 2 CoreNEURON threads, in one fresh process; save the runs.

Usage: ``python threads_check.py OUT.npz [coreneuron]``. ``test_neuron_threads.py`` runs it in a
process of its own: once a process has used NEURON's ``extracellular`` mechanism (an extracellular
stimulus in an earlier test), NEURON keeps its one-thread solver there and refuses threads.
"""

from __future__ import annotations

import sys

import numpy as np
from neuron_runs import ei2_runs


def main(out: str, with_coreneuron: bool) -> None:
    from livn import make
    from livn.plasticity import TsodyksMarkram

    settings = {"serial": {}, "threads": {"threads": 2}}
    if with_coreneuron:
        settings["coreneuron_threads"] = {"threads": 2, "coreneuron": True}
    arrays = {}
    for name, kwargs in settings.items():
        for k, run in enumerate(ei2_runs(**kwargs)):
            arrays[f"{name}_{k}_ids"] = np.asarray(run.spikes.ids)
            arrays[f"{name}_{k}_times"] = np.asarray(run.spikes.times)
            arrays[f"{name}_{k}_voltage"] = np.asarray(run.voltage.values)
    # a later env runs on its own thread count; short-term plasticity (no postsynaptic NetCons) runs
    env = make("EI1", backend="neuron", record=("spikes",), threads=2)
    env.enable_plasticity({"EXC->EXC": TsodyksMarkram()})
    env.run(5.0)
    arrays["nthread_tm"] = np.asarray(int(env.pc.nthread()))
    env = make({"EXC": 2, "INH": 1}, backend="neuron", record=("spikes",))
    env.run(5.0)
    arrays["nthread_next"] = np.asarray(int(env.pc.nthread()))
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "coreneuron")
