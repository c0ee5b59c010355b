"""Spikes inside compiled code: a run under ``jax.jit``/``jax.vmap``/``jax.grad`` returns a padded
:class:`livn_diffrax.spikes.SpikeBuffer` that holds the same spikes as the plain run, reports an
overflow, and gives differentiable counts under a surrogate (issue 14)."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import livn
import numpy as np
import pytest
from livn.stimulus import Stimulus
from livn_diffrax.spikes import SpikeBuffer, SpikeOverflowWarning, default_capacity

DURATION = 40.0  # ms


def _drive(n, amplitude=0.4):
    values = np.zeros((int(DURATION), n))
    values[2:, :6] = amplitude
    return jnp.asarray(values)


@pytest.fixture(scope="module")
def env():
    env = livn.make("EI1", backend="diffrax", model="lif", record=("spikes", "voltage"))
    env.set_noise(env.model.noise_off)
    return env


def _run(env, a):
    env.clear()
    return env.run(DURATION, stimulus=Stimulus(a, dt=1.0, input_mode="current"))


def test_jit_returns_the_plain_runs_spikes(env):
    a = _drive(env.system.num_neurons)
    plain = _run(env, np.asarray(a)).spikes
    assert len(plain) > 5, "the drive must make the cells fire"
    buffer = jax.jit(lambda x: _run(env, x).spikes)(a)
    assert isinstance(buffer, SpikeBuffer)
    assert int(buffer.count) == len(plain) and not bool(buffer.overflow)
    events = buffer.to_events()
    np.testing.assert_array_equal(events.ids, plain.ids)
    np.testing.assert_allclose(events.times, plain.times, atol=1e-12)
    # the padding is finite, masked, and marks no cell
    mask = np.asarray(buffer.mask)
    assert mask.sum() == len(plain)
    assert np.all(np.asarray(buffer.ids)[~mask] == -1) and np.all(np.isfinite(np.asarray(buffer.times)))
    counts = np.bincount(plain.ids, minlength=env.system.num_neurons)
    np.testing.assert_array_equal(np.asarray(buffer.counts()), counts)
    binned = np.asarray(buffer.binned(10.0))
    assert binned.shape == (4, env.system.num_neurons)
    expected = np.zeros_like(binned)
    np.add.at(expected, (np.floor(plain.times / 10.0).astype(int), plain.ids), 1.0)
    np.testing.assert_array_equal(binned, expected)
    np.testing.assert_allclose(np.asarray(buffer.rates()), counts * 1000.0 / DURATION)


def test_vmap_gives_one_buffer_per_trial(env):
    a = _drive(env.system.num_neurons)
    scales = jnp.asarray([0.0, 1.0, 1.5])
    buffers = jax.jit(jax.vmap(lambda s: _run(env, s * a).spikes))(scales)
    assert buffers.times.shape[0] == 3
    for b, s in enumerate(np.asarray(scales)):
        plain = _run(env, np.asarray(s * a)).spikes
        one = jax.tree_util.tree_map(lambda x, b=b: x[b], buffers)
        assert int(one.count) == len(plain)
        np.testing.assert_array_equal(one.to_events().ids, plain.ids)
    assert np.asarray(buffers.counts()).shape == (3, env.system.num_neurons)


def test_overflow_is_reported_never_silent(env):
    a = _drive(env.system.num_neurons)
    plain = _run(env, np.asarray(a)).spikes
    env.spike_capacity = 3
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            buffer = jax.jit(lambda x: _run(env, x).spikes)(a)
            jax.effects_barrier()
        assert any(issubclass(w.category, SpikeOverflowWarning) and "env.spike_capacity" in str(w.message)
                   for w in caught)
        assert bool(buffer.overflow) and int(buffer.count) == len(plain)
        # the buffer keeps the first spikes in time order
        np.testing.assert_array_equal(np.asarray(buffer.ids), plain.ids[:3])
        with pytest.raises(OverflowError, match="spike_capacity"):
            buffer.to_events()
        env.spike_capacity = 0
        with pytest.raises(ValueError, match="spike_capacity must be a positive int"):
            jax.jit(lambda x: _run(env, x).spikes)(a)
    finally:
        env.spike_capacity = None


def test_default_capacity_scales_with_cells_and_time():
    assert default_capacity(100, 1000.0) == 20000
    assert default_capacity(1, 1.0) == 64


def test_surrogate_counts_are_differentiable_and_pathwise_counts_are_not():
    n = 10

    def total(env):
        def loss(scale):
            return jnp.sum(_run(env, scale * _drive(n)).spikes.counts())

        return loss

    pathwise = livn.make("EI1", backend="diffrax", model="lif", record=("spikes",))
    surrogate = livn.make("EI1", backend="diffrax", model="lif", record=("spikes",), surrogate=1.0)
    for e in (pathwise, surrogate):
        e.set_noise(e.model.noise_off)
    value_p, grad_p = jax.value_and_grad(total(pathwise))(1.0)
    value_s, grad_s = jax.value_and_grad(total(surrogate))(1.0)
    assert float(value_p) == float(value_s) > 0  # the same forward spikes
    assert float(grad_p) == 0.0
    # more drive, more spikes: the surrogate gradient of the count has the sign of the change
    assert float(grad_s) > 0.0
    up = float(jax.jit(total(pathwise))(1.5))
    assert up > float(value_p)

