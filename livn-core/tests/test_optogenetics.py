"""Optogenetics in livn-core: the light model, opsins as data, the scipy reference and the checks before a run."""

from __future__ import annotations

import math

import livn
import numpy as np
import pytest
from livn.errors import CapabilityError
from livn.io import MEA
from livn.optogenetics import CHR2, GTACR2, LightArray, LightMEA, OpsinError, registered_opsins, transmittance
from livn.optogenetics.opsins import LIGHT_SPEED, PLANCK
from livn.run import Events
from livn.stimulus import Stimulus

pytest.importorskip("scipy")
from livn.optogenetics.reference import photocurrent  # noqa: E402


class Lit(livn.Env):
    """A backend without dynamics that takes light and runs both opsins."""

    backend_name = "lit"
    signals = ("spikes",)
    default_model = "lif"
    input_modes = ("extracellular", "current", "light")

    @classmethod
    def implementations(cls):
        return {"lif": None}

    @classmethod
    def opsin_implementations(cls):
        return {"chr2": "four-state", "gtacr2": "four-state"}

    def _init(self):
        self.changes = 0

    def _opsins_changed(self):
        self.changes += 1

    def _run(self, duration, stimulus, dt):
        self.last = stimulus
        return {"spikes": Events(np.zeros(0, np.int64), np.zeros(0))}


class Dark(Lit):
    """The same backend without opsin implementations nor the light input mode."""

    backend_name = "dark"
    input_modes = ("extracellular", "current")

    @classmethod
    def opsin_implementations(cls):
        return {}


# -- light in tissue ---------------------------------------------------------------------------


def test_transmittance_follows_foutz_2012():
    args = dict(radius=100.0, numerical_aperture=0.37, absorption=0.125, scattering=7.37, refraction=1.36)
    assert transmittance(0.0, 0.0, **args) == pytest.approx(1.0)
    # by hand at 500 um on the axis: cone spread, Kubelka-Munk
    z = 0.5
    beam = 0.1 + z * math.tan(math.asin(0.37 / 1.36))
    a = 1 + 0.125 / 7.37
    b = math.sqrt(a * a - 1)
    expected = (0.1 / beam) ** 2 * b / (a * math.sinh(b * 7.37 * z) + b * math.cosh(b * 7.37 * z))
    assert transmittance(0.0, 500.0, **args) == pytest.approx(expected, rel=1e-12)
    depth = transmittance(0.0, np.linspace(0, 1000, 50), **args)
    assert np.all(np.diff(depth) < 0), "light fades with depth"
    across = transmittance(np.linspace(0, 300, 30), 100.0, **args)
    assert np.all(np.diff(across) < 0), "and away from the axis"
    assert transmittance(0.0, -10.0, **args) == 0.0, "nothing behind the emitter"


def test_light_array_maps_power_to_irradiance_at_cells():
    light = LightArray([[0.0, 0.0, -50.0], [400.0, 0.0, -50.0]])
    assert light.num_channels == 2 and list(light.channel_ids) == [0, 1]
    assert light.tip_irradiance(1.0) == pytest.approx(1.0 / (math.pi * 0.1**2))
    cells = np.array([[0.0, 0.0, 0.0], [400.0, 0.0, 0.0], [200.0, 0.0, 0.0]])
    gain = light.gain(cells)
    assert gain.shape == (2, 3)
    assert gain[0, 0] == pytest.approx(gain[1, 1]) and gain[0, 2] == pytest.approx(gain[1, 2])
    assert gain[0, 0] > gain[0, 2] > gain[0, 1]
    powers = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]])
    irradiance = light.irradiance(cells, powers)
    assert irradiance.shape == (3, 3)
    np.testing.assert_allclose(irradiance, powers @ gain)
    stim = light.light_stimulus(cells, powers, dt=0.5)
    assert stim.input_mode == "light" and stim.units == "mW/mm2" and stim.wavelength == 473.0
    # a tilted emitter lights what it points at
    side = LightArray([[0.0, 0.0, 0.0]], direction=(1.0, 0.0, 0.0))
    assert side.gain(np.array([[100.0, 0.0, 0.0]]))[0, 0] > 0 and side.gain(np.array([[-100.0, 0.0, 0.0]]))[0, 0] == 0


@pytest.mark.parametrize(
    "powers, message",
    [(np.array([[-1.0]]), ">= 0 mW"), (np.array([[np.nan]]), "finite"), (np.ones((3, 2)), r"\[T, 1\]")],
)
def test_light_array_rejects_bad_powers(powers, message):
    with pytest.raises(ValueError, match=message):
        LightArray([[0.0, 0.0, -50.0]]).irradiance(np.zeros((1, 3)), powers)


