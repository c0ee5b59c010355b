"""RCSD background noise draws from NEURON's Random123 streams, so one seed means one noise on both backends.

The reference is :mod:`livn.testing.random123` (plain Python, from the published definitions);
the NEURON backend keys each section's stream ``(gid + 1, section + 1, seed)`` (RCSD.md 4).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from livn.system import ParallelSystem
from livn.testing.random123 import KNOWN_ANSWERS, Stream, philox4x32
from livn_diffrax import random123
from livn_diffrax._precision import require_x64
from livn_diffrax.env import Env

require_x64()


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_philox_known_answers(counter, key, expected):
    assert philox4x32(counter, key) == expected
    got = random123.philox4x32(tuple(jnp.uint32(c) for c in counter), tuple(jnp.uint32(k) for k in key))
    assert tuple(int(x) for x in got) == expected


def test_normal_draws_follow_the_stream_word_by_word():
    ids = [(g + 1, s + 1, 7) for g in range(3) for s in range(2)]
    streams = [Stream(*i) for i in ids]
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
        stream = Stream(gid + 1, site + 1, seed)
        g = [0.0, 0.0]
        for _ in range(math.floor((steps - 0.5) * dt / h + 0.01)):  # updates due by the middle of the last step
            for c, (on, name) in enumerate(((on_e, "e"), (on_i, "i"))):
                decay = math.exp(-h / NOISE[f"tau_{name}"])
                g[c] *= decay
                if on:
                    g[c] += NOISE[f"std_{name}"] * math.sqrt(1.0 - decay * decay) * stream.normal()
        np.testing.assert_allclose(ou[gid, site], g, rtol=1e-10, atol=1e-15)
        assert int(np.asarray(env._state["rng"]["words"])[gid, site]) == stream.words


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


@pytest.mark.parametrize("tries", [3, 40])
def test_draws_made_ahead_are_the_streams_draws(tries):
    """draw_ahead + take_ahead hand out each stream's deviates in order, with the positions normal_draws
    gives; with 3 candidates per stream most streams run out and go on drawing one at a time."""
    ids = [(g + 1, s + 1, 9) for g in range(4) for s in range(2)]
    streams = [Stream(*i) for i in ids]
    arrays = tuple(jnp.asarray([i[k] for i in ids], jnp.uint32) for k in (2, 0, 1))  # (seed, id1, id2)
    for stream in streams[:3]:  # some streams start one pair in (an odd pair: word 2 of a block)
        stream.normal()
    words = jnp.asarray([s.words for s in streams], jnp.float64)
    ahead = random123.draw_ahead(words.astype(jnp.uint32), arrays, tries)
    position = words.astype(jnp.uint32)
    cursor = jnp.zeros(len(ids), jnp.int32)
    need = np.array([True, False, True, True, True, False, True, True])
    for _ in range(12):
        xi, cursor, words = random123.take_ahead(ahead, cursor, words, arrays, jnp.asarray(need))
        one_at_a_time, position = random123.normal_draws(position, arrays, jnp.asarray(need))
        # the same numbers (but for rounding: XLA may fuse the arithmetic differently in the two)
        np.testing.assert_allclose(np.asarray(xi), np.asarray(one_at_a_time), rtol=1e-13, atol=1e-15)
        expected = [s.normal() if wanted else 0.0 for s, wanted in zip(streams, need)]
        np.testing.assert_allclose(np.asarray(xi), expected, rtol=1e-13, atol=1e-13)  # Python's log may differ by an ulp
        np.testing.assert_array_equal(np.asarray(words), [s.words for s in streams])
        need = np.roll(need, 1)


def test_batched_seeds_do_not_reuse_the_envs_draws_made_ahead():
    """After a run, the state holds deviates drawn ahead from the env's own streams; run_batch trials
    with other seeds draw from theirs (the batch is shorter than one draw-ahead window)."""
    env = _noise_env(3, NOISE)
    env.record_voltage()
    env.run(1.0)
    first, second = env.run_batch(0.5, seeds=[3, 4])
    alone = env.run(0.5)
    np.testing.assert_array_equal(first.voltage.values, alone.voltage.values)
    assert not np.allclose(second.voltage.values[:, 1:], first.voltage.values[:, 1:], rtol=0, atol=1e-12)


def test_traced_runs_draw_one_at_a_time_from_the_same_streams(monkeypatch):
    """A traced run carries the compact random state (no draws made ahead) and sees the same noise,
    also when it continues a state whose draws were made ahead."""
    import jax

    env = _noise_env(5, NOISE)
    env.record_voltage()
    env.run(1.0)  # the stored state now holds draws made ahead

    def voltages(std_i):
        return env.with_noise({"std_i": std_i}).run(1.0).voltage.values

    def no_draw_ahead(*args):
        raise AssertionError("a traced run drew ahead")

    with monkeypatch.context() as patch:
        patch.setattr(random123, "draw_ahead", no_draw_ahead)
        traced = np.asarray(jax.jit(voltages)(NOISE["std_i"]))
    assert "ahead" in env._state["rng"]  # the traced run left the stored state alone
    plain = np.asarray(env.run(1.0).voltage.values)
    np.testing.assert_allclose(traced, plain, rtol=0, atol=1e-12)
