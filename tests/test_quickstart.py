"""The seed's quick start works verbatim on the selected backend."""

from __future__ import annotations

import numpy as np


def test_quickstart_as_documented(backend_name):
    from livn import make

    env = make("EI2")
    assert env.backend_name == backend_name
    it, t, iv, v, *_ = env.run(100)
    assert len(it) == len(t) and len(it) > 0
    assert np.shape(v) == (len(iv), np.shape(v)[1])
    assert len(iv) == env.system.num_neurons
