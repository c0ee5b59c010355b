"""Gradients against central finite differences, tracer hygiene, pytrees and batching."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import livn
import numpy as np
import pytest
from diffrax_helpers import QUIET
from livn.run import Run
from livn_diffrax.env import JaxStimulus
from livn_diffrax.spikes import SpikeBuffer

DURATION = 30.0  # ms


@pytest.fixture(scope="module")
def network():
    """EI1 (10 cells, connected) without noise; EXC cells 0-3 driven to spike so synapses act."""
    env = livn.make("EI1", backend="diffrax", record=("spikes", "voltage"))
    env.set_noise(QUIET)
    return env


def _drive(n, amplitude=0.3):
    values = np.zeros((int(DURATION / 1.0), n))
    values[2:, :4] = amplitude
    return jnp.asarray(values)


def _loss_factory(env):
    names = ["INH_EXC-hillock-AMPA-weight"]

    def loss(p):
        trial = env.with_weights({names[0]: p["w"]}).with_cell_params({"soma_g_pas": p["g_pas"]})
        trial.clear()
        run = trial.run(DURATION, stimulus=JaxStimulus(p["stim"], dt=1.0, input_mode="current"))
        return jnp.mean(run.voltage.values)

    return loss


def test_gradients_match_central_differences(network):
    env = network
    n = env.system.num_neurons
    p = {
        "w": jnp.asarray(env.weights["INH_EXC-hillock-AMPA-weight"]),
        "g_pas": jnp.asarray(env.cell_params["soma_g_pas"][0]),
        "stim": _drive(n),
    }
    loss = _loss_factory(env)
    value, grads = jax.value_and_grad(loss)(p)
    assert np.isfinite(float(value))
    # the network spikes, so the synaptic weight matters
    assert float(jnp.abs(grads["w"])) > 0

    direction = np.random.default_rng(0).normal(size=(int(DURATION), n)) * 0.01
    checks = {
        "w": (lambda e: {**p, "w": p["w"] + e}, float(grads["w"]), 1e-5 * float(p["w"])),
        "g_pas": (lambda e: {**p, "g_pas": p["g_pas"] + e}, float(grads["g_pas"]), 1e-4 * float(p["g_pas"])),
        "stim": (lambda e: {**p, "stim": p["stim"] + e * direction}, float(jnp.sum(grads["stim"] * direction)), 1e-4),
    }
    for name, (shift, analytic, eps) in checks.items():
        numeric = (float(loss(shift(eps))) - float(loss(shift(-eps)))) / (2 * eps)
        assert abs(analytic - numeric) <= 0.05 * abs(numeric) + 1e-12, (name, analytic, numeric)
    assert env.t == 0.0 and env._state is None or not isinstance(env._state["step"], jax.core.Tracer)


def test_training_loop_leaves_no_tracers(network):
    env = network
    loss = _loss_factory(env)
    p = {"w": jnp.asarray(1.0), "g_pas": jnp.asarray(9e-5), "stim": _drive(env.system.num_neurons)}
    step = jax.jit(jax.grad(loss))
    for _ in range(3):
        env.clear()
        g = step(p)
        p = jax.tree_util.tree_map(lambda a, b: a - 1e-3 * b, p, g)
        assert env.t == 0.0
    # the env still runs normally and is not contaminated by traced state
    env.clear()
    run = env.run(10.0)
    leaves = jax.tree_util.tree_leaves(env._state)
    assert not any(isinstance(x, jax.core.Tracer) for x in leaves)
    assert isinstance(run.spikes.times, np.ndarray) and env.t == 10.0


def test_traced_setters_refuse_and_functional_setters_do_not_mutate(network):
    env = network
    before = dict(env.weights)

    def f(w):
        with pytest.raises(TypeError, match="with_weights"):
            env.set_weights({"INH_EXC-hillock-AMPA-weight": w})
        other = env.with_weights({"INH_EXC-hillock-AMPA-weight": w})
        return other.weights["INH_EXC-hillock-AMPA-weight"] * 2

    assert float(jax.grad(f)(1.0)) == 2.0
    assert env.weights == before


def test_run_is_a_pytree_through_jit(network):
    env = network

    @jax.jit
    def simulate(stim):
        env.clear()
        return env.run(DURATION, stimulus=JaxStimulus(stim, dt=1.0, input_mode="current"))

    run = simulate(_drive(env.system.num_neurons))
    assert isinstance(run, Run) and isinstance(run.spikes, SpikeBuffer)
    assert run.voltage.values.shape == (env.system.num_neurons, int(DURATION / 0.1))
    env.clear()
    plain = env.run(DURATION, stimulus=JaxStimulus(_drive(env.system.num_neurons), dt=1.0, input_mode="current"))
    np.testing.assert_allclose(np.asarray(run.voltage.values), plain.voltage.values, atol=1e-9)
    events = run.spikes.to_events()
    np.testing.assert_array_equal(events.ids, plain.spikes.ids)
    np.testing.assert_allclose(events.times, plain.spikes.times)


def test_run_batch_equals_separate_runs():
    env = livn.make("EI1", backend="diffrax", seed=1, record=("spikes",))
    batch = env.run_batch(20.0, seeds=[1, 2])
    for seed, trial in zip([1, 2], batch):
        alone = livn.make("EI1", backend="diffrax", seed=seed, record=("spikes",)).run(20.0)
        assert np.array_equal(alone.spikes.ids, trial.spikes.ids)
        np.testing.assert_allclose(alone.spikes.times, trial.spikes.times)
    assert env.t == 0.0


def test_surrogate_carries_gradients_through_synapses_only_when_asked():
    """Cells 8, 9 (INH) see the stimulus of cell 0 only through its spikes and the synapses."""
    drive = np.zeros((int(DURATION), 10))
    drive[2:, 0] = 0.3

    def loss_for(env):
        def loss(x):
            env.clear()
            run = env.run(DURATION, stimulus=JaxStimulus(x, dt=1.0, input_mode="current"))
            return jnp.mean(run.voltage.values[8:])

        return loss

    pathwise = livn.make("EI1", backend="diffrax").set_noise(QUIET)
    surrogate = livn.make("EI1", backend="diffrax", surrogate=1.0).set_noise(QUIET)
    assert len(pathwise.run(DURATION, stimulus=JaxStimulus(jnp.asarray(drive), 1.0, input_mode="current")).spikes) > 0
    x = jnp.asarray(drive)
    np.testing.assert_allclose(loss_for(pathwise)(x), loss_for(surrogate)(x))  # same forward run
    g_path = jax.grad(loss_for(pathwise))(x)
    g_surr = jax.grad(loss_for(surrogate))(x)
    assert float(jnp.max(jnp.abs(g_path[:, 0]))) == 0.0
    assert float(jnp.max(jnp.abs(g_surr[:, 0]))) > 0.0


def test_run_batch_overflowing_its_spike_budget_falls_back_to_the_dense_path():
    """All ten EI1 cells fire in the same step: more than a batch's sparse budget (8), so the batch
    is recomputed with dense event scheduling and still equals the trials run one by one."""
    env = livn.make("EI1", backend="diffrax", model="lif", record=("spikes",))
    env.set_noise(env.model.noise_off)
    drive = np.zeros((2, 30, 10))
    drive[:, 2:, :] = 0.4
    drive[1] *= 1.2
    batch = env.run_batch(30.0, stimuli=drive, stimulus_dt=1.0, input_mode="current")
    for trial, run in zip(drive, batch):
        env.clear()
        alone = env.run(30.0, stimulus=livn.stimulus.Stimulus(trial, dt=1.0, input_mode="current"))
        steps = np.round(alone.spikes.times / env.dt).astype(int)
        assert np.bincount(steps).max() > 8, "the test needs a step with more spikes than the budget"
        np.testing.assert_array_equal(alone.spikes.ids, run.spikes.ids)
        np.testing.assert_allclose(alone.spikes.times, run.spikes.times)


@pytest.mark.parametrize("model", ["lif", "izhikevich"])
def test_default_surrogate_gradient_is_of_the_order_of_smoothed_finite_differences(model):
    """On a recurrent EI2 culture (100 ms, background noise on) the normalised surrogate with its
    default slope gives a weight gradient of a mean-voltage loss within a factor of 3 of the
    loss's finite differences over 5-20 % of the weight (which average over many spike changes).
    Unnormalised, Izhikevich's explosive upstroke made it -8.7e5 against ~10 (engine docstring)."""
    env = livn.make("EI2", backend="diffrax", model=model, record=("voltage",), surrogate=True)
    assert env.surrogate == 1.0
    name = "EXC_EXC-hillock-AMPA-weight"
    w0 = float(env.weights[name])

    def loss(w):
        trial = env.with_weights({name: w})
        trial.clear()
        return jnp.mean(trial.run(100.0).voltage.values)

    value = jax.jit(loss)
    gradient = float(jax.jit(jax.grad(loss))(w0))
    smoothed = np.mean([(float(value(w0 + h)) - float(value(w0 - h))) / (2 * h) for h in (0.05 * w0, 0.1 * w0, 0.2 * w0)])
    assert smoothed > 0
    assert smoothed / 3 <= gradient <= 3 * smoothed, (gradient, smoothed)


def test_surrogate_argument_is_checked():
    for bad in (0.0, -1.0, "steep", False):
        with pytest.raises(ValueError, match="surrogate must be None, True"):
            livn.make("EI1", backend="diffrax", model="lif", surrogate=bad)
