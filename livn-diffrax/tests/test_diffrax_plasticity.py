"""Synaptic plasticity on diffrax: STDP, Tsodyks-Markram, per-connection weights, weight/conductance recording.

Tolerances. The protocols compare with the analytic references of :mod:`livn.plasticity` at the spike
times the run produced, so the only differences are (i) traces left over from earlier pairings (the
references assume isolated pairs; after a 200 ms period they are ``exp(-200/20) = 4.5e-5`` of a
pairing), and (ii) float rounding. The STDP error (in units of one pairing's largest change,
``a_plus w_max``) is therefore held to 0.005 (measured ~4.5e-4 on both models), the TM ratios to
1e-4 (measured ~2e-7: releases are exact at arrival, and conductance peaks are sampled every step
at the same lag after each arrival).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import livn
import numpy as np
import pytest
from livn.plasticity import STDP, TsodyksMarkram
from livn.stimulus import Stimulus
from livn.testing.plasticity import _make, _pairs_circuit, _pulses, stdp_pairing, tsodyks_markram_train

DTS = (-20.0, -5.0, 5.0, 20.0)


def test_rules_are_registered_implementations():
    from livn_diffrax.env import Env
    from livn_diffrax.plasticity import STDP_DIFFRAX, TSODYKS_MARKRAM_DIFFRAX

    impls = Env.plasticity_implementations()
    assert impls == {"stdp": STDP_DIFFRAX, "tsodyks-markram": TSODYKS_MARKRAM_DIFFRAX}
    assert Env.per_connection_weights and {"weights", "conductance"} <= set(Env.signals)


@pytest.mark.parametrize("model", ["izhikevich", "rcsd"])
def test_stdp_pairing_matches_the_window(model):
    pairings = 5 if model == "izhikevich" else 3
    result = stdp_pairing("diffrax", model, dts=DTS, pairings=pairings, period=200.0)
    assert result.error.max() < 0.005, result.error
    w_final = result.w_final
    assert np.all(w_final[np.asarray(DTS) > 0] > result.w0)
    assert np.all(w_final[np.asarray(DTS) < 0] < result.w0)
    # AMPA and NMDA rows learn alike
    np.testing.assert_allclose(w_final[:, 0], w_final[:, 1], rtol=1e-12)


def test_stdp_nearest_and_the_upper_bound():
    rule = STDP(w_max=0.105, a_plus=0.02, pairing="nearest")
    result = stdp_pairing("diffrax", "izhikevich", dts=(5.0, -5.0), pairings=4, period=200.0, rule=rule)
    assert result.error.max() < 0.005, result.error
    assert np.all(result.w_final[0] == 0.105)  # saturates exactly at w_max
    assert np.all(result.w_final[1] < 0.1)


DEPRESSION = TsodyksMarkram(U=0.5, tau_rec=800.0, tau_facil=0.0)
FACILITATION = TsodyksMarkram(U=0.1, tau_rec=100.0, tau_facil=500.0)


@pytest.mark.parametrize(
    ("model", "rule"), [("izhikevich", DEPRESSION), ("izhikevich", FACILITATION), ("rcsd", DEPRESSION)],
    ids=["izhikevich-depression", "izhikevich-facilitation", "rcsd-depression"],
)
def test_tsodyks_markram_train(model, rule):
    result = tsodyks_markram_train("diffrax", model, rule, spikes=6 if model == "izhikevich" else 4)
    np.testing.assert_allclose(result.measured, result.expected, atol=1e-4)
    if rule.tau_facil == 0:
        assert result.measured[-1] < 0.5
    else:
        assert result.measured[-1] > 1.5


@pytest.fixture()
def pair(tmp_path):
    """A 2-pair izhikevich circuit without noise (cells 0 -> 1, 2 -> 3)."""
    env = _make(_pairs_circuit(tmp_path / "pairs", 2), "diffrax", "izhikevich", 1)
    yield env
    env.close()


def _pre_pulses(duration, onsets, columns=4, cells=(0, 2)):
    return Stimulus(_pulses({c: list(onsets) for c in cells}, columns, duration, 0.5), dt=0.1, input_mode="current")


def test_set_weights_per_connection_round_trip_and_recordings(pair):
    env = pair
    rows = np.array([0.1, 0.2, 0.3, 0.4])  # AMPA (2 connections), then NMDA
    env.set_weights(rows)
    np.testing.assert_array_equal(env.get_weights().values, rows)
    ampa = next(name for name in env.weight_names if "-AMPA-" in name)
    env.record_weights(dt=0.5, connections=np.array([1, 3]))
    env.record_conductance(ampa, dt=0.1)
    run = env.run(40.0, stimulus=_pre_pulses(40.0, [10.0]))
    assert run.weights.values.shape == (2, 80) and run.weights.dt == 0.5
    np.testing.assert_array_equal(run.weights.ids, [1, 3])
    np.testing.assert_array_equal(run.weights.values, np.array([[0.2] * 80, [0.4] * 80]))
    assert run.conductance.values.shape == (4, 400)
    np.testing.assert_array_equal(run.conductance.ids, np.arange(4))
    g_unit = env.network.synapse_class(ampa).g_unit
    peaks = run.conductance.values.max(axis=1)
    # one rested event peaks at w * g_unit (sampled on the 0.1 ms grid: at most a little below)
    np.testing.assert_allclose(peaks[[1, 3]], np.array([0.1, 0.2]) * g_unit, rtol=0.02)
    assert np.all(peaks[[1, 3]] <= np.array([0.1, 0.2]) * g_unit * (1 + 1e-9))
    assert np.all(peaks[[0, 2]] == 0)
    np.testing.assert_array_equal(env.get_weights().values, rows)  # nothing learns


def test_recording_weights_without_per_row_weights(pair):
    env = pair
    env.record_weights(dt=1.0)
    run = env.run(10.0)
    assert run.weights.values.shape == (4, 10)
    np.testing.assert_array_equal(run.weights.values[:, 0], env.row_weights())


def _ei1(seed=5):
    env = livn.make("EI1", backend="diffrax", model="izhikevich", seed=seed)
    env.set_noise({"mean": 0.15, "std": 0.1})
    env.enable_plasticity({
        c.weight_name: STDP(a_plus=0.05, w_max=4.0 * max(float(env.weights[c.weight_name]), 1e-3))
        for c in env.network.classes if c.receptor.upper() in ("AMPA", "NMDA")
    })
    env.record_weights(dt=1.0)
    return env


def test_continuation_and_clear_with_stdp():
    env = _ei1()
    whole = env.run(100.0)
    w_whole = env.get_weights().values
    assert len(whole.spikes.ids) > 10
    assert not np.array_equal(w_whole, env.row_weights())  # it learned
    env.clear()
    again = env.run(100.0)
    np.testing.assert_array_equal(again.spikes.times, whole.spikes.times)
    np.testing.assert_array_equal(env.get_weights().values, w_whole)
    env.clear()
    first, second = env.run(50.0), env.run(50.0)
    np.testing.assert_array_equal(np.concatenate([first.spikes.ids, second.spikes.ids]), whole.spikes.ids)
    # the same steps; times differ only by the rounding of k dt against (k - 500) dt + 50
    np.testing.assert_allclose(np.concatenate([first.spikes.times, second.spikes.times + 50.0]), whole.spikes.times,
                               rtol=0, atol=1e-9)
    np.testing.assert_array_equal(env.get_weights().values, w_whole)
    np.testing.assert_array_equal(np.concatenate([first.weights.values, second.weights.values], axis=1),
                                  whole.weights.values)
    env.close()


def test_disable_plasticity_freezes_weights():
    env = _ei1()
    env.run(60.0)
    learned = env.get_weights().values
    env.disable_plasticity()
    assert not env.plasticity
    env.run(60.0)
    np.testing.assert_array_equal(env.get_weights().values, learned)
    np.testing.assert_array_equal(env.row_weights(), learned)
    env.close()


def test_gradient_through_learning_matches_finite_differences():
    """d(loss)/d(initial weight, stimulus amplitude) with STDP + TM learning in the run, vs central differences."""
    with tempfile.TemporaryDirectory() as scratch:
        system = _pairs_circuit(Path(scratch) / "pairs", 1)
        env = _make(system, "diffrax", "izhikevich", 1)
        ampa = next(name for name in env.weight_names if "-AMPA-" in name)
        nmda = next(name for name in env.weight_names if "-NMDA-" in name)
        env.set_weights({ampa: 0.1, nmda: 0.1})
        env.enable_plasticity({ampa: [STDP(w_max=1.0, a_plus=0.05), TsodyksMarkram(U=0.4, tau_rec=100.0)], nmda: STDP(w_max=1.0)})
        env.record_voltage(dt=0.1)
        env.record_weights(dt=0.1)
        duration = 80.0
        pre = _pulses({0: [5.0, 25.0, 45.0]}, 2, duration, 0.5)
        post = _pulses({1: [12.0, 32.0]}, 2, duration, 0.5)
        probe = np.zeros_like(pre)
        probe[int(50 / 0.1):, 1] = 1.0  # a weak drive on the postsynaptic cell after the pairings

        def loss(w, amplitude):
            trial = env.with_weights({ampa: w})
            trial.clear()
            stim = Stimulus(jnp.asarray(pre + post) + amplitude * jnp.asarray(probe), dt=0.1, input_mode="current")
            run = trial.run(duration, stimulus=stim)
            v = run.voltage.values[1]
            w_ampa = run.weights.values[0, -1]  # the learned AMPA weight (row 0)
            return jnp.mean(v[int(55 / 0.1):]) + 10.0 * w_ampa

        w0, a0 = 0.1, 0.02
        grads = jax.grad(loss, argnums=(0, 1))(w0, a0)
        eps = 1e-5
        fd_w = (loss(w0 + eps, a0) - loss(w0 - eps, a0)) / (2 * eps)
        fd_a = (loss(w0, a0 + eps) - loss(w0, a0 - eps)) / (2 * eps)
        assert abs(float(grads[0])) > 1e-3 and abs(float(grads[1])) > 1e-3
        np.testing.assert_allclose(float(grads[0]), float(fd_w), rtol=1e-4)
        np.testing.assert_allclose(float(grads[1]), float(fd_a), rtol=1e-4)
        # learning happened inside the traced run, and the env was not touched
        assert env.t == 0.0
        env.close()


def test_enabling_plasticity_mid_run_keeps_events_in_flight():
    """Switching a running env to per-row weights delivers the events already scheduled; with rates 0 nothing changes."""
    plain = livn.make("EI1", backend="diffrax", model="izhikevich", seed=5)
    plain.set_noise({"mean": 0.15, "std": 0.1})
    reference = plain.run(100.0)
    plain.close()
    env = livn.make("EI1", backend="diffrax", model="izhikevich", seed=5)
    env.set_noise({"mean": 0.15, "std": 0.1})
    first = env.run(49.7)  # a spike at 49.6 ms is still in flight (2-step delays)
    env.enable_plasticity({"EXC->EXC": STDP(a_plus=0.0, a_minus=0.0, w_max=10.0)})
    assert "legacy" in env._state
    second = env.run(50.3)
    np.testing.assert_array_equal(np.concatenate([first.spikes.ids, second.spikes.ids]), reference.spikes.ids)
    np.testing.assert_allclose(np.concatenate([first.spikes.times, second.spikes.times + 49.7]), reference.spikes.times,
                               rtol=0, atol=1e-9)
    np.testing.assert_array_equal(env.get_weights().values, env.row_weights())
    env.close()


def test_run_batch_with_plasticity():
    env = _ei1()
    runs = env.run_batch(20.0, seeds=[5, 6])
    single = env.run(20.0)
    np.testing.assert_array_equal(runs[0].spikes.ids, single.spikes.ids)
    np.testing.assert_array_equal(runs[0].weights.values, single.weights.values)
    with pytest.raises(NotImplementedError):
        env.run_batch(20.0, weights={env.weight_names[0]: np.ones(2)})
    env.close()
