"""GLIF levels 1-5 on diffrax: each level's mechanism and exact spike times (the f-I points against
scipy and the GLIF1 interval run on every backend with GLIF, in tests/test_single_cell.py).

References no backend wrote: :func:`livn.models.glif.glif_reference_spike_times` (scipy's DOP853
between spikes, exact crossings by its event location, rtol 1e-10) and the analytic LIF interval
(:func:`livn.models.lif.lif_isi`). The fixed-step engine stamps a spike at the start of the step
whose end is above threshold and resets at that step's end, so each of its intervals comes out up
to one step longer than the continuous one (measured: at most 0.0090 ms at dt 0.01 ms); the
event-driven times (:mod:`livn_diffrax.event_driven`) agree with scipy to ~1e-10 ms and their
gradients with central finite differences to ~1e-9 (relative).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import livn
import numpy as np
import pytest
from livn.models.glif import glif_defaults, glif_reference_spike_times
from livn.models.lif import lif_isi
from livn.stimulus import Stimulus
from livn.testing.single_cell import current_step, interspike_intervals, spike_times
from livn_diffrax._precision import require_x64
from livn_diffrax.event_driven import population_spike_times
from livn_diffrax.event_driven import spike_times as exact_spike_times
from livn_diffrax.models.glif import exp_divided_difference_1, exp_divided_difference_2

LEVELS = [1, 2, 3, 4, 5]
DT = 0.01  # ms


@pytest.fixture(autouse=True, scope="module")
def _float64():
    """The spike-time functions compute in float64; arrays a test makes first must be float64 too."""
    require_x64()


def _intervals_within_a_step(got: np.ndarray, expected: np.ndarray, dt: float) -> float:
    """Largest |ISI difference| (ms) over the intervals both trains have."""
    n = min(got.size, expected.size)
    assert n >= 4, (got, expected)
    return float(np.max(np.abs(np.diff(got[:n]) - np.diff(expected[:n]))))


# -- the model on the fixed-step engine -----------------------------------------------------------------


def test_glif_levels_are_registered_on_diffrax():
    cls = livn.backends.resolve("diffrax")
    for level in LEVELS:
        assert f"glif{level}" in cls.implementations()


def test_glif2_reset_rule_and_threshold_adaptation():
    p = glif_defaults(2)
    run = current_step("diffrax", "glif2", "EXC", 0.4, duration=200.0, dt=DT, voltage_dt=DT)
    v = np.asarray(run.voltage.values)[0]
    first = int(round(spike_times(run)[0] / DT))
    expected = p["E_L"] + p["f_v"] * (p["theta_inf"] - p["E_L"]) + p["delta_V"]  # Theta_s = 0 at the first spike
    np.testing.assert_allclose(v[first + 1 : first + 376], expected, rtol=0, atol=1e-9)
    intervals = interspike_intervals(run)
    # the reset sits 3.2 mV below threshold, so the second spike comes sooner than from rest ...
    assert intervals[0] < spike_times(run)[0] + p["t_ref"]
    # ... and every spike raises the threshold by delta_theta_s (decaying over 111 ms): intervals lengthen
    assert np.all(np.diff(intervals) > 0)
    no_adaptation = current_step("diffrax", "glif2", "EXC", 0.4, duration=200.0, dt=DT,
                                 cell_params={"delta_theta_s": 0.0})
    flat = interspike_intervals(no_adaptation)
    assert np.ptp(flat) <= DT + 1e-9 and flat[-1] < intervals[-1]


def test_glif3_after_spike_currents_lengthen_intervals():
    run = current_step("diffrax", "glif3", "EXC", 0.4, duration=400.0, dt=DT)
    intervals = interspike_intervals(run)
    assert intervals[-1] > 1.15 * intervals[0]  # the slow current (333 ms) accumulates
    assert np.all(np.diff(intervals) > -DT - 1e-9)
    without = current_step("diffrax", "glif3", "EXC", 0.4, duration=400.0, dt=DT,
                           cell_params={"delta_I_1": 0.0, "delta_I_2": 0.0})
    np.testing.assert_allclose(spike_times(without), spike_times(current_step("diffrax", "glif1", "EXC", 0.4,
                                                                                 duration=400.0, dt=DT)))


def test_glif5_voltage_dependent_threshold():
    # a_v = 0 switches Theta_v off: GLIF5 becomes GLIF4, spike for spike
    level4 = spike_times(current_step("diffrax", "glif4", "EXC", 0.4, duration=200.0, dt=DT))
    off = spike_times(current_step("diffrax", "glif5", "EXC", 0.4, duration=200.0, dt=DT, cell_params={"a_v": 0.0}))
    np.testing.assert_array_equal(off, level4)
    # with a_v > 0 the depolarisation raises the threshold: the first spike comes later
    on = spike_times(current_step("diffrax", "glif5", "EXC", 0.4, duration=200.0, dt=DT))
    assert on[0] > level4[0] + 0.1
    # a current just above the fixed threshold's rheobase (0.256 nA) no longer fires: Theta_v rises
    # with V (steady state a_v / b_v (V - E_L)) and keeps the threshold out of reach
    assert spike_times(current_step("diffrax", "glif5", "EXC", 0.27, duration=200.0, dt=DT)).size == 0
    assert spike_times(current_step("diffrax", "glif4", "EXC", 0.27, duration=200.0, dt=DT)).size > 0


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="k_1"):
        current_step("diffrax", "glif3", "EXC", 0.4, duration=10.0, dt=0.1, cell_params={"k_1": -0.01})
    with pytest.raises(ValueError, match="unknown GLIF level"):
        exact_spike_times({}, 0.4, 10.0, level=6)
    with pytest.raises(ValueError, match="b_v"):
        exact_spike_times({"b_v": -1.0}, 0.4, 10.0, level=5)
    with pytest.raises(ValueError, match="no parameters"):
        exact_spike_times({"a_v": 0.1}, 0.4, 10.0, level=1)
    with pytest.raises(KeyError, match="unknown cell parameter"):
        livn.make({"EXC": 1}, backend="diffrax", model="glif1", cell_params={"EXC": {"a_v": 0.1}})


def test_a_glif_culture_runs_and_is_reproducible():
    runs = [livn.make("EI1", backend="diffrax", model="glif5", seed=11).run(300.0) for _ in range(2)]
    assert len(runs[0].spikes) > 0
    assert np.all(np.isfinite(runs[0].voltage.values))
    np.testing.assert_array_equal(runs[0].spikes.ids, runs[1].spikes.ids)
    np.testing.assert_array_equal(runs[0].spikes.times, runs[1].spikes.times)


# -- exact propagation and event-driven spike times -----------------------------------------------------


def test_divided_differences_are_accurate_where_points_coincide():
    def reference(points):
        # exp[x0, x1, x2] = integral over the simplex of exp(sum t_i x_i), by 2-d Gauss-Legendre quadrature
        nodes, weights = np.polynomial.legendre.leggauss(40)
        s = 0.5 * (nodes + 1.0)
        total = 0.0
        for si, wi in zip(s, weights):
            t = 0.5 * (1 - si) * (nodes + 1.0)
            inner = np.exp(points[0] * si + points[1] * t + points[2] * (1 - si - t))
            total += 0.5 * wi * 0.5 * (1 - si) * np.sum(weights * inner)
        return total

    for points in ([-0.3, -0.3, -0.3], [-1.0, -1.0 + 1e-9, -1.0 - 2e-9], [-2.0, -0.5, -0.01], [0.0, -0.04, -0.02],
                   [-5.0, -5.0, -0.1]):
        got = float(exp_divided_difference_2(*(jnp.asarray(x) for x in points)))
        assert got == pytest.approx(reference(points), rel=1e-12)
    assert float(exp_divided_difference_1(jnp.asarray(-0.7), jnp.asarray(-0.7))) == pytest.approx(np.exp(-0.7))
    assert float(exp_divided_difference_1(jnp.asarray(-0.7), jnp.asarray(-2.0))) == pytest.approx(
        (np.exp(-0.7) - np.exp(-2.0)) / 1.3, rel=1e-14)


def test_event_driven_glif1_matches_the_analytic_lif_interval():
    p = glif_defaults(1)
    train = exact_spike_times({}, 0.4, 300.0, level=1, max_spikes=40)
    isi = lif_isi(0.4, E_L=p["E_L"], v_th=p["theta_inf"], v_reset=p["E_L"], tau_m=p["C"] / p["G"], R=1.0 / p["G"])
    count = int(train.count)
    times = np.asarray(train.times)
    assert count == 30 and np.all(np.isinf(times[count:]))
    assert times[0] == pytest.approx(isi, abs=1e-10)
    np.testing.assert_allclose(np.diff(times[:count]), isi + p["t_ref"], rtol=0, atol=1e-10)


@pytest.mark.parametrize("level", LEVELS)
def test_event_driven_matches_scipy_and_the_fixed_step_runs(level):
    train = exact_spike_times({}, 0.5, 300.0, level=level, max_spikes=64)
    exact = np.asarray(train.times)[: int(train.count)]
    np.testing.assert_allclose(exact, glif_reference_spike_times(level, 0.5, 300.0), rtol=0, atol=1e-7)
    fixed = spike_times(current_step("diffrax", f"glif{level}", "EXC", 0.5, duration=300.0, dt=DT))
    assert 0.0 <= exact[0] - fixed[0] <= DT
    assert _intervals_within_a_step(fixed, exact, DT) <= DT


def test_event_driven_piecewise_current_matches_the_fixed_step_run():
    # 0.5 nA for 40 ms, off for 30 ms, 0.35 nA after: a spike train, silence, a slower train
    values, breaks = [0.5, 0.0, 0.35], [40.0, 70.0]
    train = exact_spike_times({}, values, 200.0, level=5, max_spikes=32, breaks=breaks)
    exact = np.asarray(train.times)[: int(train.count)]
    assert np.sum(exact < 40.0) >= 2 and not np.any((exact > 45.0) & (exact < 70.0)) and np.sum(exact > 70.0) >= 2
    t = np.arange(20000) * DT
    stimulus = np.select([t < 40.0, t < 70.0], [0.5, 0.0], 0.35)[:, None]
    env = livn.make({"EXC": 1}, backend="diffrax", model="glif5", record=("spikes",), noise={"mean": 0.0, "std": 0.0})
    fixed = spike_times(env.run(200.0, stimulus=Stimulus(stimulus, dt=DT, input_mode="current"), dt=DT))
    assert fixed.size == exact.size
    # the lag of the fixed-step train is one step at most, per spike, and it restarts at the silent gap
    assert np.all(np.abs(fixed - exact) <= 3 * DT)


def test_population_matches_single_cells():
    currents = jnp.asarray([0.3, 0.45, 0.6])
    population = population_spike_times({"G": jnp.asarray([0.009, 0.0094, 0.0098])}, currents, 150.0, level=4,
                                        max_spikes=24)
    for i, (current, g) in enumerate(zip([0.3, 0.45, 0.6], [0.009, 0.0094, 0.0098])):
        single = exact_spike_times({"G": g}, current, 150.0, level=4, max_spikes=24)
        assert int(population.count[i]) == int(single.count)
        np.testing.assert_allclose(population.times[i], single.times, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("level", "names"),
    [(1, ("G", "C", "theta_inf", "t_ref")), (3, ("G", "k_2", "delta_I_2", "delta_I_1")),
     (5, ("C", "theta_inf", "a_v", "b_v", "f_v", "delta_V", "delta_theta_s", "b_s"))],
)
def test_spike_time_gradients_match_central_differences(level, names):
    """d t_k / d p by the implicit function theorem, against (t_k(p + e) - t_k(p - e)) / 2e."""
    defaults = glif_defaults(level)
    k = 6  # the 7th spike: its gradient runs through six resets

    @jax.jit
    def kth_spike(params, current):
        return exact_spike_times(params, current, 200.0, level=level, max_spikes=12).times[k]

    params = {name: jnp.asarray(defaults[name]) for name in names}
    current = jnp.asarray(0.45)
    grads, grad_current = jax.grad(kth_spike, argnums=(0, 1))(params, current)
    assert np.isfinite(float(kth_spike(params, current)))
    for name in names:
        eps = 1e-6 * abs(defaults[name])
        up = kth_spike({**params, name: params[name] + eps}, current)
        down = kth_spike({**params, name: params[name] - eps}, current)
        fd = float(up - down) / (2 * eps)
        assert float(grads[name]) == pytest.approx(fd, rel=1e-4, abs=1e-6), name
    fd = float(kth_spike(params, current + 1e-7) - kth_spike(params, current - 1e-7)) / 2e-7
    assert float(grad_current) == pytest.approx(fd, rel=1e-4)
    assert float(grad_current) < 0  # more current, earlier spikes
