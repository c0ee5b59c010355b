"""Plasticity on the neuron backend (RCSD): STDP, Tsodyks-Markram, per-connection weights, recordings.

Tolerances: the synapse mechanisms update traces and weights exactly at the events (exponentials of
the elapsed time, no integration), so the pairing protocol matches the analytic reference at the
realised spike times to rounding: we require an error below 1e-6 of one pairing's change
(``a_plus w_max``), far below the contract's 0.05. Tsodyks-Markram peaks are read from the
conductance sampled every step (0.025 ms): the peak of each PSC is the first-order maximum of a
sampled double exponential, so the measured ratios match the recursion to 1e-4 (relative).
"""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn.plasticity import STDP, TsodyksMarkram
from livn.testing.plasticity import stdp_pairing, tsodyks_markram_train

PAIRING_TOLERANCE = 1e-6
TM_TOLERANCE = 1e-4


def test_registered_rules() -> None:
    from livn_neuron.env import Env

    implementations = Env.plasticity_implementations()
    assert set(implementations) == {"stdp", "tsodyks-markram"}
    assert Env.per_connection_weights
    assert {"weights", "conductance"} <= set(Env.signals)


def test_stdp_pairing_all_to_all() -> None:
    result = stdp_pairing("neuron", "rcsd", dts=(-20, -5, 5, 20), pairings=6)
    assert result.error.max() < PAIRING_TOLERANCE, result.error
    change = result.w_final - result.w0
    assert np.all(change[result.target < 0] < 0) and np.all(change[result.target > 0] > 0)


def test_stdp_pairing_nearest_and_bound() -> None:
    nearest = stdp_pairing("neuron", "rcsd", dts=(-10, 10), pairings=4, rule=STDP(w_max=0.2, pairing="nearest"))
    assert nearest.error.max() < PAIRING_TOLERANCE, nearest.error
    # start just below w_max with a large a_plus: potentiation saturates exactly at w_max
    bound = stdp_pairing("neuron", "rcsd", dts=(5,), pairings=3, w0=0.199, rule=STDP(w_max=0.2, a_plus=0.05))
    assert np.all(bound.w_final == 0.2)


@pytest.mark.parametrize(
    "rule", [TsodyksMarkram(U=0.5, tau_rec=800.0, tau_facil=0.0), TsodyksMarkram(U=0.1, tau_rec=100.0, tau_facil=500.0)]
)
def test_tsodyks_markram_train(rule: TsodyksMarkram) -> None:
    result = tsodyks_markram_train("neuron", "rcsd", rule)
    error = np.abs(result.measured / result.expected - 1.0)
    assert error.max() < TM_TOLERANCE, (result.measured, result.expected)
    if rule.tau_facil == 0:
        assert result.measured[-1] < 0.5  # depression
    else:
        assert result.measured[-1] > 2.0  # facilitation


def _learning_env(seed: int = 5) -> livn.Env:
    env = livn.make("EI1", backend="neuron", seed=seed, record=("spikes",))
    env.set_weights(env.model.weight_defaults("EI3"))
    env.enable_plasticity({"EXC->EXC": STDP(a_plus=0.05), "EXC->INH": [STDP(a_plus=0.05), TsodyksMarkram()]})
    return env


def _spikes(run: livn.Run) -> np.ndarray:
    return np.stack([np.asarray(run.spikes.ids, dtype=float), np.asarray(run.spikes.times)])


def test_continuation_and_clear() -> None:
    env = _learning_env()
    try:
        whole = env.run(200.0)
        w_whole = env.get_weights().values
        assert not np.array_equal(w_whole, env.row_weights()), "the weights should have learned"
        env.clear()
        np.testing.assert_array_equal(env.get_weights().values, env.row_weights())
        first = env.run(120.0)
        second = env.run(80.0)
        np.testing.assert_array_equal(env.get_weights().values, w_whole)
        joined = first.concat(second)
        np.testing.assert_allclose(_spikes(joined), _spikes(whole), rtol=0, atol=1e-9)
        env.clear()
        again = env.run(200.0)
        np.testing.assert_array_equal(_spikes(again), _spikes(whole))
        np.testing.assert_array_equal(env.get_weights().values, w_whole)
    finally:
        env.close()


