"""The network table every backend builds from: classes, rows, delays, and the synaptic kinetics rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from livn import system
from livn.network import ALPHA_LIMIT, Network, synaptic_kinetics
from livn.system import CONDUCTION_VELOCITY


@pytest.fixture(scope="module")
def ei1():
    return system.load("EI1")


def _normalised_waveform(tau_rise, tau_decay, t):
    tau_r, factor = synaptic_kinetics(tau_rise, tau_decay)
    return factor * (np.exp(-t / tau_decay) - np.exp(-t / tau_r))


def test_classes_follow_the_weight_names_and_the_receptors(ei1):
    network = Network(ei1)
    assert network.weight_names == ei1.weight_names
    for c in network.classes:
        projection = ei1.projections[(c.post, c.pre)]
        spec = projection.receptors[c.receptor]
        assert network.projection_of(c) is projection
        assert (c.tau_decay, c.e_rev, c.g_unit, c.default_weight) == (spec.tau_decay, spec.e_rev, spec.g_unit, spec.weight)
        assert c.nmda == (c.receptor == "NMDA")
        rows = c.rows
        np.testing.assert_array_equal(network.pre[rows], projection.pre_gids)
        np.testing.assert_array_equal(network.post[rows], projection.post_gids)
        assert np.all(network.klass[rows] == c.index)
    assert network.num_rows == sum(p.num_connections * len(p.receptors) for p in ei1.projections.values())
    assert len(network.connections) == sum(p.num_connections for p in ei1.projections.values())


def test_delays_are_the_conduction_delay_with_a_two_step_floor(ei1):
    network = Network(ei1)
    dt = 0.1
    delays = network.delays(dt)
    np.testing.assert_array_equal(delays, np.maximum(network.distance / CONDUCTION_VELOCITY, 2 * dt))
    assert delays.min() == pytest.approx(2 * dt)  # EI1 has neighbours closer than 50 um
    steps = network.delay_steps(dt)
    assert steps.dtype == np.int64 and steps.min() == 2
    np.testing.assert_array_equal(steps, np.rint(delays / dt))
    np.testing.assert_array_equal(
        network.connections.delays(dt), np.concatenate([p.delays(dt) for p in ei1.projections.values()])
    )


def test_row_weights_take_the_weight_of_their_class(ei1):
    network = Network(ei1)
    name = network.weight_names[1]
    weights = network.row_weights({name: 7.0})
    c = network.synapse_class(name)
    assert np.all(weights[c.rows] == 7.0)
    other = network.classes[0]
    assert np.all(weights[other.rows] == other.default_weight)
    with pytest.raises(KeyError, match="valid weights"):
        network.synapse_class("nope")


@pytest.mark.parametrize(("tau_rise", "tau_decay"), [(0.5, 3.0), (2.0, 100.0), (0.3, 0.31)])
def test_a_single_event_peaks_at_one(tau_rise, tau_decay):
    t = np.linspace(0.0, 10 * tau_decay, 200_001)
    assert _normalised_waveform(tau_rise, tau_decay, t).max() == pytest.approx(1.0, abs=1e-6)


def test_equal_time_constants_take_the_alpha_function_limit():
    tau = 5.0
    tau_r, _ = synaptic_kinetics(tau, tau)
    assert tau_r == ALPHA_LIMIT * tau
    t = np.linspace(0.0, 20 * tau, 100_001)
    alpha = (t / tau) * np.exp(1.0 - t / tau)
    assert np.max(np.abs(_normalised_waveform(tau, tau, t) - alpha)) < 1e-4
    # and rise times just below decay converge to it smoothly
    near = _normalised_waveform(tau * (1 - 1e-3), tau, t)
    assert np.max(np.abs(near - alpha)) < 2e-3


def test_instant_rise_is_a_single_exponential():
    tau_r, factor = synaptic_kinetics(1e-12, 4.0)
    assert tau_r == pytest.approx(4e-9) and factor == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize(("tau_rise", "tau_decay", "match"), [
    (5.0, 3.0, "swap"),
    (0.0, 3.0, "> 0"),
    (1.0, -1.0, "> 0"),
    (float("nan"), 3.0, "finite"),
])
def test_bad_time_constants_are_errors(tau_rise, tau_decay, match):
    with pytest.raises(ValueError, match=match):
        synaptic_kinetics(tau_rise, tau_decay)


def test_an_unconnected_system_has_an_empty_table():
    network = Network(system.ParallelSystem(5))
    assert network.classes == () and network.num_rows == 0
    assert network.delays(0.1).shape == (0,) and network.row_weights({}).shape == (0,)
    assert len(network.connections) == 0
    assert math.isclose(network.num_neurons, 5)


def test_every_row_names_its_connection(ei1):
    table = Network(ei1)
    connections = table.connections
    np.testing.assert_array_equal(connections.pre[table.row_connection], table.pre)
    np.testing.assert_array_equal(connections.post[table.row_connection], table.post)
    np.testing.assert_array_equal(connections.distance[table.row_connection], table.distance)
    assert np.bincount(table.row_connection).max() == 2, "a glutamatergic connection has an AMPA and an NMDA row"


def test_a_partitioned_network_holds_its_rows_of_the_whole_table():
    ei2 = system.load("EI2")
    whole = Network(ei2)
    weights = {name: 1.0 + k for k, name in enumerate(whole.weight_names)}
    held = []
    for rank in range(3):
        part = Network(ei2.partition(rank, 3))
        assert part.partitioned and not whole.partitioned
        assert part.num_rows == whole.num_rows and part.weight_names == whole.weight_names
        assert [c.rows for c in part.classes] == [c.rows for c in whole.classes]
        rows = part.local_rows
        assert np.all(part.local_post % 3 == rank)
        np.testing.assert_array_equal(part.local_pre, whole.pre[rows])
        np.testing.assert_array_equal(part.local_post, whole.post[rows])
        np.testing.assert_array_equal(part.local_distance, whole.distance[rows])
        np.testing.assert_array_equal(part.local_delays(0.025), whole.delays(0.025)[rows])
        np.testing.assert_array_equal(part.row_weights(weights), whole.row_weights(weights))
        held.append(rows)
    np.testing.assert_array_equal(np.sort(np.concatenate(held)), np.arange(whole.num_rows))
    # the whole table stays available on a partitioned network (read on first use)
    part = Network(ei2.partition(1, 3))
    np.testing.assert_array_equal(part.pre, whole.pre)
    np.testing.assert_array_equal(part.row_connection, whole.row_connection)
    np.testing.assert_array_equal(part.connections.post, whole.connections.post)
    np.testing.assert_array_equal(whole.local_rows, np.arange(whole.num_rows))
