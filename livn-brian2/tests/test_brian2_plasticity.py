"""Synaptic plasticity on brian2: STDP, Tsodyks-Markram, per-connection weights, weight/conductance recording.

Tolerances. The protocols compare with the analytic references of :mod:`livn.plasticity` at the spike
times the run produced. Traces are decayed exactly between events (``exp(-(t - lastupdate) / tau)``),
so the only differences are traces left over from earlier pairings (the references assume isolated
pairs; after a 200 ms period they are ``exp(-200/20) = 4.5e-5`` of a pairing) and float rounding.
The STDP error (in units of one pairing's largest change, ``a_plus w_max``) is held to 0.005
(measured 4.5e-4 with 200 ms periods, 2e-13 with the full 12 dts x 10 pairings at 1000 ms, on
izhikevich and lif), the TM ratios to 1e-4 (measured ~2e-7:
releases are exact at arrival and every conductance peak is sampled at the same lag after its arrival).
"""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn.plasticity import STDP, TsodyksMarkram
from livn.stimulus import Stimulus
from livn.testing.plasticity import _make, _pairs_circuit, _pulses, stdp_pairing, tsodyks_markram_train

DTS = (-20.0, -5.0, 5.0, 20.0)


def test_rules_are_registered_implementations():
    from livn_brian2.env import Env
    from livn_brian2.plasticity import STDP_BRIAN2, TSODYKS_MARKRAM_BRIAN2

    assert Env.plasticity_implementations() == {"stdp": STDP_BRIAN2, "tsodyks-markram": TSODYKS_MARKRAM_BRIAN2}
    assert Env.per_connection_weights and {"weights", "conductance"} <= set(Env.signals)


@pytest.mark.parametrize("model", ["izhikevich", "lif"])
def test_stdp_pairing_matches_the_window(model):
    result = stdp_pairing("brian2", model, dts=DTS, pairings=5, period=200.0)
    assert result.error.max() < 0.005, result.error
    w_final = result.w_final
    assert np.all(w_final[np.asarray(DTS) > 0] > result.w0)
    assert np.all(w_final[np.asarray(DTS) < 0] < result.w0)
    np.testing.assert_allclose(w_final[:, 0], w_final[:, 1], rtol=1e-12)  # AMPA and NMDA rows learn alike


def test_stdp_nearest_and_the_upper_bound():
    rule = STDP(w_max=0.105, a_plus=0.02, pairing="nearest")
    result = stdp_pairing("brian2", "izhikevich", dts=(5.0, -5.0), pairings=4, period=200.0, rule=rule)
    assert result.error.max() < 0.005, result.error
    assert np.all(result.w_final[0] == 0.105)  # saturates exactly at w_max
    assert np.all(result.w_final[1] < 0.1)


DEPRESSION = TsodyksMarkram(U=0.5, tau_rec=800.0, tau_facil=0.0)
FACILITATION = TsodyksMarkram(U=0.1, tau_rec=100.0, tau_facil=500.0)


@pytest.mark.parametrize("rule", [DEPRESSION, FACILITATION], ids=["depression", "facilitation"])
def test_tsodyks_markram_train(rule):
    result = tsodyks_markram_train("brian2", "izhikevich", rule, spikes=6)
    np.testing.assert_allclose(result.measured, result.expected, atol=1e-4)
    if rule.tau_facil == 0:
        assert result.measured[-1] < 0.5
    else:
        assert result.measured[-1] > 1.5


@pytest.fixture()
def pair(tmp_path):
    """A 2-pair izhikevich circuit without noise (cells 0 -> 1, 2 -> 3)."""
    env = _make(_pairs_circuit(tmp_path / "pairs", 2), "brian2", "izhikevich", 1)
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
    # by name with an array per connection of the class
    env.set_weights({ampa: np.array([0.5, 0.6])})
    np.testing.assert_array_equal(env.get_weights().values, [0.5, 0.6, 0.3, 0.4])


