"""The core API under JAX transformations: ``livn.stimulus.Stimulus`` and ``env.cell_stimulus``
carry JAX arrays and tracers, so one script written for every backend differentiates on diffrax
(issue 14, "One API under transformations")."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import livn
import numpy as np
import pytest
from diffrax_helpers import QUIET
from livn.stimulus import Stimulus
from livn_diffrax.env import JaxStimulus

DURATION = 20.0  # ms
EPS = 1e-4


@pytest.fixture(scope="module")
def env():
    """EI1 (10 cells, one electrode) without background noise; EXC cells 0-3 driven to spike."""
    env = livn.make("EI1", backend="diffrax", record=("spikes", "voltage"))
    env.set_noise(QUIET)
    return env


def _currents(n):
    values = np.zeros((int(DURATION), n))
    values[2:, :4] = 0.3
    return jnp.asarray(values)


def _voltage_loss(env):
    def loss(a):
        env.clear()
        run = env.run(DURATION, stimulus=Stimulus(a, dt=1.0, input_mode="current"))
        return jnp.mean(run.voltage.values)

    return loss


def _check_against_central_differences(loss, grad, x, seed, scale):
    direction = np.random.default_rng(seed).normal(size=x.shape) * scale
    analytic = float(jnp.sum(grad * direction))
    numeric = (float(loss(x + EPS * direction)) - float(loss(x - EPS * direction))) / (2 * EPS)
    assert numeric != 0.0
    assert abs(analytic - numeric) <= 0.05 * abs(numeric), (analytic, numeric)


def test_grad_of_a_plain_stimulus_matches_central_differences(env):
    a = _currents(env.system.num_neurons)
    loss = _voltage_loss(env)
    grad = jax.grad(loss)(a)
    # the traced run was functional: the env did not advance
    assert env.t == 0.0
    assert grad.shape == a.shape and np.all(np.isfinite(np.asarray(grad)))
    _check_against_central_differences(loss, grad, a, seed=0, scale=0.01)


def test_grad_inside_jit_matches_central_differences(env):
    a = _currents(env.system.num_neurons)
    loss = _voltage_loss(env)
    grad = jax.jit(jax.grad(loss))(a)
    assert env.t == 0.0
    _check_against_central_differences(loss, grad, a, seed=0, scale=0.01)


def test_grad_wrt_electrode_currents_through_cell_stimulus(env):
    currents = np.zeros((int(DURATION), env.io.num_channels))
    currents[2:] = 1.0
    currents = jnp.asarray(currents)

    def loss(c):
        env.clear()
        return jnp.mean(env.run(DURATION, stimulus=env.cell_stimulus(c, dt=1.0)).voltage.values)

    grad = jax.grad(loss)(currents)
    assert grad.shape == currents.shape
    _check_against_central_differences(loss, grad, currents, seed=1, scale=0.1)


def test_cell_stimulus_keeps_the_array_module(env):
    currents = np.full((5, env.io.num_channels), 0.5)
    from_numpy = env.cell_stimulus(currents, dt=1.0)
    from_jax = env.cell_stimulus(jnp.asarray(currents), dt=1.0)
    assert isinstance(from_numpy.array, np.ndarray) and not from_numpy.array.flags.writeable
    assert isinstance(from_jax.array, jax.Array)
    np.testing.assert_allclose(np.asarray(from_jax.array), from_numpy.array, rtol=1e-12)



@pytest.mark.parametrize(
    ("array", "error", "match"),
    [
        (jnp.zeros((20,)), ValueError, r"\[T, n\] or \[T, n, sites\]"),
        (jnp.zeros((20, 10, 1, 1)), ValueError, r"\[T, n\] or \[T, n, sites\]"),
        (jnp.zeros((20, 10), dtype=jnp.int32), TypeError, "floating point"),
        (jnp.zeros((20, 10), dtype=bool), TypeError, "floating point"),
    ],
)
def test_bad_stimulus_fails_at_trace_time_with_the_same_message(env, array, error, match):
    def build(a):
        return env.run(DURATION, stimulus=Stimulus(a, dt=1.0, input_mode="current")).voltage.values

    env.clear()
    with pytest.raises(error, match=match) as outside:
        build(array)
    with pytest.raises(error, match=match) as inside:
        jax.jit(build)(array)  # raised while tracing: nothing is compiled or run
    assert str(inside.value) == str(outside.value)
    assert env.t == 0.0


def test_concrete_jax_values_are_validated(env):
    with pytest.raises(ValueError, match="NaN or inf"):
        Stimulus(jnp.full((20, 10), jnp.nan), dt=1.0, input_mode="current")
    with pytest.raises(ValueError, match="5000 mV"):
        Stimulus(jnp.full((20, 10), 50000.0), dt=1.0)
    with pytest.raises(ValueError, match="NaN or inf"):
        env.cell_stimulus(jnp.full((5, env.io.num_channels), jnp.inf), dt=1.0)


def test_jax_stimulus_is_a_thin_compatibility_alias():
    stim = JaxStimulus(np.ones((4, 3)), dt=0.5, gids=[0, 2, 5], input_mode="current")
    assert isinstance(stim, Stimulus) and isinstance(stim.array, jax.Array)
    assert stim.units == "nA" and stim.duration == 2.0
    np.testing.assert_array_equal(stim.gids, [0, 2, 5])
