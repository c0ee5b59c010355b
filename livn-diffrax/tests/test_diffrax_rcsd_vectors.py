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
    # 2e-4 mV (was 0.2): twice the 1e-4 mV to which the spec's two implementations agree on the
    # relaxation from -75 mV (RCSD.md, "How it was checked"). Measured max |dV| = 7.6e-5 mV (t = 100),
    # the Crank-Nicolson error of the default dt = 0.025 (2.2e-5 mV at dt = 0.005); the vectors carry 1e-5.
    for t, value in expected.items():
        assert abs(v[int(round(t / 0.1))] - value) < 2e-4, (t, v[int(round(t / 0.1))], value)
    assert len(run.spikes) == 0


def _step_spikes(kind, amplitude, start, stop, duration, dt):
    env = quiet_env({kind: 1}, record=("spikes",))
    stim = Stimulus(step_current(duration, 0.5, 1, start, stop, amplitude), dt=0.5, input_mode="current")
    return np.asarray(env.run(duration, stimulus=stim, dt=dt).spikes.times)


# Spike-time bound against the accurate reference (NEURON dt = 0.001, crossings read off a 0.1 ms
# sampled trace, RCSD.md 7.3): 0.15 ms (was 2 ms), run at the reference's own dt = 0.001.
# - The scheme here is NEURON's (same spike times as livn-neuron to the step), whose spike times
#   drift in proportion to dt (RCSD.md 1.12): at dt = 0.005 the last MN spike is 1.11 ms late and
#   the 8th Renshaw spike 1.06 ms, so no sub-ms bound is possible there; at matched dt the drift is gone.
# - The reference is quantised to its 0.1 ms sampling (our crossing lies up to one sample before
#   the listed time), so 0.1 ms is the floor; + 0.05 ms margin (half a sample). This is tighter
#   than the spec's 0.3 ms (MN) / 0.2 ms (Renshaw) RK4-vs-NEURON agreement, which compares a
#   different integrator; ours matches the reference's scheme and dt.
# Measured max |dt| at dt = 0.001: MN 0.093 ms, Renshaw 0.083 ms.
ACCURATE_DT = 0.001
ACCURATE_SPIKE_ATOL = 0.15


def test_motoneuron_50pA_step_against_the_accurate_reference():
    times = _step_spikes("EXC", 0.05, 100.0, 1100.0, 1100.0, dt=ACCURATE_DT)
    reference = [111.9, 215.8, 335.8, 456.2, 576.6, 697.1, 817.5, 938.0, 1058.4]  # NEURON dt = 0.001
    assert times.size == len(reference)
    np.testing.assert_allclose(times, reference, atol=ACCURATE_SPIKE_ATOL)


def test_motoneuron_50pA_step_matches_neuron_at_its_default_dt():
    times = _step_spikes("EXC", 0.05, 100.0, 1100.0, 1100.0, dt=0.025)
    assert times.size == 9
    # NEURON 9.0.2 at dt = 0.025 (secondorder 2): the scheme's own drift is reproduced.
    # 0.1 ms (was 0.25): the reference is read off a 0.1 ms sampled trace, so one sample is its own
    # resolution; measured max |dt| = 0.075 ms (1064.875 vs 1064.8), i.e. within one sample.
    np.testing.assert_allclose(times[[0, 1, 2, -1]], [111.9, 216.7, 337.5, 1064.8], atol=0.1)


def test_renshaw_30pA_step():
    env = quiet_env({"INH": 1})
    env.record_voltage(dt=ACCURATE_DT)
    stim = Stimulus(step_current(700.0, 0.5, 1, 100.0, 600.0, 0.03), dt=0.5, input_mode="current")
    run = env.run(700.0, stimulus=stim, dt=ACCURATE_DT)
    assert np.asarray(run.spikes.times).size == 11  # the cell's own detector (V_threshold = -50 mV)
    # the vector lists crossings of -20 mV, not of the -50 mV spike threshold (those come ~0.35 ms
    # earlier): take them from the soma trace, stamped at the first step at or above, as a NetCon does
    v = np.asarray(run.voltage.values)[0]
    times = (np.flatnonzero((v[:-1] < -20.0) & (v[1:] >= -20.0)) + 1) * ACCURATE_DT
    assert times.size == 11
    reference = [104.1, 153.3, 201.7, 250.1, 298.5, 346.8, 395.2, 443.5]
    np.testing.assert_allclose(times[:8], reference, atol=ACCURATE_SPIKE_ATOL)
    # 1e-4 mV (was 0.2): the vector is given to 1e-4 mV (rounding 5e-5); measured |dV| = 4.2e-5 mV
    assert abs(v[int(round(99.0 / ACCURATE_DT))] - (-60.2926)) < 1e-4


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
    # (was 0.05 mV everywhere) 0.005 mV at t = 0.1: the spec's own agreement of the exact model with
    # NEURON secondorder = 0 (RCSD.md, "How it was checked"); this sample falls inside the 0.012 ms
    # coupling transient, where the step's discretisation shows: measured 0.0033 mV (soma).
    # 0.001 mV later: the vectors are given to 1e-3 mV (rounding 5e-4); measured <= 3.6e-4 mV.
    for t, (vs, vd), atol in (
        (0.1, (-79.121, -74.131), 0.005),
        (1.0, (-78.720, -73.725), 0.001),
        (99.0, (-71.016, -66.020), 0.001),
    ):
        got = trace[int(round(t / dt)) - 1]
        np.testing.assert_allclose(got, [vs, vd], atol=atol)


def test_uniform_field_and_renshaw_cells_do_not_respond():
    env = quiet_env({"EXC": 1, "INH": 1})
    base = np.asarray(env.run(20.0).voltage.values)
    env.clear()
    uniform = np.full((40, 2, 2), 30.0)  # the same potential on soma and dendrite
    uniform[:, 1, 1] = 0.0  # the INH cell's second site does not exist; its soma sees 30 mV
    driven = np.asarray(env.run(20.0, stimulus=Stimulus(uniform, dt=0.5)).voltage.values)
    np.testing.assert_allclose(driven, base, atol=1e-9)