def test_recording_weights_without_per_row_weights(pair):
    env = pair
    env.record_weights(dt=1.0)
    run = env.run(10.0)
    assert run.weights.values.shape == (4, 10)
    np.testing.assert_array_equal(run.weights.values[:, 0], env.row_weights())
    assert not env.simulation.per_connection  # the per-class path stays


def test_conductance_without_plasticity_peaks_at_weight_times_g_unit(pair):
    env = pair
    ampa = next(name for name in env.weight_names if "-AMPA-" in name)
    env.set_weights({ampa: 0.3})
    env.record_conductance(ampa, dt=0.1)
    run = env.run(40.0, stimulus=_pre_pulses(40.0, [10.0]))
    assert not env.simulation.per_connection
    peaks = run.conductance.values.max(axis=1)
    g_unit = env.network.synapse_class(ampa).g_unit
    np.testing.assert_allclose(peaks[[1, 3]], 0.3 * g_unit, rtol=0.02)
    assert np.all(peaks[[0, 2]] == 0)


def _ei1(seed=5):
    env = livn.make("EI1", backend="brian2", model="izhikevich", seed=seed)
    env.set_noise({"mean": 0.15, "std": 0.1})
    env.enable_plasticity(
        {
            c.weight_name: STDP(a_plus=0.05, w_max=4.0 * max(float(env.weights[c.weight_name]), 1e-3))
            for c in env.network.classes
            if c.receptor.upper() in ("AMPA", "NMDA")
        }
    )
    env.record_weights(dt=1.0)
    return env


def test_continuation_and_clear_with_stdp():
    env = _ei1()
    whole = env.run(100.0)
    w_whole = env.get_weights().values
    assert len(whole.spikes.ids) > 10
    assert not np.array_equal(w_whole, env.row_weights())  # it learned
    np.testing.assert_array_equal(whole.weights.values[:, 0], env.row_weights())  # sample 0: the start
    env.clear()
    np.testing.assert_array_equal(env.get_weights().values, env.row_weights())
    again = env.run(100.0)
    np.testing.assert_array_equal(again.spikes.times, whole.spikes.times)
    np.testing.assert_array_equal(env.get_weights().values, w_whole)
    env.clear()
    first, second = env.run(50.0), env.run(50.0)
    np.testing.assert_array_equal(np.concatenate([first.spikes.ids, second.spikes.ids]), whole.spikes.ids)
    np.testing.assert_allclose(
        np.concatenate([first.spikes.times, second.spikes.times + 50.0]), whole.spikes.times, rtol=0, atol=1e-9
    )
    np.testing.assert_array_equal(env.get_weights().values, w_whole)
    np.testing.assert_array_equal(
        np.concatenate([first.weights.values, second.weights.values], axis=1), whole.weights.values
    )
    env.close()


def test_continuation_with_stdp_and_tsodyks_markram_and_conductance():
    env = livn.make("EI1", backend="brian2", model="izhikevich", seed=5)
    env.set_noise({"mean": 0.15, "std": 0.1})
    config = {}
    for c in env.network.classes:
        tm = TsodyksMarkram(U=0.3, tau_rec=200.0, tau_facil=50.0)
        if c.receptor.upper() in ("AMPA", "NMDA"):
            config[c.weight_name] = [STDP(a_plus=0.05, w_max=4.0 * max(float(env.weights[c.weight_name]), 1e-3)), tm]
        else:
            config[c.weight_name] = tm
    env.enable_plasticity(config)
    env.record_conductance(env.weight_names[0], dt=0.5)
    whole = env.run(100.0)
    learned = env.get_weights().values
    assert not np.array_equal(learned, env.row_weights())
    env.clear()
    first, second = env.run(37.0), env.run(63.0)
    np.testing.assert_array_equal(np.concatenate([first.spikes.ids, second.spikes.ids]), whole.spikes.ids)
    np.testing.assert_array_equal(env.get_weights().values, learned)
    np.testing.assert_array_equal(
        np.concatenate([first.conductance.values, second.conductance.values], axis=1), whole.conductance.values
    )
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


