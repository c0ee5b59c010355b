"""The RCSD cells against the test vectors of shared/RCSD.md section 7.3 (and the derived constants)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from livn.models.rcsd import BRK, CONSTANTS, V1IN_INVITRO
from livn_neuron.models import rcsd
from neuron_single_cell import simulate_cell


def _balanced_cell(h, build, spec):
    """One cell (gid 0) with the ion defaults and balancing currents a network gives its cells."""
    rcsd.set_ion_defaults(h, CONSTANTS)
    cell = build(h, 0, spec, CONSTANTS)
    rcsd.set_balancing_currents(h, [cell])
    return cell


@pytest.fixture
def brk(h):
    yield _balanced_cell(h, rcsd.build_brk, BRK)


@pytest.fixture
def renshaw(h):
    yield _balanced_cell(h, rcsd.build_v1in, V1IN_INVITRO)


def test_brk_geometry_and_coupling(brk):
    soma, dend = brk.sections["soma"], brk.sections["dend"]
    assert soma(0.5).area() == pytest.approx(267.5346, abs=1e-3)
    assert dend(0.5).area() == pytest.approx(2407.8113, abs=1e-3)
    assert soma.cm == pytest.approx(1.832614, rel=1e-6)
    assert soma.Ra == pytest.approx(1709.52, abs=0.01)
    assert dend.Ra == pytest.approx(21.105, abs=0.001)
    # centre-to-centre conductance 2 gc (1 - p) A_tot = 0.347060 uS (RCSD.md 1.3)
    resistance = sum(sec.Ra * (sec.L / 2) * 1e-4 / (math.pi * (sec.diam * 1e-4) ** 2 / 4) for sec in (soma, dend))
    assert 1e6 / resistance == pytest.approx(0.347060, rel=1e-5)


def test_brk_balancing_current_and_initial_state(h, brk):
    assert brk.soma(0.5).rcsd_ic.ic == pytest.approx(-3.276926e-4, rel=1e-5)
    h.finitialize(-75.0)
    h.finitialize(-75.0)
    soma, dend = brk.soma(0.5), brk.sections["dend"](0.5)
    assert soma.ena == pytest.approx(60.43883, abs=1e-4)
    assert soma.ek == pytest.approx(-89.70640, abs=1e-4)
    assert soma.rcsd_cad.irest == pytest.approx(-3.5547e-10, rel=1e-3)
    assert dend.rcsd_cad.irest == pytest.approx(-6.99648e-6, rel=1e-4)
    assert soma.cai == pytest.approx(1e-5) and dend.cai == pytest.approx(1e-5)


def test_brk_resting_trajectory(h, brk):
    v, vd, _ = simulate_cell(h, brk, 500.0, 0.025)
    expected = {0.1: -74.95391, 1: -74.56008, 10: -71.52874, 50: -67.29472, 100: -66.96160, 499: -67.45940}
    for t, value in expected.items():
        # 2e-4 mV (was 0.2): twice the 1e-4 mV to which the spec's two implementations agree on the
        # relaxation from -75 mV (RCSD.md, "How it was checked"). Measured max |dV| = 7.6e-5 mV
        # (t = 100), the Crank-Nicolson error of dt = 0.025 (2.2e-5 mV at dt = 0.005).
        assert v[int(round(t / 0.1))] == pytest.approx(value, abs=2e-4), t
        # 0.002 mV (was 0.01): the spec's "V_d lags V_s by less than 0.002 mV"; measured 0.0013 mV
        assert abs(vd[int(round(t / 0.1))] - v[int(round(t / 0.1))]) < 0.002


# Spike-time bound against the accurate reference (NEURON dt = 0.001, crossings read off a 0.1 ms
# sampled trace, RCSD.md 7.3): 0.15 ms (was 2 ms), run at the reference's own dt = 0.001.
# - Spike times of this fixed-step scheme drift in proportion to dt (RCSD.md 1.12): at dt = 0.005
#   the last MN spike is 1.11 ms late and the 8th Renshaw spike 1.06 ms, so no sub-ms bound is
#   possible there; at matched dt the drift is gone.
# - The reference is quantised to its 0.1 ms sampling (our crossing lies up to one sample before
#   the listed time), so 0.1 ms is the floor; + 0.05 ms margin (half a sample). This is tighter
#   than the spec's 0.3 ms (MN) / 0.2 ms (Renshaw) RK4-vs-NEURON agreement, which compares a
#   different integrator; here it is NEURON at the reference's dt.
# Measured max |dt| at dt = 0.001: MN 0.093 ms, Renshaw 0.083 ms.
ACCURATE_DT = 0.001
ACCURATE_SPIKE_ATOL = 0.15


def test_brk_50pA_step_spike_times(h, brk):
    reference = [111.9, 215.8, 335.8, 456.2, 576.6, 697.1, 817.5, 938.0, 1058.4]
    _, _, spikes = simulate_cell(h, brk, 1100.0, ACCURATE_DT, clamp=(100.0, 1000.0, 0.05))
    assert len(spikes) == len(reference)
    np.testing.assert_allclose(spikes, reference, atol=ACCURATE_SPIKE_ATOL)


def test_brk_step_at_livn_dt_matches_published_neuron(h, brk):
    # the published mechanisms at dt = 0.025, secondorder 2: 111.9, 216.7, 337.5, ..., 1064.8
    _, _, spikes = simulate_cell(h, brk, 1100.0, 0.025, clamp=(100.0, 1000.0, 0.05))
    assert len(spikes) == 9
    # 0.1 ms (was 0.2): the reference is read off a 0.1 ms sampled trace, so one sample is its own
    # resolution; measured max |dt| = 0.075 ms (1064.875 vs 1064.8), i.e. within one sample.
    np.testing.assert_allclose(spikes[[0, 1, 2, -1]], [111.9, 216.7, 337.5, 1064.8], atol=0.1)


def test_renshaw_30pA_step(h, renshaw):
    reference = [104.1, 153.3, 201.7, 250.1, 298.5, 346.8, 395.2, 443.5]
    v, _, spikes = simulate_cell(h, renshaw, 650.0, ACCURATE_DT, clamp=(100.0, 500.0, 0.03), threshold=-20.0)
    # 1e-4 mV (was 0.2): the vector is given to 1e-4 mV (rounding 5e-5); measured |dV| = 4.2e-5 mV
    assert v[990] == pytest.approx(-60.2926, abs=1e-4)
    assert len(spikes) == 11
    np.testing.assert_allclose(spikes[:8], reference, atol=ACCURATE_SPIKE_ATOL)


def test_constant_field_acts_through_the_coupling(h, brk):
    for sec in brk.sections.values():
        sec.insert("extracellular")
    v, vd, _ = simulate_cell(h, brk, 100.0, 0.025, extracellular={"soma": 5.0, "dend": 0.0})
    # (was 0.05 mV everywhere) 0.005 mV at t = 0.1: the spec's own agreement of the exact model with
    # NEURON secondorder = 0 (RCSD.md, "How it was checked"); this sample falls inside the 0.012 ms
    # coupling transient, where dt = 0.025 shows: measured 0.0040 mV (soma).
    # 0.001 mV later: the vectors are given to 1e-3 mV (rounding 5e-4); measured <= 4.8e-4 mV.
    for t, vs_ref, vd_ref, atol in (
        (0.1, -79.121, -74.131, 0.005),
        (1, -78.720, -73.725, 0.001),
        (99, -71.016, -66.020, 0.001),
    ):
        k = int(round(t / 0.1))
        assert v[k] == pytest.approx(vs_ref, abs=atol), t
        assert vd[k] == pytest.approx(vd_ref, abs=atol), t


def test_coupling_ra_formula():
    # the half-segment resistance of the result is 1 / (2 g A)
    ra = rcsd.coupling_ra(diam=2.0, length=10.0, area_um2=math.pi * 20.0, gc_over_p=0.05)
    half = ra * 5e-4 / (math.pi * (2e-4) ** 2 / 4)
    assert half == pytest.approx(1 / (2 * 0.05 * math.pi * 20.0 * 1e-8))


def test_unknown_cell_kind_raises(h):
    with pytest.raises(ValueError, match="EXC"):
        rcsd.build_cell(h, 0, "GLIA", BRK, CONSTANTS)


def test_spike_detector_is_a_threshold_netcon_with_a_dead_time(h):
    # RCSD.md 1.11: a spike is an upward crossing of the threshold at the end of a step (NEURON's
    # NetCon test, no interpolation) and only if >= 2 ms passed since the last spike. The soma
    # voltage is clamped to pulses above threshold every 0.75 ms (then 1.5 and 1 ms apart); the
    # detector must give, bit for bit, a plain voltage NetCon's crossings thinned by the dead time.
    soma = h.Section(name="detector_soma")
    soma.insert("pas")
    clamp = h.SEClamp(soma(0.5))
    clamp.dur1, clamp.rs = 1e9, 1e-3
    onsets = [1.0 + 0.75 * k for k in range(12)] + [12.0, 13.5, 14.5]
    times, levels = [0.0], [-60.0]
    for onset in onsets:
        times += [onset, onset + 0.3]
        levels += [-20.0, -60.0]
    tvec, lvec = h.Vector(times), h.Vector(levels)
    lvec.play(clamp._ref_amp1, tvec)
    detector = h.RcsdSpikeDetector(soma(0.5))
    detector.vthresh, detector.refractory = -37.0, 2.0
    emitted, crossed = h.Vector(), h.Vector()
    out = h.NetCon(detector, None)
    out.record(emitted)
    plain = h.NetCon(soma(0.5)._ref_v, None, sec=soma)
    plain.threshold = -37.0
    plain.record(crossed)
    h.dt = 0.025
    secondorder, h.secondorder = h.secondorder, 0  # Crank-Nicolson rings under so stiff a clamp
    h.finitialize(-60.0)
    h.continuerun(16.0)
    h.secondorder = secondorder
    assert len(crossed) == len(onsets), "every pulse crosses the threshold once"
    expected, last = [], -1e9
    for t in crossed:
        if t - last >= 2.0:
            expected.append(t)
            last = t
    assert np.array(emitted).tolist() == expected  # exact: the same times as the NetCon's
    # the clamp lifts v over the threshold within the first step of each pulse; 2 ms dead times
    np.testing.assert_allclose(expected, [1.025, 3.275, 5.525, 7.775, 12.025, 14.525], atol=1e-9)


def test_concentrations_move_during_firing(h, brk):
    # RCSD.md 1.8: during the 50 pA step [K]o of the soma peaks at ~5.28 mM and E_Na dips to ~59.93 mV
    soma = brk.soma(0.5)
    ko, ena = h.Vector().record(soma._ref_ko, 0.1), h.Vector().record(soma._ref_ena, 0.1)
    simulate_cell(h, brk, 1100.0, 0.025, clamp=(100.0, 1000.0, 0.05))
    assert ko.max() == pytest.approx(5.28, abs=0.01)
    assert ena.min() == pytest.approx(59.93, abs=0.01)
    assert ko[999] == pytest.approx(5.0, abs=0.01), "before the step the shell sits near rest"
