"""Plasticity in core: the rules, their analytic references, configuration checks, weights and their channels.

The rules' behaviour on a running network is the conformance suite's (``test_reference_conformance``
runs it on the numpy reference backend); here is what core decides alone.
"""

from __future__ import annotations

import math

import livn
import numpy as np
import pytest
from livn.network import Network
from livn.plasticity import STDP, PlasticityError, TsodyksMarkram, Weights, resolve
from livn.run import Events, Run, Series
from livn.system import write_circuit
from livn_reference.env import Env as ReferenceEnv

AVAILABLE = {"stdp": object(), "tsodyks-markram": object()}


@pytest.fixture
def circuit(tmp_path):
    """Two EXC cells onto a third, one INH cell onto it too: AMPA, NMDA and GABA_A classes."""
    return write_circuit(
        tmp_path / "circuit",
        {"EXC": 3, "INH": 1},
        {("EXC", "EXC"): ([0, 1], [2, 2], [250.0, 500.0]), ("EXC", "INH"): ([3], [2], [100.0])},
    )


def test_stdp_window_and_defaults():
    rule = STDP(w_max=2.0)
    assert rule.depression == pytest.approx(1.05 * 0.005)
    np.testing.assert_allclose(rule.window([10.0, -10.0, 0.0]), [0.01 * math.exp(-0.5), -0.0105 * math.exp(-0.5), 0.0])
    assert rule.pairing_protocol(1.99, [5.0] * 10) == 2.0, "hard upper bound"
    assert rule.pairing_protocol(0.001, [-5.0] * 10) == 0.0, "hard lower bound"


def test_tsodyks_markram_recursion_by_hand():
    depressing = TsodyksMarkram(U=0.5, tau_rec=800.0)
    second = 1.0 - 0.5 * math.exp(-50.0 / 800.0)  # R after one release of half, recovering 50 ms
    np.testing.assert_allclose(depressing.ratios([50.0])[1], second)
    facilitating = TsodyksMarkram(U=0.1, tau_rec=100.0, tau_facil=500.0)
    u2 = 0.1 + 0.1 * 0.9 * math.exp(-50.0 / 500.0)
    r2 = 1.0 - 0.1 * math.exp(-50.0 / 100.0)
    np.testing.assert_allclose(facilitating.ratios([50.0])[1], u2 * r2 / 0.1)
    assert np.all(np.diff(depressing.ratios([50.0] * 5)) < 0) and facilitating.ratios([50.0] * 3)[2] > 1


@pytest.mark.parametrize(
    ("make_rule", "message"),
    [
        (lambda: STDP(tau_plus=0.0), "tau_plus"),
        (lambda: STDP(a_minus=-1.0), "a_minus"),
        (lambda: STDP(w_max=float("nan")), "w_max"),
        (lambda: STDP(pairing="nearest-neighbour"), "all-to-all"),
        (lambda: TsodyksMarkram(U=1.5), "U"),
        (lambda: TsodyksMarkram(tau_rec=-5.0), "tau_rec"),
        (lambda: TsodyksMarkram(tau_facil=-1.0), "tau_facil"),
    ],
)
def test_bad_rule_parameters_are_refused(make_rule, message):
    with pytest.raises(PlasticityError, match=message):
        make_rule()


def test_resolve_expands_projections_and_binds_defaults(circuit):
    network = Network(circuit)
    rows = network.row_weights({})
    resolved = resolve(network, {"EXC->EXC": STDP(), "EXC_INH-soma-GABA_A-weight": {"rule": "tsodyks-markram", "U": 0.2}},
                       rows, AVAILABLE, "test")
    ampa, nmda = (name for name in network.weight_names if name.startswith("EXC_EXC"))
    assert set(resolved) == {ampa, nmda, "EXC_INH-soma-GABA_A-weight"}
    stdp = resolved[ampa][0]
    assert stdp.w_max == 2.0 and stdp.a_minus == pytest.approx(0.00525), "defaults made concrete"
    assert resolved["EXC_INH-soma-GABA_A-weight"] == (TsodyksMarkram(U=0.2),)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"EXC->NOWHERE": STDP()}, "no projection"),
        ({"not-a-weight": STDP()}, "unknown synapses"),
        ({"EXC->EXC": {"rule": "bcm"}}, "unknown rule"),
        ({"EXC->EXC": {"rule": "stdp", "tau": 3}}, "stdp takes"),
        ({"EXC->EXC": "stdp"}, "expected a rule"),
        ({"INH->EXC": STDP()}, "AMPA, NMDA"),
        ({"EXC_INH-soma-GABA_A-weight": STDP()}, "is GABA_A"),
        ({"EXC->EXC": [STDP(), STDP(a_plus=0.01)]}, "two long-term"),
        ({"EXC->EXC": STDP(w_max=0.5)}, "below the current weights"),
    ],
)
def test_resolve_refuses_what_cannot_run(circuit, config, message):
    network = Network(circuit)
    with pytest.raises(PlasticityError, match=message):
        resolve(network, config, network.row_weights({}), AVAILABLE, "test")


def test_resolve_names_rules_the_backend_lacks(circuit):
    network = Network(circuit)
    with pytest.raises(PlasticityError, match="does not run the plasticity rule 'stdp'.*tsodyks-markram"):
        resolve(network, {"EXC->EXC": STDP()}, network.row_weights({}), {"tsodyks-markram": 1}, "test")


