"""The OU noise of every section is the documented Random123 stream and schedule (shared with livn-diffrax).

Reference: :mod:`livn.testing.random123` (Philox4x32-10 and NEURON's ``nrnran123`` layout in plain
Python, from the published definitions), streams keyed
``(gid + 1, section + 1, seed)``, xi_e before xi_i, only components with std > 0 drawing, and the
updates at ``h, 2h, ...`` that are due by the middle of a step (within 1 % of ``h``) applied in it.
livn-diffrax draws the same numbers, so one seed is one noise realisation on both backends.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from livn.system import ParallelSystem
from livn.testing.random123 import KNOWN_ANSWERS, Stream, philox4x32
from livn_neuron.env import Env

NOISE = {"g_e0": 0.001, "g_i0": 0.005, "std_e": 0.0005, "std_i": 0.0025, "tau_e": 2.728, "tau_i": 10.49}


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_reference_philox_known_answers(counter, key, expected):
    assert philox4x32(counter, key) == expected


def _reference(gid, site, seed, on, dt, steps, h):
    """[steps, 2] deviations (g_e1, g_i1) in force during each step."""
    stream = Stream(gid + 1, site + 1, seed)
    g, done, out = [0.0, 0.0], 0, []
    for step in range(steps):
        due = math.floor((step + 0.5) * dt / h + 0.01)
        while done < due:
            for c, name in enumerate(("e", "i")):
                decay = math.exp(-h / NOISE[f"tau_{name}"])
                g[c] *= decay
                if on[c]:
                    g[c] += NOISE[f"std_{name}"] * math.sqrt(1.0 - decay * decay) * stream.normal()
            done += 1
        out.append(list(g))
    return np.array(out)


@pytest.mark.parametrize("dt", [0.025, 0.05, 0.0125])
def test_noise_streams_and_schedule(dt):
    seed, steps = 9, 60
    env = Env(ParallelSystem({"EXC": 1, "INH": 1}), model="rcsd", seed=seed)
    env.set_noise(NOISE)
    env.init()
    h = env.model.constants["noise_h"]
    records = []
    for cell, site, pp in env._noise:
        records.append((cell, site, env.h.Vector().record(pp._ref_g_e1), env.h.Vector().record(pp._ref_g_i1)))
    env.run(steps * dt, dt=dt)
    for cell, site, ge, gi in records:
        on = (not (cell.kind == "EXC" and site == "soma"), not (cell.kind == "EXC" and site == "dend"))
        got = np.stack([ge.as_numpy()[1 : steps + 1], gi.as_numpy()[1 : steps + 1]], axis=1)
        expected = _reference(cell.gid, {"soma": 0, "dend": 1}[site], seed, on, dt, steps, h)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-18, err_msg=f"gid {cell.gid} {site} dt {dt}")
    env.close()
