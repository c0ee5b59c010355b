"""The neuron Env's own behaviour: stimulation paths, recording units, parameters, errors."""

from __future__ import annotations

import numpy as np
import pytest
from livn import make
from livn.errors import CapabilityError
from livn.stimulus import Stimulus

QUIET = {"g_e0": 0.0, "g_i0": 0.0, "std_e": 0.0, "std_i": 0.0, "tau_e": 2.728, "tau_i": 10.49}


def quiet_env(cells=None, record=("spikes", "voltage"), **kwargs):
    env = make(cells or {"EXC": 2, "INH": 1}, backend="neuron", record=record, **kwargs)
    env.set_noise(QUIET)
    return env


def test_backend_capabilities():
    env = quiet_env()
    assert type(env).backend_name == "neuron"
    assert env.model.name == "rcsd" and type(env).multicompartment and type(env).mpi
    assert env.system.num_neurons == 3 and len(env.cells) == 3


def test_uniform_field_has_no_effect_and_gradient_drives(tmp_path):
    env = quiet_env()
    baseline = env.run(40.0)
    env.clear()
    # the same potential at soma and dendrite, switched on and off: no common-mode artifact
    uniform = np.zeros((80, 3, 2))
    uniform[20:60] = 20.0
    same = env.run(40.0, stimulus=Stimulus(uniform, dt=0.5))
    np.testing.assert_allclose(same.voltage.values, baseline.voltage.values, atol=1e-3)
    env.clear()
    gradient = np.zeros((80, 3, 2))
    gradient[20:60, :, 1] = 20.0  # dendrite +20 mV: axial current depolarises the soma
    driven = env.run(40.0, stimulus=Stimulus(gradient, dt=0.5))
    v, v0 = np.asarray(driven.voltage.values), np.asarray(baseline.voltage.values)
    during = slice(150, 300)  # 15-30 ms, voltage dt 0.1 ms
    assert np.all(v[:2, during] > v0[:2, during] + 1.0), "EXC somata must depolarise under the gradient"
    # the one-compartment INH cell (gid 2) has no gradient to feel
    np.testing.assert_allclose(v[2], v0[2], atol=1e-3)


def test_current_clamp_and_membrane_current_balance():
    env = quiet_env(record=("voltage", "membrane_current"))
    amp = 0.1  # nA into gid 0
    run = env.run(60.0, stimulus=Stimulus(np.full((120, 1), amp), dt=0.5, gids=[0], input_mode="current"))
    current = run.current
    assert current.sites == ("soma", "dend", "soma", "dend", "soma")
    assert np.asarray(current.ids).tolist() == [0, 0, 1, 1, 2]
    values = np.asarray(current.values)
    # the total membrane current of a cell equals the current injected into it (uA)
    assert values[0:2, -50:].sum(axis=0) == pytest.approx(amp * 1e-3, rel=1e-3)
    assert abs(values[2:4, -50:].sum(axis=0)).max() < 1e-9
    v = np.asarray(run.voltage.values)
    assert v[0].max() > 0.0 and v[1].max() < -60.0, "100 pA makes gid 0 fire; its neighbour stays at rest"


def test_current_stops_after_the_stimulus_ends():
    env = quiet_env(record=("membrane_current",))
    env.run(20.0, stimulus=Stimulus(np.full((10, 1), 0.05), dt=1.0, gids=[0], input_mode="current"))
    later = env.run(20.0)
    # 10 ms after the end the injected current is gone: the cell's net membrane current is ~0
    assert abs(np.asarray(later.current.values)[0:2, -1].sum()) < 1e-6


def test_weights_reach_the_synapses():
    env = make("EI1", backend="neuron", record=("spikes",))
    name = env.weight_names[0]
    env.set_weights({name: 0.123})
    assert env._synapses[name], "every projection has synapses on a serial run"
    assert all(syn.weight == pytest.approx(0.123) for syn in env._synapses[name])


def test_noise_split_per_compartment():
    env = make({"EXC": 1, "INH": 1}, backend="neuron", record=())
    env.set_noise({"g_e0": 0.002, "g_i0": 0.004, "std_e": 0.001, "std_i": 0.002})
    sites = {(cell.kind, site): pp for cell, site, pp in env._noise}
    assert sites[("EXC", "soma")].g_e0 == 0 and sites[("EXC", "soma")].g_i0 == pytest.approx(0.004)
    assert sites[("EXC", "dend")].g_e0 == pytest.approx(0.002) and sites[("EXC", "dend")].g_i0 == 0
    assert sites[("INH", "soma")].g_e0 == pytest.approx(0.002) and sites[("INH", "soma")].std_i == pytest.approx(0.002)