def test_weights_table(circuit):
    env = livn.make(circuit, backend=ReferenceEnv, record=("spikes",))
    weights = env.get_weights()
    assert isinstance(weights, Weights) and len(weights) == env.network.num_rows == 5
    np.testing.assert_array_equal(np.asarray(weights), weights.values)
    np.testing.assert_array_equal(weights.of("EXC_INH-soma-GABA_A-weight"), [1.0])
    with pytest.raises(KeyError, match="valid weights"):
        weights.of("nope")


def test_set_weights_per_connection_then_by_name(circuit):
    env = livn.make(circuit, backend=ReferenceEnv, record=("spikes",))
    ampa = env.weight_names[0]
    env.set_weights({ampa: [0.5, 1.5]})
    np.testing.assert_array_equal(env.get_weights().of(ampa), [0.5, 1.5])
    env.set_weights({env.weight_names[1]: 3.0})  # by name keeps the per-connection values of others
    np.testing.assert_array_equal(env.get_weights().values, [0.5, 1.5, 3.0, 3.0, 1.0])
    env.set_weights(np.arange(5.0))
    np.testing.assert_array_equal(env.row_weights(), np.arange(5.0))
    for bad, message in (([1.0], "takes 2 values"), ([-1.0, 1.0], ">= 0"), ([np.nan, 1.0], "finite")):
        with pytest.raises(ValueError, match=message):
            env.set_weights({ampa: bad})


def test_normalize_weights_default_target_keeps_the_total(circuit):
    env = livn.make(circuit, backend=ReferenceEnv, record=("spikes",))
    ampa = env.weight_names[0]
    env.set_weights({ampa: [0.5, 1.5]})
    env.normalize_weights(synapses="EXC->EXC")
    np.testing.assert_allclose(env.get_weights().of(ampa), [0.5, 1.5], err_msg="one cell: its sum is the mean already")
    env.normalize_weights({ampa: 4.0}, synapses=ampa)
    np.testing.assert_allclose(env.get_weights().of(ampa), [1.0, 3.0])
    with pytest.raises(KeyError, match="not among"):
        env.normalize_weights({"EXC_INH-soma-GABA_A-weight": 1.0}, synapses=ampa)
    with pytest.raises(ValueError, match=">= 0"):
        env.normalize_weights(-1.0)


def test_weight_and_conductance_recording_requests_are_checked(circuit):
    env = livn.make(circuit, backend=ReferenceEnv, record=("spikes",))
    env.record_weights(connections=[3, 1])
    assert env.recording["weights"]["connections"].tolist() == [1, 3]
    env.record_weights(population="EXC")
    assert env.recording["weights"]["connections"].tolist() == [0, 1, 2, 3, 4], "every row ends on EXC cell 2"
    with pytest.raises(ValueError, match="outside"):
        env.record_weights(connections=[7])
    with pytest.raises(ValueError, match="twice"):
        env.record_weights(connections=[1, 1])
    with pytest.raises(TypeError, match="not both"):
        env.record_weights(connections=[1], population="EXC")
    with pytest.raises(TypeError, match="needs synapses"):
        env.record("conductance")
    with pytest.raises(ValueError, match="end on EXC"):
        env.record("conductance", "INH", synapses=env.weight_names[0])


def test_plasticity_state_rules(circuit):
    env = livn.make(circuit, backend=ReferenceEnv, record=("spikes",))
    env.enable_plasticity({"EXC->EXC": STDP(w_max=3.0)})
    with pytest.raises(PlasticityError, match="exceed its STDP bound"):
        env.set_weights({env.weight_names[0]: 4.0})
    assert env.get_weights().of(env.weight_names[0]).tolist() == [1.0, 1.0], "a refused set_weights changes nothing"
    env.disable_plasticity("EXC->EXC")
    assert env.plasticity == {}
    env.set_weights({env.weight_names[0]: 4.0})


def test_run_channels_round_trip(tmp_path):
    weights = Series(np.array([4, 9]), np.arange(6.0).reshape(2, 3), 1.0)
    conductance = Series(np.array([0, 1]), np.ones((2, 30)), 0.1)
    run = Run(spikes=Events(np.array([1]), np.array([0.5])), weights=weights, conductance=conductance, duration=3.0)
    assert set(run.channels) == {"spikes", "weights", "conductance"}
    back = Run.load(run.save(tmp_path / "run.h5"))
    np.testing.assert_array_equal(back.weights.values, weights.values)
    np.testing.assert_array_equal(back.conductance.ids, [0, 1])
    picked = run.select(gids=[1])
    assert picked.weights is run.weights and picked.conductance.ids.tolist() == [1]
    assert run.slice(1.0, 3.0).weights.values.shape == (2, 2)
    assert run.concat(run).weights.values.shape == (2, 6)


def test_write_circuit_checks_its_input(tmp_path):
    with pytest.raises(ValueError, match="must lie in EXC"):
        write_circuit(tmp_path / "a", {"EXC": 2}, {("EXC", "EXC"): ([0], [5], [1.0])})
    with pytest.raises(KeyError, match="population 'INH'"):
        write_circuit(tmp_path / "b", {"EXC": 2}, {("EXC", "INH"): ([0], [1], [1.0])})
    with pytest.raises(ValueError, match="distances"):
        write_circuit(tmp_path / "c", {"EXC": 2}, {("EXC", "EXC"): ([0], [1], [-1.0])})
    system = write_circuit(tmp_path / "d", {"EXC": 2}, {("EXC", "EXC"): ([1, 0], [0, 1], [250.0, 500.0])})
    projection = system.projections[("EXC", "EXC")]
    assert projection.post_gids.tolist() == [0, 1] and projection.pre_gids.tolist() == [1, 0]
    np.testing.assert_allclose(projection.delays(), [1.0, 2.0])
