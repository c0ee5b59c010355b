"""The current_density and conductance input modes on every backend.

Each test runs the backend's cheapest model: LIF or Izhikevich where the backend has them, else its
default (neuron: RCSD). ``current_density`` is turned into a current by livn-core from the model's
soma areas, so a density step must give the same spikes as the equivalent current step; a
conductance ``g`` injects ``g (E_rev - V)`` with the cell's own potential every step.
"""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn.backends import resolve
from livn.errors import CapabilityError
from livn.stimulus import INPUT_MODES, Stimulus


def _model(backend_name: str, *preferred: str) -> str | None:
    """The first of ``preferred`` that the backend implements, else its default (None)."""
    implemented = resolve(backend_name).implementations()
    return next((name for name in preferred if name in implemented), None)


def _single_cell(backend_name: str, model: str | None):
    env = livn.make({"EXC": 1}, backend=backend_name, model=model, record=())
    env.set_noise(env.model.noise_off)
    env.record("voltage", dt=env.dt)
    return env


def _require_conductance(backend_name: str) -> None:
    """Skip where the backend does not declare conductance input, once it has refused such a stimulus."""
    if "conductance" in resolve(backend_name).input_modes:
        return
    env = livn.make({"EXC": 1}, backend=backend_name, record=())
    try:
        with pytest.raises(CapabilityError, match="conductance"):
            env.run(1.0, stimulus=Stimulus.from_conductance(np.zeros((1, 1)), dt=1.0, reversal=0.0))
    finally:
        env.close()
    pytest.skip(f"backend {backend_name!r} takes no conductance input (and says so)")


def test_modes_are_declared(backend_name):
    modes = set(resolve(backend_name).capabilities()["input_modes"])
    assert modes <= set(INPUT_MODES) and "current_density" in modes  # livn-core converts density for every backend
    if backend_name in ("brian2", "diffrax", "neuron"):
        assert {"extracellular", "current", "light", "conductance"} <= modes


def test_a_density_step_equals_the_equivalent_current_step(backend_name):
    """Same seed, noise on: j uA/cm2 and j * area * 1e-5 nA give the same spikes, spike for spike."""
    model = _model(backend_name, "izhikevich")
    duration = 60.0
    spikes = []
    for mode in ("current_density", "current"):
        env = livn.make({"EXC": 3}, backend=backend_name, model=model, seed=7, record=("spikes",))
        try:
            density = np.zeros((int(duration), 3))
            # uA/cm2 that make each model fire (RCSD's soma is small: 100 uA/cm2 are 0.27 nA)
            density[10:, :] = [5.0, 10.0, 20.0] if env.model.name != "rcsd" else [100.0, 200.0, 400.0]
            if mode == "current_density":
                stimulus = Stimulus(density, dt=1.0, input_mode=mode)
            else:
                stimulus = Stimulus(density * (env.soma_area() * 1e-5), dt=1.0, input_mode=mode)
            run = env.run(duration, stimulus)
        finally:
            env.close()
        spikes.append((np.asarray(run.spikes.ids), np.asarray(run.spikes.times)))
    assert spikes[0][0].size > 0, "the step makes the cells fire"
    np.testing.assert_array_equal(spikes[0][0], spikes[1][0])
    np.testing.assert_array_equal(spikes[0][1], spikes[1][1])


def test_a_large_conductance_clamps_the_cell_to_its_reversal(backend_name):
    """0.2 uS reversing at -80 mV holds a noiseless cell within 1 mV of -80 mV (LIF: the exact steady state)."""
    _require_conductance(backend_name)
    model = _model(backend_name, "lif")
    env = _single_cell(backend_name, model)
    try:
        g, reversal, duration = 0.2, -80.0, 50.0
        steps = int(round(duration / env.dt))
        run = env.run(duration, Stimulus.from_conductance(np.full((steps, 1), g), dt=env.dt, reversal=reversal))
        name, cells = env.model.name, env.cell_parameters("EXC")
    finally:
        env.close()
    voltage = np.asarray(run.voltage.values)[0]
    assert abs(voltage[-1] - reversal) < 1.0
    if name == "lif":
        leak = 1.0 / cells["R"][0]  # uS
        steady = (leak * cells["E_L"][0] + g * reversal) / (leak + g)
        assert voltage[-1] == pytest.approx(steady, abs=1e-3)