def test_light_array_needs_tissue_optics_for_its_wavelength():
    with pytest.raises(ValueError, match="no tissue optics"):
        LightArray([[0.0, 0.0, 0.0]], wavelength=590.0)
    light = LightArray([[0.0, 0.0, 0.0]], wavelength=590.0, absorption=0.1, scattering=6.0)
    assert light.wavelength == 590.0
    with pytest.raises(ValueError, match="direction"):
        LightArray([[0.0, 0.0, 0.0]], direction=(0.0, 0.0, 0.0))


# -- opsins ------------------------------------------------------------------------------------------


def test_builtin_opsins_are_registered():
    assert registered_opsins() == {"chr2": CHR2, "gtacr2": GTACR2}
    assert CHR2.excitatory and not GTACR2.excitatory
    assert CHR2.rectifying and not GTACR2.rectifying


def test_action_spectrum_and_light_scale():
    assert CHR2.sensitivity(470) == 1.0
    assert CHR2.sensitivity(510) == pytest.approx((0.57 + 0.22) / 2)
    for bad in (380.0, 600.0, float("nan")):
        with pytest.raises(OpsinError, match="no action spectrum"):
            CHR2.sensitivity(bad)
    # x = irradiance * photons per mJ * sensitivity / phi_m
    photons = 1e-3 * 473e-9 / (PLANCK * LIGHT_SPEED)
    assert CHR2.light_scale(473) == pytest.approx(photons / 2.33e17)
    assert GTACR2.light_scale(500) == pytest.approx(1e-3 * 500e-9 / (PLANCK * LIGHT_SPEED) * 0.41 / 2e17)


def test_dark_rates_and_driving_terms():
    ga1, ga2, gf, gb = CHR2.rates(0.0)
    assert (ga1, ga2, gf, gb) == (0.0, 0.0, CHR2.gf0, CHR2.gb0)
    assert float(CHR2.drive(CHR2.e_rev)) == 0.0
    assert float(CHR2.drive(-70.0)) < 0 < float(CHR2.drive(20.0))
    assert float(GTACR2.drive(-50.0)) == pytest.approx(19.5)
    assert float(CHR2.current(0.1, 0.5, 0.0, -70.0)) == pytest.approx(0.05 * 17.1 * (1 - math.exp(70 / 43)))


# -- the scipy reference --------------------------------------------------------------------------------


def _steady_state(opsin, x):
    """The states under constant light from the linear system (independent of any integrator)."""
    ga1, ga2, gf, gb = opsin.rates(x)
    # rows: dO1, dO2, dC2 with C1 = 1 - O1 - O2 - C2
    a = np.array(
        [
            [-ga1 - opsin.gd1 - gf, gb - ga1, -ga1],
            [gf, -opsin.gd2 - gb, ga2],
            [0.0, opsin.gd2, -opsin.gr0 - ga2],
        ]
    )
    return np.linalg.solve(a, np.array([-ga1, 0.0, 0.0]))


@pytest.mark.parametrize("opsin", [CHR2, GTACR2], ids=lambda o: o.name)
def test_reference_reaches_the_steady_state_and_conserves_channels(opsin):
    light = np.r_[np.zeros(10), np.full(40000, 5.0)]  # 4 s at 0.1 ms
    result = photocurrent(opsin, light, 0.1, 473.0, voltage=-60.0)
    total = result["c1"] + result["o1"] + result["o2"] + result["c2"]
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    assert np.all(result["current"][:11] == 0), "dark-adapted and dark: no current"
    expected = _steady_state(opsin, 5.0 * opsin.light_scale(473.0))
    np.testing.assert_allclose([result["o1"][-1], result["o2"][-1], result["c2"][-1]], expected, rtol=1e-6, atol=1e-9)
    peak = np.max(np.abs(result["current"]))
    assert peak >= abs(result["current"][-1]), "desensitisation: the peak is at least the steady state"


@pytest.mark.parametrize("opsin", [CHR2, GTACR2], ids=lambda o: o.name)
@pytest.mark.parametrize("dt", [0.025, 0.1])
def test_backend_scheme_matches_the_reference(opsin, dt):
    """Opsin.step (RK4 substeps, what the backends run) against scipy, for a 200 ms pulse."""
    n = int(round(300 / dt))
    light = np.zeros(n)
    light[int(round(10 / dt)) : int(round(210 / dt))] = 10.0
    ref = photocurrent(opsin, light, dt, 473.0, voltage=-65.0)
    x = light * opsin.light_scale(473.0)
    states = (0.0, 0.0, 0.0)
    current = [opsin.current(opsin.g_default, states[0], states[1], -65.0)]
    for k in range(n):
        states = opsin.step(*states, x[k], dt)
        current.append(opsin.current(opsin.g_default, states[0], states[1], -65.0))
    current = np.asarray(current)
    assert np.max(np.abs(current - ref["current"])) <= 1e-4 * np.max(np.abs(ref["current"]))


