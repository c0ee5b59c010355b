"""GLIF levels 1-5 on brian2: registration, each level's reset and adaptation, the helper functions.

The f-I points against scipy's integration of the continuous equations and the GLIF1 interval
against the analytic LIF one run on every backend that has GLIF, in tests/test_single_cell.py.
brian2 stamps a spike at the start of the step whose end is above threshold and resets at the start
of the next.
"""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn.models.glif import glif_defaults
from livn.testing.single_cell import current_step, interspike_intervals, spike_times
from livn_brian2.models.glif import exp_divided_difference_2, phi1

LEVELS = [1, 2, 3, 4, 5]
DT = 0.01  # ms


def test_glif_levels_are_registered_on_brian2():
    cls = livn.backends.resolve("brian2")
    for level in LEVELS:
        assert f"glif{level}" in cls.implementations()


def test_glif2_reset_rule_and_refractory_hold():
    p = glif_defaults(2)
    run = current_step("brian2", "glif2", "EXC", 0.4, duration=100.0, dt=DT, voltage_dt=DT)
    v = np.asarray(run.voltage.values)[0]
    first = int(round(spike_times(run)[0] / DT))
    assert v[first + 1] == pytest.approx(p["theta_inf"])  # the spike's sample is drawn at threshold
    expected = p["E_L"] + p["f_v"] * (p["theta_inf"] - p["E_L"]) + p["delta_V"]
    np.testing.assert_allclose(v[first + 2 : first + 377], expected, rtol=0, atol=1e-9)  # 375 steps = t_ref
    assert v[first + 377] > expected


def test_adaptation_mechanisms():
    glif2 = interspike_intervals(current_step("brian2", "glif2", "EXC", 0.4, duration=200.0, dt=DT))
    assert np.all(np.diff(glif2) > 0)  # threshold adaptation (Theta_s)
    glif3 = interspike_intervals(current_step("brian2", "glif3", "EXC", 0.4, duration=400.0, dt=DT))
    assert glif3[-1] > 1.15 * glif3[0]  # after-spike currents
    # Theta_v keeps a current just above the fixed threshold's rheobase (0.256 nA) from firing
    assert spike_times(current_step("brian2", "glif5", "EXC", 0.27, duration=200.0, dt=DT)).size == 0
    assert spike_times(current_step("brian2", "glif4", "EXC", 0.27, duration=200.0, dt=DT)).size > 0


def test_numpy_divided_differences():
    assert float(phi1(0.0)) == 1.0 and float(phi1(-1.0)) == pytest.approx(1 - np.exp(-1.0))
    assert float(exp_divided_difference_2(-1.0, -1.0, -1.0)) == pytest.approx(np.exp(-1.0) / 2, rel=1e-14)
    x, y, z = -2.0, -0.5, -0.01
    direct = ((np.exp(x) - np.exp(y)) / (x - y) - (np.exp(y) - np.exp(z)) / (y - z)) / (x - z)
    assert float(exp_divided_difference_2(x, y, z)) == pytest.approx(direct, rel=1e-13)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="b_s"):
        current_step("brian2", "glif2", "EXC", 0.4, duration=10.0, dt=0.1, cell_params={"b_s": -0.01})
    with pytest.raises(KeyError, match="unknown cell parameter"):
        livn.make({"EXC": 1}, backend="brian2", model="glif3", cell_params={"EXC": {"a_v": 0.1}})


def test_a_glif_culture_fires_at_a_few_hz():
    env = livn.make("EI1", backend="brian2", model="glif5", seed=11, record=("spikes", "voltage"))
    run = env.run(1000.0)
    env.close()
    rate = len(run.spikes) / env.system.num_neurons
    assert 1.0 <= rate <= 15.0, rate
    assert np.all(np.isfinite(run.voltage.values))
