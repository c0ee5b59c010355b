"""The seed's quick start works verbatim on the selected backend."""

from __future__ import annotations

import numpy as np


def test_quickstart_as_documented(backend_name):
    from livn import make

    env = make("EI2")
    assert env.backend_name == backend_name
    it, t, iv, v, *_ = env.run(100)
    assert len(it) == len(t) and len(it) > 0
    assert np.all((np.asarray(t) >= 0) & (np.asarray(t) < 100))
    # every cell's voltage, sampled every 0.1 ms (make()'s default) over the 100 ms
    assert sorted(np.asarray(iv).tolist()) == list(range(env.system.num_neurons))
    assert np.shape(v) == (env.system.num_neurons, 1000)
