"""The OU noise of every section is the documented Random123 stream and schedule (shared with livn-diffrax).

Reference, written from the published definitions: Philox4x32-10 (checked against the Random123
known-answer vector), NEURON's ``nrnran123`` layout (counter ``(seq, id3, id1, id2)``, key
``(0, 0)``, uniforms ``(u + 1) / (2^32 + 1)``, polar normal), streams keyed
``(gid + 1, section + 1, seed)``, xi_e before xi_i, only components with std > 0 drawing, and the
updates at ``h, 2h, ...`` that are due by the middle of a step (within 1 % of ``h``) applied in it.
livn-diffrax draws the same numbers, so one seed is one noise realisation on both backends.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from livn.system import ParallelSystem
from livn_neuron.env import Env

_MASK = 0xFFFFFFFF
NOISE = {"g_e0": 0.001, "g_i0": 0.005, "std_e": 0.0005, "std_i": 0.0025, "tau_e": 2.728, "tau_i": 10.49}


def _philox(counter, key):
    c, k = list(counter), list(key)
    for rnd in range(10):
        if rnd:
            k = [(k[0] + 0x9E3779B9) & _MASK, (k[1] + 0xBB67AE85) & _MASK]
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & _MASK, (p0 >> 32) ^ c[3] ^ k[1], p0 & _MASK]
    return c


def test_reference_philox_known_answer():
    assert _philox((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)) == [
        0xD16CFE09,
        0x94FDCCEB,
        0x5001E420,
        0x24126EA1,
    ]


class _Stream:
    def __init__(self, id1, id2, id3):
        self.ids, self.words = (id3, id1, id2), 0

    def uniform(self):
        seq, which = divmod(self.words, 4)
        self.words += 1
        return (_philox((seq, *self.ids), (0, 0))[which] + 1.0) / 4294967297.0

    def normal(self):
        while True:
            u1, u2 = 2.0 * self.uniform() - 1.0, 2.0 * self.uniform() - 1.0
            w = u1 * u1 + u2 * u2
            if w <= 1.0:
                return u1 * math.sqrt(-2.0 * math.log(w) / w)


def _reference(gid, site, seed, on, dt, steps, h):
    """[steps, 2] deviations (g_e1, g_i1) in force during each step."""
    stream = _Stream(gid + 1, site + 1, seed)
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
