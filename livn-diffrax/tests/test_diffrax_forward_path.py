"""The forward run's fast paths give the numbers of the plain step (issue 18).

A plain (untraced) ``env.run`` schedules each spiking cell's events in a loop (engine events mode
"loop") and takes several network steps per diffrax step (``engine.RunConfig.block``,
``livn_diffrax.env.FORWARD_BLOCK``; ``run_batch`` too); traced runs keep the sparse/dense schedule
and one step per solver step. These tests compare the paths.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import livn
import livn_diffrax.env as diffrax_env
import numpy as np
import pytest
from livn.stimulus import Stimulus


def test_forward_event_loop_schedules_as_the_traced_runs_do():
    # a plain run schedules each spiking cell's events in a loop (engine "loop"); a traced run uses
    # the sparse/dense schedule (engine "cond"); a synchronous pulse makes more cells spike in one
    # step than the sparse budget, so both of its paths are compared too
    env = livn.make("EI2", backend="diffrax", seed=3, record=("spikes", "voltage"))
    drive = np.zeros((60, env.system.num_neurons))
    drive[10:12] = 3.0  # nA, every cell, 2 ms
    plain = env.run(60.0, stimulus=Stimulus(drive, dt=1.0, input_mode="current"))
    per_step = np.bincount(np.round(plain.spikes.times / 0.025).astype(int))
    assert per_step.max() > 8 + env.system.num_neurons // 100, "some step must overflow the sparse budget"
    assert len(plain.spikes) > 100
    env.clear()
    traced = jax.jit(lambda x: env.run(60.0, stimulus=Stimulus(x, dt=1.0, input_mode="current")))(jnp.asarray(drive))
    events = traced.spikes.to_events()
    np.testing.assert_array_equal(events.ids, plain.spikes.ids)
    np.testing.assert_array_equal(events.times, plain.spikes.times)
    # a traced RCSD run draws its noise one deviate at a time, whose log may differ by an ulp
    np.testing.assert_allclose(np.asarray(traced.voltage.values), np.asarray(plain.voltage.values), rtol=0, atol=1e-9)


@pytest.mark.parametrize("spiking", [0, 1, 3, 9, 10, 40])
def test_event_schedules_fill_the_ring_alike(spiking):
    # every scheduling mode of the engine adds the same events to the arrival ring, bit for bit,
    # with no spike, one, a few, the sparse budget of EI2 (9), one more, and many
    from livn_diffrax import engine

    env = livn.make("EI2", backend="diffrax", record=("spikes",))
    layout, static = env._layout(0.025)
    net = {k: jnp.asarray(v) for k, v in static["net"].items()}
    n, L = layout.n, layout.buffer_len
    rng = np.random.default_rng(spiking)
    hard = np.zeros(n, bool)
    hard[rng.choice(n, spiking, replace=False)] = True
    ring = jnp.asarray(rng.integers(0, 3, (L, len(layout.classes) * n + 1)).astype(float))
    spike = jnp.asarray(hard, float)
    rings = {
        mode: np.asarray(jax.jit(lambda r, h, x, mode=mode: engine._schedule(
            r, h, x, 7, net, L, layout.sparse_spikes, mode))(ring, jnp.asarray(hard), spike))
        for mode in ("loop", "cond", "sparse", "dense")
    }
    assert rings["dense"].sum() == np.asarray(ring).sum() + sum(
        int(np.asarray(net["out_valid"])[g].sum()) for g in np.flatnonzero(hard))
    for mode in ("loop", "cond", "sparse") if spiking <= layout.sparse_spikes else ("loop", "cond"):
        np.testing.assert_array_equal(rings[mode], rings["dense"])


def _assert_same_run(a, b):
    """Spikes, voltage and membrane current of two runs, bit for bit."""
    np.testing.assert_array_equal(b.spikes.ids, a.spikes.ids)
    np.testing.assert_array_equal(b.spikes.times, a.spikes.times)
    np.testing.assert_array_equal(np.asarray(b.voltage.values), np.asarray(a.voltage.values))
    np.testing.assert_array_equal(np.asarray(b.current.values), np.asarray(a.current.values))


def test_blocks_of_steps_give_the_single_step_run(monkeypatch):
    # spikes, voltage and membrane current, with a current stimulus and then a continued run
    def runs(block):
        monkeypatch.setattr(diffrax_env, "FORWARD_BLOCK", block)
        env = livn.make("EI2", backend="diffrax", seed=2, record=("spikes", "voltage", "membrane_current"))
        n = env.system.num_neurons
        drive = np.zeros((100, n))
        drive[5:40, : n // 3] = 0.2
        first = env.run(100.0, stimulus=Stimulus(drive, dt=1.0, input_mode="current"))
        return [first, env.run(50.0)]

    single, blocks = runs(1), runs(4)
    assert len(single[0].spikes) > 50
    for a, b in zip(single, blocks):
        _assert_same_run(a, b)


def test_batches_take_blocks_of_steps_with_the_same_numbers(monkeypatch):
    # run_batch takes blocks of steps too: the trials (one seed each, a current stimulus each) give the
    # numbers of single steps, spikes, voltage and membrane current bit for bit
    def batch(block):
        monkeypatch.setattr(diffrax_env, "FORWARD_BLOCK", block)
        env = livn.make("EI2", backend="diffrax", seed=2, record=("spikes", "voltage", "membrane_current"))
        n = env.system.num_neurons
        drive = np.zeros((2, 60, n))
        drive[0, 5:30, : n // 3] = 0.2
        drive[1, 20:50, n // 2:] = 0.3
        return env.run_batch(60.0, stimuli=drive, stimulus_dt=1.0, input_mode="current", seeds=[4, 5])

    single, blocks = batch(1), batch(4)
    assert {key[3].block for key in diffrax_env._COMPILED if key[0] == "batch"} >= {1, 4}  # both paths ran
    assert min(len(trial.spikes) for trial in single) > 20
    for a, b in zip(single, blocks):
        _assert_same_run(a, b)


def test_block_follows_the_steps_and_the_recording_stride():
    from livn_diffrax import engine

    env = livn.make("EI1", backend="diffrax", record=("spikes", "voltage"))
    env.record_voltage(dt=0.05)  # a sample every 2 steps: blocks of 2
    run = env.run(1.0)
    assert np.asarray(run.voltage.values).shape[1] == 20
    layout, static = env._layout(0.025)
    params = env.params()
    state = env._current_state(layout, params)
    cfg = env._config(6, 0.025, 4, "none", 1.0, block=4)  # 6 steps are not a whole number of blocks
    with pytest.raises(ValueError, match="block 4 must divide the steps"):
        engine.simulate(layout, cfg, env._const, params, static, state, None, env._streams)