def test_disable_plasticity_freezes_weights() -> None:
    env = _learning_env()
    try:
        env.run(100.0)
        learned = env.get_weights().values
        env.disable_plasticity()
        env.run(100.0)
        np.testing.assert_array_equal(env.get_weights().values, learned)
        np.testing.assert_array_equal(env.row_weights(), learned)
    finally:
        env.close()


def test_set_weights_per_connection_round_trip_and_recordings() -> None:
    env = livn.make("EI1", backend="neuron", seed=2, record=("spikes",))
    try:
        rng = np.random.default_rng(0)
        rows = rng.uniform(0.5, 2.0, env.network.num_rows)
        env.set_weights(rows)
        np.testing.assert_array_equal(env.get_weights().values, rows)
        name = env.weight_names[0]
        env.enable_plasticity({name: STDP(a_plus=0.05)})
        env.record_weights(dt=1.0)
        env.record_conductance(name, dt=0.5)
        run = env.run(100.0)
        np.testing.assert_array_equal(env.get_weights().values[env.network.synapse_class(name).rows.stop:],
                                      rows[env.network.synapse_class(name).rows.stop:])
        weights = run.weights
        assert weights.values.shape == (env.network.num_rows, 100)
        np.testing.assert_array_equal(np.asarray(weights.ids), np.arange(env.network.num_rows))
        np.testing.assert_array_equal(weights.values[:, 0], rows)  # sample 0 at the run's start
        final = env.get_weights().values
        plastic = env.network.synapse_class(name).rows
        assert np.allclose(weights.values[plastic, -1], final[plastic], atol=0.05 * 2 * rows[plastic].max())
        others = np.setdiff1d(np.arange(env.network.num_rows), np.arange(plastic.start, plastic.stop))
        np.testing.assert_array_equal(weights.values[others], np.repeat(rows[others, None], 100, axis=1))
        g = run.conductance
        start, count = env.system.population_ranges[env.network.synapse_class(name).post]
        np.testing.assert_array_equal(np.asarray(g.ids), np.arange(start, start + count))
        assert g.values.shape == (count, 200) and np.all(g.values >= -1e-12) and g.values.max() > 0
    finally:
        env.close()


def test_conductance_peak_is_weight_times_g_unit() -> None:
    import tempfile
    from pathlib import Path

    from livn.stimulus import Stimulus
    from livn.testing.plasticity import _make, _pairs_circuit, _pulses

    with tempfile.TemporaryDirectory() as scratch:
        system = _pairs_circuit(Path(scratch) / "pairs-1", 1)
        env = _make(system, "neuron", "rcsd", 1)
        try:
            ampa = next(n for n in env.weight_names if "-AMPA-" in n)
            env.set_weights({ampa: np.array([0.3])})
            env.record_conductance(ampa, dt=0.025)
            run = env.run(60.0, stimulus=Stimulus(_pulses({0: [10.0]}, 2, 60.0, 2.0), dt=0.1, input_mode="current"))
            g_unit = env.network.synapse_class(ampa).g_unit
            peak = np.asarray(run.conductance.values)[list(np.asarray(run.conductance.ids)).index(1)].max()
            assert abs(peak / (0.3 * g_unit) - 1.0) < 1e-3
        finally:
            env.close()


@pytest.mark.parametrize(("culture", "tuned", "g_e0"), [("E_b", "E", 0.0004), ("EI_b", "EI", 0.0003), ("E3I", "E3I", 0.0003)])
def test_the_bursting_cultures_come_with_their_tuned_rcsd_defaults(culture: str, tuned: str, g_e0: float) -> None:
    """make(culture) on NEURON: the RCSD weights, noise and EXC->EXC depression tuned for it (livn.models.rcsd);
    a replicate (``_b``) takes its culture's."""
    from livn.models.rcsd import RCSD

    with livn.make(culture, backend="neuron", record=("spikes",)) as env:
        weights = RCSD.weight_defaults(tuned)
        assert {name: env.weights[name] for name in weights} == weights and weights["EXC_EXC-hillock-AMPA-weight"] >= 7
        assert env.noise == RCSD.noise_defaults(tuned) and env.noise["g_e0"] == g_e0
        learning = RCSD.plasticity_defaults(tuned)["EXC->EXC"]
        assert set(env.plasticity) == {"EXC_EXC-hillock-AMPA-weight", "EXC_EXC-hillock-NMDA-weight"}
        for rules in env.plasticity.values():
            assert rules == (TsodyksMarkram(U=learning["U"], tau_rec=learning["tau_rec"]),)