def test_noise_of_a_cell_does_not_depend_on_the_others():
    # gid 0 alone and gid 0 with neighbours (unconnected) see the same noise stream
    noise = {"g_e0": 0.001, "g_i0": 0.005, "std_e": 0.0005, "std_i": 0.0025}
    a = make({"EXC": 1}, backend="neuron", seed=4, record=("voltage",)).set_noise(noise).run(50.0)
    b = make({"EXC": 3}, backend="neuron", seed=4, record=("voltage",)).set_noise(noise).run(50.0)
    np.testing.assert_array_equal(np.asarray(a.voltage.values)[0], np.asarray(b.voltage.values)[0])


def test_voltage_starts_at_v_init_and_continues():
    env = quiet_env()
    first = env.run(10.0)
    second = env.run(10.0)
    assert np.asarray(first.voltage.values)[:, 0] == pytest.approx(-75.0)
    assert second.t0 == pytest.approx(10.0)
    step = np.abs(np.asarray(second.voltage.values)[:, 0] - np.asarray(first.voltage.values)[:, -1])
    assert step.max() < 0.5, "the second run continues the first"


def test_bad_noise_values_raise():
    env = quiet_env()
    with pytest.raises(ValueError, match="tau_e"):
        env.set_noise({"tau_e": 0.0})


def test_seed_out_of_range_and_subworlds_raise():
    with pytest.raises(ValueError, match="2\\*\\*32"):
        make({"EXC": 1}, backend="neuron", seed=2**32)
    with pytest.raises(CapabilityError, match="subworld"):
        make({"EXC": 1}, backend="neuron", subworld_size=2)


def test_a_new_env_releases_the_previous_one():
    old = quiet_env()
    new = quiet_env()
    with pytest.raises(RuntimeError, match="one network per process"):
        old.run(5.0)
    assert len(new.run(5.0).voltage.ids) == 3



def test_cell_parameter_overrides_reach_the_cells():
    env = make({"EXC": 2, "INH": 1}, backend="neuron", record=(), noise=QUIET,
               cell_params={"EXC": {"soma_gmax_Na": [0.1, 0.2]}, "INH": {"V_threshold": -40.0}})
    assert env.cells[0].soma(0.5).rcsd_na.gmax == pytest.approx(0.1)
    assert env.cells[1].soma(0.5).rcsd_na.gmax == pytest.approx(0.2)
    assert env.cells[2].threshold == pytest.approx(-40.0)


def test_env_single_cell_step_matches_the_reference_vector():
    # RCSD.md 7.3 through the whole Env path (init, spike filter, stimulus timing): the published
    # NEURON numbers at dt = 0.025 ms
    from livn.testing.single_cell import current_step, spike_times

    run = current_step("neuron", "rcsd", "EXC", 0.05, duration=1100.0, dt=0.025, onset=100.0, offset=1100.0)
    times = spike_times(run)
    assert len(times) == 9
    np.testing.assert_allclose(times[[0, 1, 2, -1]], [111.9, 216.7, 337.5, 1064.8], atol=0.2)


def test_membrane_currents_feed_the_field_potential():
    env = quiet_env(record=("membrane_current",))
    run = env.run(30.0, stimulus=Stimulus(np.full((60, 1), 0.2), dt=0.5, gids=[0], input_mode="current"))
    lfp = env.potential_recording(run.current)
    assert lfp.shape == (len(env.io.electrode_coordinates), run.current.num_samples)
    assert np.isfinite(lfp).all() and np.abs(lfp).max() > 0.0


@pytest.mark.parametrize("seed", [1, 2])
def test_default_parameters_give_moderate_spontaneous_activity(seed):
    # the tuned defaults (livn.models.rcsd): every population between 0.5 and 20 Hz, also at the end
    env = make("EI1", backend="neuron", seed=seed, record=("spikes",))
    run = env.run(1000.0)
    ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
    for population, (start, count) in env.system.population_ranges.items():
        mine = (ids >= start) & (ids < start + count)
        rate = mine.sum() / count
        late = (mine & (times >= 500.0)).sum() / count / 0.5
        assert 0.5 <= rate <= 20.0, (population, rate)
        assert late <= 20.0, (population, late)
