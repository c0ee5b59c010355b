"""AdEx, a model none of livn's backends ships, runs on brian2 and diffrax through the registry alone.

The f–I points are checked against :mod:`livn_model_example.reference` (scipy's adaptive solver on
the continuous equations, exact spike crossings), which no backend wrote. Both backends integrate
by forward Euler, whose intervals come out slightly long: at dt 0.1 ms the mean interval is within
1 % of the reference (measured: +0.2 % at 0.8 nA to +0.5 % at 1.5 nA), at dt 0.01 ms within 0.1 %.
"""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn import plugins
from livn.testing.single_cell import current_step, interspike_intervals
from livn_model_example import ADEX
from livn_model_example.reference import spike_times

BACKENDS = ["brian2", "diffrax"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_adex_is_registered_on_the_backend(backend):
    cls = livn.backends.resolve(backend)
    assert plugins.models()[ADEX.name] is ADEX
    assert ADEX.name in cls.implementations()
    assert ADEX.name in cls.capabilities()["models"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("current", "dt", "tolerance"), [(0.8, 0.1, 0.01), (1.5, 0.1, 0.01), (1.0, 0.01, 0.001)])
def test_f_i_point_matches_the_reference(backend, current, dt, tolerance):
    reference = spike_times(current, 1000.0)
    run = current_step(backend, ADEX.name, "EXC", current, duration=1000.0, dt=dt)
    isi = interspike_intervals(run)
    assert len(run.spikes) == reference.size
    assert np.mean(isi) == pytest.approx(np.mean(np.diff(reference)), rel=tolerance)


@pytest.mark.parametrize("backend", BACKENDS)
def test_below_rheobase_is_silent_and_adaptation_only_where_declared(backend):
    assert spike_times(0.5, 500.0).size == 0
    assert len(current_step(backend, ADEX.name, "EXC", 0.5, duration=500.0, dt=0.1).spikes) == 0
    exc = interspike_intervals(current_step(backend, ADEX.name, "EXC", 1.0, duration=500.0, dt=0.1))
    inh = interspike_intervals(current_step(backend, ADEX.name, "INH", 1.0, duration=500.0, dt=0.1))
    assert exc[-1] > 2.5 * exc[0]  # spike-triggered adaptation (b > 0)
    assert inh[-1] == pytest.approx(inh[1], rel=0.02)  # a = b = 0: tonic


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_culture_of_adex_cells_runs_and_responds_to_the_electrodes(backend):
    env = livn.make("EI1", backend=backend, model=ADEX.name, noise={"std": 0.0})
    quiet = env.run(100.0)
    assert len(quiet.spikes) == 0 and np.all(np.isfinite(np.asarray(quiet.voltage.values)))
    env.clear()
    channels = env.io.electrode_coordinates.shape[0]
    inputs = np.zeros((2000, channels))
    inputs[:, :] = -20.0  # uA, cathodic on every electrode for 100 ms
    driven = env.run(100.0, stimulus=env.cell_stimulus(inputs, dt=0.05))
    assert len(driven.spikes) > 0