def test_enabling_plasticity_mid_run_keeps_spikes_in_flight():
    """Switching a running env to per-connection synapses delivers the spikes already scheduled."""
    plain = livn.make("EI1", backend="brian2", model="izhikevich", seed=5)
    plain.set_noise({"mean": 0.15, "std": 0.1})
    reference = plain.run(100.0)
    plain.close()
    env = livn.make("EI1", backend="brian2", model="izhikevich", seed=5)
    env.set_noise({"mean": 0.15, "std": 0.1})
    first = env.run(50.0)
    env.enable_plasticity({"EXC->EXC": STDP(a_plus=0.0, a_minus=0.0, w_max=10.0)})
    assert env.simulation.per_connection
    second = env.run(50.0)
    ids = np.concatenate([first.spikes.ids, second.spikes.ids])
    times = np.concatenate([first.spikes.times, second.spikes.times + 50.0])
    # per-connection increments round differently from the per-cell ones (w * g_unit * peak_factor
    # per synapse vs once per cell), so spikes agree to a few ulps of the conductances: same spikes here
    np.testing.assert_array_equal(ids, reference.spikes.ids)
    np.testing.assert_allclose(times, reference.spikes.times, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(env.get_weights().values, env.row_weights())
    env.close()


def test_a_rule_enabled_later_rebuilds_the_synapses_and_keeps_what_was_learned():
    env = _ei1()
    env.run(40.0)
    assert [rule.name for rule in env.simulation._code_rules] == ["stdp"]  # only the rules in use are in the code
    learned = env.get_weights().values
    ampa = next(c.weight_name for c in env.network.classes if c.receptor == "AMPA")
    env.enable_plasticity({ampa: TsodyksMarkram(U=0.5, tau_rec=100.0)})
    assert sorted(rule.name for rule in env.simulation._code_rules) == ["stdp", "tsodyks-markram"]
    np.testing.assert_array_equal(env.get_weights().values, learned)
    np.testing.assert_array_equal(env.row_weights(), learned)
    run = env.run(40.0)
    assert run.weights.values.shape[1] == 40 and len(run.spikes.ids) > 0
    # STDP still learns, and clear() goes back to the weights as set (the learned ones of the first run)
    assert not np.array_equal(env.get_weights().values, learned)
    env.clear()
    np.testing.assert_array_equal(env.get_weights().values, learned)
    env.close()


def test_equal_time_pre_and_post_potentiate():
    """dt = 0 (arrival and postsynaptic spike in one step): brian2 runs the arriving spike's code first
    (depression with the old x_post), then the postsynaptic spike's (potentiation with the new x_pre):
    one rested pair changes w by +a_plus w_max (documented, not a livn convention)."""
    rule = STDP(w_max=0.2, a_plus=0.01)
    result = stdp_pairing("brian2", "izhikevich", dts=(0.0,), pairings=1, period=200.0, rule=rule)
    assert result.realised[0, 0] == 0.0
    np.testing.assert_allclose(result.w_final[0], 0.1 + 0.01 * 0.2, rtol=1e-12)


def test_numpy_target_learns_like_cython(monkeypatch):
    from livn_brian2 import config

    if config.codegen_target("auto") != "cython":
        pytest.skip("no C++ compiler here: the cython target cannot be compared")
    cython = stdp_pairing("brian2", "izhikevich", dts=(-5.0, 5.0), pairings=2, period=200.0)
    monkeypatch.setenv("LIVN_BRIAN2_CODEGEN", "numpy")
    numpy = stdp_pairing("brian2", "izhikevich", dts=(-5.0, 5.0), pairings=2, period=200.0)
    np.testing.assert_array_equal(numpy.realised, cython.realised)
    np.testing.assert_allclose(numpy.w_final, cython.w_final, rtol=1e-12)