def test_reference_rejects_bad_light():
    with pytest.raises(ValueError, match=">= 0"):
        photocurrent(CHR2, [-1.0], 0.1, 473.0)
    with pytest.raises(OpsinError, match="no action spectrum"):
        photocurrent(CHR2, [1.0], 0.1, 650.0)


# -- stimuli and envs ---------------------------------------------------------------------------------------


def test_light_stimulus_checks_its_values():
    stim = Stimulus.from_irradiance(np.ones((4, 2)), dt=0.5, wavelength=473)
    assert stim.input_mode == "light" and stim.units == "mW/mm2" and stim.wavelength == 473.0
    with pytest.raises(ValueError, match=">= 0"):
        Stimulus.from_irradiance(-np.ones((4, 2)), dt=0.5, wavelength=473)
    with pytest.raises(ValueError, match="NaN"):
        Stimulus.from_irradiance(np.full((4, 2), np.nan), dt=0.5, wavelength=473)
    with pytest.raises(ValueError, match="wavelength"):
        Stimulus(np.ones((4, 2)), dt=0.5, input_mode="light")
    with pytest.raises(ValueError, match="wavelength"):
        Stimulus(np.ones((4, 2)), dt=0.5, input_mode="current", wavelength=473)
    assert Stimulus(np.ones((4, 2)), dt=0.5).wavelength is None


def test_express_opsin_and_light_stimulus_on_an_env():
    env = livn.make({"EXC": 4, "INH": 2}, backend=Lit, record=("spikes",))
    env.express_opsin("chr2", population="EXC", g_max=0.01)
    env.express_opsin(GTACR2, gids=[4], g_max=[0.02])
    assert env.changes == 2
    np.testing.assert_array_equal(env.opsins["chr2"].g_max, [0.01] * 4 + [0, 0])
    np.testing.assert_array_equal(env.opsins["gtacr2"].gids, [4])
    assert Lit.capabilities()["opsins"] == ("chr2", "gtacr2") and "light" in Lit.capabilities()["input_modes"]
    env.io = LightMEA(LightArray.for_area(env.system.area[:2]), MEA.for_area(env.system.area[:2]))
    ids, times = env.channel_recording(np.array([0, 5]), np.array([0.5, 0.7]))  # electrodes record
    assert set(ids) == set(env.io.mea.channel_ids.tolist()) and env.io.num_channels == env.io.mea.num_channels
    stim = env.light_stimulus(np.full((10, env.io.light.num_channels), 0.5), dt=0.1)
    assert stim.array.shape == (10, 6) and np.all(stim.array >= 0)
    env.run(1.0, stim)
    assert env.last is stim
    with pytest.raises(RuntimeError, match="before the first run"):
        env.express_opsin("chr2", population="INH")
    env.clear()
    env.express_opsin("chr2", population="INH", g_max=0.0)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda env: env.express_opsin("chr3"), OpsinError, "unknown opsin 'chr3'"),
        (lambda env: env.express_opsin("chr2", population="PYR"), OpsinError, "no such population"),
        (lambda env: env.express_opsin("chr2", gids=[99]), OpsinError, "cells of this system"),
        (lambda env: env.express_opsin("chr2", g_max=-1.0), ValueError, ">= 0 uS"),
        (lambda env: env.express_opsin("chr2", g_max=[1.0, 2.0]), ValueError, "one per cell"),
        (lambda env: env.run(1.0, Stimulus.from_irradiance(np.ones((10, 3)), 0.1, 473)), ValueError, "express_opsin"),
        (lambda env: env.light_stimulus(np.ones((10, 1))), TypeError, "no light emitters"),
    ],
)
def test_bad_optogenetic_requests_fail_before_running(call, error, message):
    env = livn.make(3, backend=Lit, record=("spikes",))
    with pytest.raises(error, match=message):
        call(env)


def test_a_wavelength_outside_the_action_spectrum_fails_before_running():
    env = livn.make(3, backend=Lit, record=("spikes",))
    env.express_opsin("chr2")
    with pytest.raises(OpsinError, match="no action spectrum at 590"):
        env.run(1.0, Stimulus.from_irradiance(np.ones((10, 3)), 0.1, 590))


def test_a_backend_without_opsins_refuses_them():
    env = livn.make(3, backend=Dark, record=("spikes",))
    with pytest.raises(CapabilityError, match="does not run the opsin 'chr2'"):
        env.express_opsin("chr2")
    with pytest.raises(CapabilityError, match="does not take 'light' stimuli"):
        env.run(1.0, Stimulus.from_irradiance(np.ones((10, 3)), 0.1, 473))
