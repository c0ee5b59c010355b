"""Single cells against references no backend wrote: the LIF formula, Izhikevich (2003) classes and
scipy's integration of the GLIF equations (:func:`livn.models.glif.glif_reference_spike_times`)."""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn.backends import resolve
from livn.models.glif import glif_defaults, glif_reference_spike_times
from livn.models.lif import lif_isi
from livn.stimulus import Stimulus
from livn.testing.single_cell import current_step, interspike_intervals, izhikevich_reference, spike_times


def _requires(backend_name: str, model: str) -> None:
    cls = resolve(backend_name)
    if model not in cls.implementations():
        pytest.skip(f"backend {backend_name!r} does not run {model} (runs {sorted(cls.implementations())})")


@pytest.mark.parametrize("current", [0.2, 0.3, 0.5])
def test_lif_interval_matches_analytic(backend_name, current):
    _requires(backend_name, "lif")
    dt = 0.01
    run = current_step(backend_name, "lif", "EXC", current, duration=300.0, dt=dt)
    isi = interspike_intervals(run)
    assert isi.size >= 5
    expected = lif_isi(current)
    # spikes land on the step grid, so each interval is the analytic one rounded up to dt
    assert np.mean(isi) == pytest.approx(expected, rel=0.01)


def test_lif_below_rheobase_is_silent(backend_name):
    _requires(backend_name, "lif")
    run = current_step(backend_name, "lif", "EXC", 0.14, duration=200.0, dt=0.05)
    assert len(run.spikes) == 0


REGULAR_SPIKING = {"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0}
FAST_SPIKING = {"a": 0.1, "b": 0.2, "c": -65.0, "d": 2.0}


def test_izhikevich_regular_spiking_adapts(backend_name):
    _requires(backend_name, "izhikevich")
    run = current_step(backend_name, "izhikevich", "EXC", 0.1, duration=1000.0, dt=0.1, cell_params=REGULAR_SPIKING)
    isi = interspike_intervals(run)
    assert isi.size >= 5
    # Izhikevich (2003): RS cells fire a few short intervals, then slow down (adaptation)
    assert isi[-1] > 1.5 * isi[0]


def test_izhikevich_fast_spiking_does_not_adapt(backend_name):
    _requires(backend_name, "izhikevich")
    fs = interspike_intervals(
        current_step(backend_name, "izhikevich", "INH", 0.1, duration=1000.0, dt=0.1, cell_params=FAST_SPIKING)
    )
    rs = interspike_intervals(
        current_step(backend_name, "izhikevich", "EXC", 0.1, duration=1000.0, dt=0.1, cell_params=REGULAR_SPIKING)
    )
    # FS: tonic firing above 100 Hz at a drive where RS settles below ~30 Hz (Izhikevich 2003, fig. 2)
    assert fs.size > 4 * rs.size
    assert np.mean(fs[-10:]) < 10.0 < 30.0 < np.mean(rs[-3:])
    assert np.std(fs[-10:]) < 0.05 * np.mean(fs[-10:])


def test_izhikevich_matches_the_reference_scheme(backend_name):
    """Forward Euler, reset at v >= 30, spike stamped at the step start: the plain-Python reference.

    RS at 0.1 nA is well-conditioned (rounding-level changes of the initial state move no spike),
    so every backend implementing the contract reproduces the reference spike for spike.
    """
    _requires(backend_name, "izhikevich")
    run = current_step(backend_name, "izhikevich", "EXC", 0.1, duration=500.0, dt=0.1, cell_params=REGULAR_SPIKING)
    reference = izhikevich_reference(REGULAR_SPIKING, 0.1, 500.0, 0.1)
    got = spike_times(run)
    assert got.size == reference.size >= 5
    np.testing.assert_allclose(got, reference, atol=1e-6)


def test_izhikevich_cell_params_reach_the_cells(backend_name):
    """Overrides given to make(cell_params=...) are the cells' parameters (Env.cell_parameters)."""
    _requires(backend_name, "izhikevich")
    strong = interspike_intervals(
        current_step(backend_name, "izhikevich", "EXC", 0.1, duration=500.0, dt=0.1, cell_params={**REGULAR_SPIKING, "d": 8.0})
    )
    weak = interspike_intervals(
        current_step(backend_name, "izhikevich", "EXC", 0.1, duration=500.0, dt=0.1, cell_params={**REGULAR_SPIKING, "d": 2.0})
    )
    # a smaller after-spike jump of u (d) means less adaptation: more spikes at the same drive
    assert weak.size > strong.size + 3


GLIF_DT = 0.01  # ms


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_glif_f_i_points_match_the_scipy_reference_within_a_step(backend_name, level):
    """A fixed-step backend stamps a spike at the start of the step whose end is above threshold, so
    each interval comes out up to one step longer than the continuous one (measured: 0.0090 ms)."""
    _requires(backend_name, f"glif{level}")
    currents = [0.3, 0.6]
    env = livn.make({"EXC": len(currents)}, backend=backend_name, model=f"glif{level}", record=("spikes",),
                    noise={"mean": 0.0, "std": 0.0})
    values = np.tile(np.asarray(currents), (300, 1))
    run = env.run(300.0, stimulus=Stimulus(values, dt=1.0, input_mode="current"), dt=GLIF_DT)
    env.close()
    for gid, current in enumerate(currents):
        got = np.sort(np.asarray(run.spikes.times)[np.asarray(run.spikes.ids) == gid])
        expected = glif_reference_spike_times(level, current, 300.0)
        n = min(got.size, expected.size)
        assert n >= 4, (got, expected)
        assert abs(got[0] - expected[0]) <= GLIF_DT  # the first spike: stamped at the start of its step
        assert np.max(np.abs(np.diff(got[:n]) - np.diff(expected[:n]))) <= GLIF_DT
        # the rate: the fixed-step train loses at most one spike to its per-interval lag
        assert abs(got.size - expected.size) <= max(1, int(0.05 * expected.size))


def test_glif1_interval_is_the_analytic_lif_interval_plus_t_ref(backend_name):
    _requires(backend_name, "glif1")
    p = glif_defaults(1)
    isi = lif_isi(0.4, E_L=p["E_L"], v_th=p["theta_inf"], v_reset=p["E_L"], tau_m=p["C"] / p["G"], R=1.0 / p["G"])
    intervals = interspike_intervals(current_step(backend_name, "glif1", "EXC", 0.4, duration=200.0, dt=GLIF_DT))
    assert intervals.size >= 10
    assert np.all(intervals >= isi + p["t_ref"]) and np.all(intervals <= isi + p["t_ref"] + GLIF_DT)
