"""LIF and Izhikevich on the diffrax backend: analytic LIF intervals and Izhikevich firing classes."""

from __future__ import annotations

import numpy as np
import pytest
from diffrax_helpers import quiet_env
from livn.models.lif import lif_isi
from livn.stimulus import Stimulus


def test_lif_interval_matches_the_analytic_formula():
    currents = [0.2, 0.3, 0.5]
    env = quiet_env({"EXC": len(currents)}, model="lif", record=("spikes",))
    values = np.tile(np.asarray(currents), (1000, 1))
    run = env.run(500.0, stimulus=Stimulus(values, dt=0.5, input_mode="current"), dt=0.01)
    for gid, current in enumerate(currents):
        times = run.spikes.times[run.spikes.ids == gid]
        isi = np.diff(times).mean()
        assert abs(isi - lif_isi(current)) <= 0.01 * lif_isi(current), (current, isi, lif_isi(current))


def test_izhikevich_regular_and_fast_spiking():
    env = quiet_env({"EXC": 1, "INH": 1}, model="izhikevich", record=("spikes",))
    values = np.full((2000, 2), 0.1)  # 10 mV/ms of drive (Izhikevich's I = 10)
    run = env.run(1000.0, stimulus=Stimulus(values, dt=0.5, input_mode="current"), dt=0.1)
    rs = np.diff(run.spikes.times[run.spikes.ids == 0])
    fs = np.diff(run.spikes.times[run.spikes.ids == 1])
    assert rs.size > 3 and fs.size > 3
    assert fs.mean() < rs.mean()  # fast spiking fires faster
    assert rs[-1] > rs[0]  # regular spiking adapts


def test_extracellular_potential_drives_point_models_through_the_gain():
    """I = -extracellular_gain * V_e: a negative potential acts exactly like the matching current."""
    env = quiet_env({"EXC": 2}, model="lif", record=("voltage",))
    gain = env.model.constants["extracellular_gain"]
    potential = np.full((40, 2), -0.05)
    by_field = env.run(20.0, stimulus=Stimulus(potential, dt=0.5)).voltage.values
    env.clear()
    current = Stimulus(-gain * potential, dt=0.5, input_mode="current")
    by_current = env.run(20.0, stimulus=current).voltage.values
    np.testing.assert_allclose(by_field, by_current, atol=1e-12)
    assert by_field[0, -1] > by_field[0, 0]  # depolarised


@pytest.mark.parametrize("model", ["lif", "izhikevich"])
def test_point_model_networks_run_with_noise_and_are_reproducible(model):
    import livn

    runs = [livn.make("EI1", backend="diffrax", model=model, seed=11).run(200.0) for _ in range(2)]
    assert len(runs[0].spikes) > 0
    assert np.all(np.isfinite(runs[0].voltage.values))
    assert np.array_equal(runs[0].spikes.ids, runs[1].spikes.ids)
    np.testing.assert_array_equal(runs[0].spikes.times, runs[1].spikes.times)