def test_a_conductance_step_equals_the_current_it_injects(backend_name):
    """A subthreshold conductance step, then the current g (E_rev - V) from the recorded V: the same voltage."""
    _require_conductance(backend_name)
    model = _model(backend_name, "lif", "izhikevich")
    g, reversal, duration = 0.004, -90.0, 40.0
    traces = []
    env = _single_cell(backend_name, model)
    try:
        dt = env.dt
        steps = int(round(duration / dt))
        conductance = np.zeros((steps, 1))
        conductance[int(round(5.0 / dt)) :] = g
        run = env.run(duration, Stimulus.from_conductance(conductance, dt=dt, reversal=reversal))
        traces.append(np.asarray(run.voltage.values)[0])
        env.clear()
        current = conductance[:, 0] * (reversal - traces[0][:steps])
        run = env.run(duration, Stimulus(current[:, None], dt=dt, input_mode="current"))
        traces.append(np.asarray(run.voltage.values)[0])
    finally:
        env.close()
    assert traces[0][-1] < traces[0][int(round(5.0 / dt)) - 1] - 1.0, "the conductance hyperpolarises"
    np.testing.assert_allclose(traces[0], traces[1], atol=0.2)


def _ei2_rate(backend_name: str, model: str | None, conductance: float, reversal: float) -> tuple[float, str]:
    """Mean rate (Hz) of EI2 over [50, 200) ms under a constant conductance (uS per cell) from t = 0."""
    env = livn.make("EI2", backend=backend_name, model=model, seed=123, record=("spikes",))
    try:
        n = env.system.num_neurons
        stimulus = Stimulus.from_conductance(np.full((200, n), conductance), dt=1.0, reversal=reversal)
        times = np.asarray(env.run(200.0, stimulus).spikes.times)
        name = env.model.name
    finally:
        env.close()
    return np.count_nonzero(times >= 50.0) / n / 150.0 * 1e3, name


@pytest.mark.parametrize("reversal, direction", [(0.0, 1), (-75.0, -1)])
def test_a_conductance_moves_the_network_rate(backend_name, reversal, direction):
    """EI2: an excitatory conductance (0 mV) at least doubles the mean rate, an inhibitory one (-75 mV) halves it."""
    _require_conductance(backend_name)
    model = _model(backend_name, "izhikevich")
    baseline, name = _ei2_rate(backend_name, model, 0.0, reversal)
    # RCSD: 1 nS excites both populations about equally and the culture's inhibition cancels it; 3 nS does not
    g = {"izhikevich": 0.001, "rcsd": 0.003}[name] if direction > 0 else 0.005
    rate, _ = _ei2_rate(backend_name, model, g, reversal)
    assert baseline > 1.0, "the culture fires on its own"
    if direction > 0:
        assert rate > 2.0 * baseline
    else:
        assert rate < 0.5 * baseline


def test_bad_conductance_and_density_stimuli_are_refused(backend_name):
    with pytest.raises(ValueError, match="reversal"):
        Stimulus(np.ones((5, 1)), dt=1.0, input_mode="conductance")
    with pytest.raises(ValueError, match=">= 0"):
        Stimulus.from_conductance(-np.ones((5, 1)), dt=1.0, reversal=0.0)
    with pytest.raises(ValueError, match="NaN"):
        Stimulus.from_conductance(np.full((5, 1), np.nan), dt=1.0, reversal=0.0)
    with pytest.raises(ValueError, match="finite"):
        Stimulus.from_conductance(np.ones((5, 1)), dt=1.0, reversal=float("inf"))
    with pytest.raises(ValueError, match="soma"):
        Stimulus(np.ones((5, 1, 2)), dt=1.0, input_mode="current_density")
    env = livn.make({"EXC": 1}, backend=backend_name, model=_model(backend_name, "izhikevich"), record=())
    try:
        with pytest.raises(ValueError, match="columns"):
            env.run(5.0, Stimulus.from_conductance(np.ones((5, 2)), dt=1.0, reversal=0.0))
    finally:
        env.close()


def test_an_undeclared_mode_is_a_capability_error(backend_name, monkeypatch):
    cls = resolve(backend_name)
    env = livn.make({"EXC": 1}, backend=backend_name, model=_model(backend_name, "izhikevich"), record=())
    try:
        monkeypatch.setattr(cls, "input_modes", ("extracellular", "current"))
        with pytest.raises(CapabilityError, match="takes extracellular, current"):
            env.run(5.0, Stimulus.from_conductance(np.ones((5, 1)), dt=1.0, reversal=0.0))
    finally:
        env.close()
