"""Single cells against references no backend wrote: the LIF formula and Izhikevich (2003) classes."""

from __future__ import annotations

import numpy as np
import pytest
from livn.backends import resolve
from livn.models.lif import lif_isi
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
