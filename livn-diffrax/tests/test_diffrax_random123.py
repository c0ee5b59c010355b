"""RCSD background noise draws from NEURON's Random123 streams, so one seed means one noise on both backends.

The reference here is written from the published definitions, not from the backend: Philox4x32-10
(Salmon et al., SC'11; checked against the known-answer vectors of the Random123 distribution) on
Python integers, NEURON's ``nrnran123`` stream layout (counter ``(seq, id3, id1, id2)``, key
``(0, 0)``, words in order, uniforms ``(u + 1) / (2^32 + 1)``) and its polar normal deviate; the
NEURON backend keys each section's stream ``(gid + 1, section + 1, seed)`` (RCSD.md 4).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from livn.system import ParallelSystem
from livn_diffrax import random123
from livn_diffrax._precision import require_x64
from livn_diffrax.env import Env

require_x64()

_MASK = 0xFFFFFFFF


def _philox_reference(counter, key):
    c, k = list(counter), list(key)
    for rnd in range(10):
        if rnd:
            k = [(k[0] + 0x9E3779B9) & _MASK, (k[1] + 0xBB67AE85) & _MASK]
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & _MASK, (p0 >> 32) ^ c[3] ^ k[1], p0 & _MASK]
    return c


class _Stream:
    """One NEURON Random123 stream with ids (id1, id2, id3), drawn word by word."""

    def __init__(self, id1, id2, id3):
        self.ids, self.words = (id3, id1, id2), 0

    def uniform(self):
        seq, which = divmod(self.words, 4)
        self.words += 1
        return (_philox_reference((seq, *self.ids), (0, 0))[which] + 1.0) / 4294967297.0

    def normal(self):
        while True:
            u1, u2 = 2.0 * self.uniform() - 1.0, 2.0 * self.uniform() - 1.0
            w = u1 * u1 + u2 * u2
            if w <= 1.0:
                return u1 * math.sqrt(-2.0 * math.log(w) / w)


# Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((_MASK,) * 4, (_MASK, _MASK), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), _KAT)
def test_philox_known_answers(counter, key, expected):
    assert tuple(_philox_reference(counter, key)) == expected
    got = random123.philox4x32(tuple(jnp.uint32(c) for c in counter), tuple(jnp.uint32(k) for k in key))
    assert tuple(int(x) for x in got) == expected


def test_normal_draws_follow_the_stream_word_by_word():
    ids = [(g + 1, s + 1, 7) for g in range(3) for s in range(2)]
    streams = [_Stream(*i) for i in ids]
    arrays = tuple(jnp.asarray([i[k] for i in ids], jnp.uint32) for k in (2, 0, 1))  # (seed, id1, id2)
    position = jnp.zeros(len(ids), jnp.uint32)
    need = np.array([True, False, True, True, False, True])
    for _ in range(30):
        xi, position = random123.normal_draws(position, arrays, jnp.asarray(need))
        expected = [s.normal() if wanted else 0.0 for s, wanted in zip(streams, need)]
        np.testing.assert_allclose(np.asarray(xi), expected, rtol=1e-13, atol=1e-13)
        np.testing.assert_array_equal(np.asarray(position), [s.words for s in streams])
        need = ~need


def _noise_env(seed, noise):
    env = Env(ParallelSystem({"EXC": 2, "INH": 1}), model="rcsd", seed=seed)
    env.set_noise(noise)
    return env.init()


NOISE = {"g_e0": 0.001, "g_i0": 0.005, "std_e": 0.0005, "std_i": 0.0025, "tau_e": 2.728, "tau_i": 10.49}


@pytest.mark.parametrize("dt", [0.025, 0.05, 0.0125])
def test_rcsd_noise_is_neurons_random123_ou_process(dt):
    """The OU deviations after 40 steps are NEURON's: site streams (gid+1, site+1, seed), xi_e then xi_i,
    only components with std > 0 draw (EXC soma: inhibitory only, EXC dendrite: excitatory only), and
    the updates at h, 2h, ... due by the middle of the last step (within 1 % of h) have been applied."""
    seed, steps = 5, 40
    env = _noise_env(seed, NOISE)
    env.run(steps * dt, dt=dt)
    ou = np.asarray(env._state["ou"])  # [cell, site, (e, i)]
    h = env.model.constants["noise_h"]
    components = {
        (0, 0): (False, True),
        (0, 1): (True, False),
        (1, 0): (False, True),
        (1, 1): (True, False),
        (2, 0): (True, True),
        (2, 1): (False, False),
    }  # (gid, site) -> (e, i) on; gid 2 is INH
    for (gid, site), (on_e, on_i) in components.items():
        stream = _Stream(gid + 1, site + 1, seed)
        g = [0.0, 0.0]
        for _ in range(math.floor((steps - 0.5) * dt / h + 0.01)):  # updates due by the middle of the last step
            for c, (on, name) in enumerate(((on_e, "e"), (on_i, "i"))):
                decay = math.exp(-h / NOISE[f"tau_{name}"])
                g[c] *= decay
                if on:
                    g[c] += NOISE[f"std_{name}"] * math.sqrt(1.0 - decay * decay) * stream.normal()
        np.testing.assert_allclose(ou[gid, site], g, rtol=1e-10, atol=1e-15)
        assert int(np.asarray(env._state["rng"])[gid, site]) == stream.words


def test_same_seed_same_noise_after_clear_and_new_seed_new_noise():
    env = _noise_env(3, NOISE)
    env.run(1.0)
    first = np.asarray(env._state["ou"])
    env.clear()
    env.run(1.0)
    np.testing.assert_array_equal(np.asarray(env._state["ou"]), first)
    env.clear(seed=4)
    env.run(1.0)
    assert not np.allclose(np.asarray(env._state["ou"])[:, 0, 1], first[:, 0, 1])


def test_seed_outside_the_stream_id_range_is_rejected():
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        Env(ParallelSystem({"EXC": 1}), model="rcsd", seed=2**32).init()
