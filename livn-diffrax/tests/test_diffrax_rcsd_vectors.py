"""The RCSD single-cell test vectors of shared/RCSD.md section 7.3, through the backend's Env."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from diffrax_helpers import quiet_env, step_current
from livn.models.rcsd import RCSD
from livn.stimulus import Stimulus
from livn_diffrax._precision import require_x64
from livn_diffrax.models import rcsd

require_x64()


def _one_cell(kind):
    raw = rcsd.cell_parameter_arrays(RCSD, [(kind, 1)], np.random.default_rng(0))
    return {k: jnp.asarray(v) for k, v in raw.items()}


def test_derived_constants_match_the_spec():
    _, der = rcsd.initial_state(_one_cell("EXC"), dict(RCSD.constants))
    np.testing.assert_allclose(der["area"][0], [267.5346, 2407.8113], rtol=1e-6)
    np.testing.assert_allclose(der["cm"][0, 0], 1.832614, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(der["G"][0]) * 1e3, [129.72536, 14.41393], rtol=1e-6)
    np.testing.assert_allclose(der["i_c"][0], -3.276926e-4, rtol=1e-5)
    np.testing.assert_allclose(der["f_N"], 18.98243, rtol=1e-6)
    np.testing.assert_allclose(der["f_L"], 13.18224, rtol=1e-6)
    np.testing.assert_allclose(der["i_rest"][0], [-3.5547e-10, -6.99648e-6], rtol=1e-4)
    E_na = der["RTF"] * np.log(RCSD.constants["nao0"] / RCSD.constants["nai0"])
    np.testing.assert_allclose(E_na, 60.43883, atol=1e-4)


def test_renshaw_balancing_current():
    _, der = rcsd.initial_state(_one_cell("INH"), dict(RCSD.constants))
    np.testing.assert_allclose(der["i_c"][0], -4.15847e-3, rtol=1e-5)


def test_resting_trajectory_of_the_motoneuron():
    env = quiet_env({"EXC": 1})
    env.record_voltage(dt=0.1)
    run = env.run(500.0)
    v = np.asarray(run.voltage.values)[0]
    expected = {0.1: -74.95391, 1.0: -74.56008, 10.0: -71.52874, 50.0: -67.29472, 100.0: -66.96160, 499.0: -67.45940}
    for t, value in expected.items():
        assert abs(v[int(round(t / 0.1))] - value) < 0.2, (t, v[int(round(t / 0.1))], value)
    assert len(run.spikes) == 0


def _step_spikes(kind, amplitude, start, stop, duration, dt):
    env = quiet_env({kind: 1}, record=("spikes",))
    stim = Stimulus(step_current(duration, 0.5, 1, start, stop, amplitude), dt=0.5, input_mode="current")
    return np.asarray(env.run(duration, stimulus=stim, dt=dt).spikes.times)


def test_motoneuron_50pA_step_against_the_accurate_reference():
    times = _step_spikes("EXC", 0.05, 100.0, 1100.0, 1100.0, dt=0.005)
    reference = [111.9, 215.8, 335.8, 456.2, 576.6, 697.1, 817.5, 938.0, 1058.4]  # NEURON dt = 0.001
    assert times.size == len(reference)
    np.testing.assert_allclose(times, reference, atol=2.0)


def test_motoneuron_50pA_step_matches_neuron_at_its_default_dt():
    times = _step_spikes("EXC", 0.05, 100.0, 1100.0, 1100.0, dt=0.025)
    assert times.size == 9
    # NEURON 9.0.2 at dt = 0.025 (secondorder 2): the scheme's own drift is reproduced
    np.testing.assert_allclose(times[[0, 1, 2, -1]], [111.9, 216.7, 337.5, 1064.8], atol=0.25)


def test_renshaw_30pA_step():
    env = quiet_env({"INH": 1})
    env.record_voltage(dt=0.1)
    stim = Stimulus(step_current(700.0, 0.5, 1, 100.0, 600.0, 0.03), dt=0.5, input_mode="current")
    run = env.run(700.0, stimulus=stim, dt=0.005)
    times = np.asarray(run.spikes.times)
    assert times.size == 11
    reference = [104.1, 153.3, 201.7, 250.1, 298.5, 346.8, 395.2, 443.5]
    np.testing.assert_allclose(times[:8], reference, atol=2.0)
    assert abs(np.asarray(run.voltage.values)[0, 990] - (-60.2926)) < 0.2


def test_constant_extracellular_field_acts_through_the_coupling():
    """Ve_s = 5 mV, Ve_d = 0 (RCSD.md 7.3), checked on both compartments with the cell step."""
    const = dict(RCSD.constants)
    state, der = rcsd.initial_state(_one_cell("EXC"), const)
    point = {k: jnp.zeros((1, 2)) for k in ("g", "gE", "g_nmda")}
    v_ext = jnp.array([[5.0, 0.0]])
    dt = 0.005

    def body(s, _):
        s, _ = rcsd.step(s, der, const, point, jnp.zeros((1, 2)), v_ext, dt)
        return s, s["V"][0]

    _, trace = jax.lax.scan(body, state, None, length=int(round(99.0 / dt)))
    trace = np.asarray(trace)
    for t, (vs, vd) in {0.1: (-79.121, -74.131), 1.0: (-78.720, -73.725), 99.0: (-71.016, -66.020)}.items():
        got = trace[int(round(t / dt)) - 1]
        np.testing.assert_allclose(got, [vs, vd], atol=0.05)


def test_uniform_field_and_renshaw_cells_do_not_respond():
    env = quiet_env({"EXC": 1, "INH": 1})
    base = np.asarray(env.run(20.0).voltage.values)
    env.clear()
    uniform = np.full((40, 2, 2), 30.0)  # the same potential on soma and dendrite
    uniform[:, 1, 1] = 0.0  # the INH cell's second site does not exist; its soma sees 30 mV
    driven = np.asarray(env.run(20.0, stimulus=Stimulus(uniform, dt=0.5)).voltage.values)
    np.testing.assert_allclose(driven, base, atol=1e-9)
