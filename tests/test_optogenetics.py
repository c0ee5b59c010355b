"""Optogenetics on every backend: photocurrents against the scipy reference, and light that moves a network.

The backend's default model runs (brian2: Izhikevich, diffrax and neuron: RCSD); the protocols are
:mod:`livn.testing.optogenetics` (shared with the equivalence report).
"""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn.backends import resolve
from livn.errors import CapabilityError
from livn.stimulus import Stimulus

pytest.importorskip("scipy")

from livn.testing.optogenetics import WAVELENGTH, network_light_rates, photocurrent_step  # noqa: E402


@pytest.fixture(autouse=True)
def _opsins(backend_name):
    """Skip where the backend runs no opsins, once it has refused to express one."""
    if "light" in resolve(backend_name).input_modes:
        return
    env = livn.make({"EXC": 1}, backend=backend_name, record=())
    try:
        with pytest.raises(CapabilityError, match="opsin"):
            env.express_opsin("chr2")
    finally:
        env.close()
    pytest.skip(f"backend {backend_name!r} runs no opsins (and says so)")


@pytest.mark.parametrize("opsin", ["chr2", "gtacr2"])
def test_photocurrent_matches_the_scipy_reference(backend_name, opsin):
    """A 1 s light step (5 mW/mm2) on one noiseless cell: peak and steady state within 2 % of scipy."""
    result = photocurrent_step(backend_name, opsin)
    current, voltage, lit = result["current"], result["voltage"], result["lit"]
    assert np.all(current[: lit.start] == 0), "no light, no photocurrent"
    assert result["peak"] == pytest.approx(result["peak_reference"], rel=0.02)
    assert result["steady"] == pytest.approx(result["steady_reference"], rel=0.02)
    if opsin == "chr2":  # excitatory: an inward current that depolarises the cell
        assert result["steady"] < 0 and voltage[lit.stop - 1] > voltage[lit.start - 1]
    else:  # chloride: towards -69.5 mV
        assert np.sign(result["steady"]) == np.sign(voltage[lit.stop - 1] + 69.5)


@pytest.mark.parametrize("opsin, direction", [("chr2", 1), ("gtacr2", -1)])
def test_light_moves_the_network_rate(backend_name, opsin, direction):
    """EI2 with the opsin in its EXC cells: blue light at least doubles (ChR2) or halves (GtACR2) their rate."""
    dark, lit = network_light_rates(backend_name, opsin)
    assert dark > 1.0, "the culture fires on its own"
    if direction > 0:
        assert lit > 2.0 * dark
    else:
        assert lit < 0.5 * dark


def test_without_opsins_a_light_stimulus_is_refused(backend_name):
    env = livn.make({"EXC": 1}, backend=backend_name, record=("spikes",))
    assert "light" in type(env).input_modes and {"chr2", "gtacr2"} <= set(type(env).opsin_implementations())
    with pytest.raises(ValueError, match="express_opsin"):
        env.run(10.0, Stimulus.from_irradiance(np.ones((10, 1)), dt=1.0, wavelength=WAVELENGTH))
    env.close()


def test_photocurrent_without_opsins_is_zero_and_clear_keeps_opsins(backend_name):
    cls = resolve(backend_name)
    model = "izhikevich" if "izhikevich" in cls.implementations() else None  # the cheapest to build
    env = livn.make({"EXC": 2}, backend=backend_name, model=model, record=("spikes",))
    env.record("photocurrent", dt=1.0)
    run = env.run(5.0)
    assert np.asarray(run.photocurrent.values).shape == (2, 5) and not np.any(np.asarray(run.photocurrent.values))
    env.clear()
    env.express_opsin("chr2", gids=[1], g_max=0.001)
    light = Stimulus.from_irradiance(np.full((5, 2), 5.0), dt=1.0, wavelength=WAVELENGTH)
    first = np.asarray(env.run(5.0, light).photocurrent.values)
    assert np.all(first[0] == 0) and first[1, -1] < 0, "only the expressing cell has a (ChR2: inward) photocurrent"
    env.clear()
    again = np.asarray(env.run(5.0, light).photocurrent.values)
    np.testing.assert_allclose(again, first, rtol=1e-9, atol=1e-15)
    env.close()
