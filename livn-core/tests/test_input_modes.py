"""The current_density and conductance input modes in livn-core: soma areas, conversion, validation.

The numpy reference backend (tests/livn_reference) takes current_density (converted by the Env base
class) but no conductance, which makes it the backend for the capability error.
"""

from __future__ import annotations

import attrs
import livn
import numpy as np
import pytest
from livn.errors import CapabilityError
from livn.models import base
from livn.models.glif import glif_spec
from livn.models.izhikevich import IZHIKEVICH
from livn.models.lif import LIF
from livn.models.rcsd import BRK, RCSD, V1IN_INVITRO
from livn.stimulus import INPUT_MODES, Stimulus
from livn_reference.env import Env as ReferenceEnv


def _areas(spec, kind: str, n: int = 3) -> np.ndarray:
    return spec.soma_area(kind, spec.cell_parameters(kind, n, np.random.default_rng(0)))


def test_units_of_the_new_modes():
    assert INPUT_MODES["current_density"] == "uA/cm2" and INPUT_MODES["conductance"] == "uS"
    assert Stimulus(np.ones((2, 1)), dt=1.0, input_mode="current_density").units == "uA/cm2"
    stimulus = Stimulus.from_conductance(np.ones((2, 1)), dt=1.0, reversal=-75)
    assert stimulus.units == "uS" and stimulus.reversal == -75.0 and stimulus.input_mode == "conductance"


def test_soma_areas_of_the_models():
    """Point models: their capacitance at 1 uF/cm2; RCSD: the soma cylinder of shared/RCSD.md."""
    np.testing.assert_allclose(_areas(IZHIKEVICH, "INH"), 1000.0)
    np.testing.assert_allclose(_areas(LIF, "EXC"), 10_000.0)
    np.testing.assert_allclose(_areas(glif_spec(3), "EXC"), 5872.0)
    np.testing.assert_allclose(_areas(RCSD, "EXC"), 267.5346, rtol=1e-6)  # RCSD.md 1.1
    assert _areas(RCSD, "EXC")[0] == pytest.approx(np.pi * BRK["global_diam"] * BRK["pp"] * BRK["Ltotal"])
    np.testing.assert_allclose(_areas(RCSD, "INH"), np.pi * V1IN_INVITRO["global_diam"] ** 2)
    assert base.area_from_capacitance(0.01) == pytest.approx(1000.0)


def test_env_soma_area_follows_cell_overrides():
    env = ReferenceEnv({"EXC": 2, "INH": 1}, model="lif")  # not initialised: cell parameters can change
    try:
        np.testing.assert_allclose(env.soma_area(), 10_000.0)
        env.set_cell_params({"EXC": {"tau_m": [20.0, 10.0]}})
        np.testing.assert_allclose(env.soma_area(), [20_000.0, 10_000.0, 10_000.0])
        np.testing.assert_allclose(env.soma_area([2, 0]), [10_000.0, 20_000.0])
    finally:
        env.close()


def test_a_density_is_converted_to_the_current_it_injects():
    """The backend's _run gets the current stimulus j * area * 1e-5 nA: same spikes as that current."""
    density = np.zeros((50, 2))
    density[5:] = [3.0, 8.0]
    runs = []
    for mode in ("current_density", "current"):
        env = livn.make({"EXC": 3}, backend=ReferenceEnv, seed=4, record=("spikes",))
        try:
            area = env.soma_area([2, 0])
            array = density if mode == "current_density" else density * (area * 1e-5)
            checked = env._check_stimulus(Stimulus(array, dt=1.0, gids=[2, 0], input_mode=mode), 50.0, 0.1)
            assert checked.input_mode == "current" and checked.units == "nA"
            np.testing.assert_array_equal(checked.gids, [2, 0])
            np.testing.assert_allclose(checked.array, density * (area * 1e-5))
            runs.append(env.run(50.0, Stimulus(array, dt=1.0, gids=[2, 0], input_mode=mode)))
        finally:
            env.close()
    assert np.asarray(runs[0].spikes.ids).size > 0
    np.testing.assert_array_equal(runs[0].spikes.ids, runs[1].spikes.ids)
    np.testing.assert_array_equal(runs[0].spikes.times, runs[1].spikes.times)


def test_a_model_without_an_area_takes_no_density():
    env = livn.make({"EXC": 1}, backend=ReferenceEnv, record=())
    try:
        object.__setattr__(env, "model", _without_area(env.model))
        with pytest.raises(ValueError, match="declares no soma membrane area"):
            env.run(5.0, Stimulus(np.ones((5, 1)), dt=1.0, input_mode="current_density"))
        with pytest.raises(ValueError, match="declares no soma membrane area"):
            env.soma_area()
    finally:
        env.close()


def _without_area(spec: base.ModelSpec) -> base.ModelSpec:
    return attrs.evolve(spec, soma_area=None)


def test_conductance_needs_a_declaring_backend():
    assert "conductance" not in ReferenceEnv.capabilities()["input_modes"]
    assert "current_density" in ReferenceEnv.capabilities()["input_modes"]
    env = livn.make({"EXC": 1}, backend=ReferenceEnv, record=())
    try:
        with pytest.raises(CapabilityError, match="takes extracellular, current, current_density.*take conductance"):
            env.run(5.0, Stimulus.from_conductance(np.ones((5, 1)), dt=1.0, reversal=0.0))
    finally:
        env.close()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_mode": "conductance"}, "need reversal"),
        ({"input_mode": "current", "reversal": 0.0}, "only conductance stimuli take one"),
        ({"input_mode": "conductance", "reversal": float("nan")}, "finite number of mV"),
        ({"input_mode": "conductance", "reversal": True}, "finite number of mV"),
        ({"input_mode": "current_density", "units": "nA"}, "uA/cm2"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Stimulus(np.ones((4, 2)), dt=1.0, **kwargs)


def test_bad_samples_are_refused():
    with pytest.raises(ValueError, match=">= 0"):
        Stimulus.from_conductance(np.full((4, 2), -0.1), dt=1.0, reversal=0.0)
    with pytest.raises(ValueError, match="NaN or inf"):
        Stimulus.from_conductance(np.full((4, 2), np.inf), dt=1.0, reversal=0.0)
    with pytest.raises(ValueError, match="NaN or inf"):
        Stimulus(np.full((4, 2), np.nan), dt=1.0, input_mode="current_density")
    for mode, extra in (("conductance", {"reversal": 0.0}), ("current_density", {})):
        with pytest.raises(ValueError, match="act at the soma"):
            Stimulus(np.ones((4, 2, 2)), dt=1.0, input_mode=mode, **extra)
