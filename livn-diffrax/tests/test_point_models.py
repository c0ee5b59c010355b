"""LIF and Izhikevich on the diffrax backend: analytic LIF intervals and Izhikevich firing classes."""

from __future__ import annotations

import numpy as np
import pytest

from livn.errors import CapabilityError
from livn.models.lif import lif_isi
from livn.stimulus import Stimulus

from conftest import quiet_env


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


def test_extracellular_stimulus_on_a_point_model_is_refused():
    env = quiet_env({"EXC": 2}, model="lif", record=("spikes",))
    with pytest.raises(CapabilityError, match="current"):
        env.run(10.0, stimulus=Stimulus(np.ones((20, 2)), dt=0.5))
