"""Stability, stimulus response, recruitment curves and waveforms on synthetic runs with known answers.

Where Elephant has the measure (binned population rates, spike-triggered averages, trough-to-peak
widths) the decodings are compared with it.
"""

from __future__ import annotations

import math

import livn
import numpy as np
import pytest
from livn.decoding import (
    RecruitmentCurve,
    Stability,
    StimulusResponse,
    Waveforms,
    recruitment_threshold,
)
from livn.run import Events, Run, Series
from livn_fake.env import Env as FakeEnv

N = 100  # EI2: 80 EXC (gids 0..79) then 20 INH (80..99)
DT = 1.0 / 32.0  # ms: a sampling step that is exact in binary, so spike times fall on samples exactly

# Elephant (via quantities) warns on each call that Quantity's copy argument is deprecated
_QUANTITIES_COPY = "ignore:The 'copy' argument in Quantity is deprecated"


@pytest.fixture(scope="module")
def env():
    with livn.make("EI2", backend=FakeEnv, record=("spikes",)) as made:
        assert made.system.num_neurons == N
        yield made


def _run(ids, times, duration, voltage=None, current=None):
    ids = np.asarray(ids, dtype=np.int64)
    times = np.asarray(times, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    return Run(spikes=Events(ids[order], times[order]), voltage=voltage, current=current, duration=float(duration))


def _steady(duration=3000.0):
    """Every cell fires every 200 ms; each 100 ms bin holds exactly 50 spikes (5 Hz per cell)."""
    gids = np.arange(N)
    offset = (gids % 50) * 2.0 + 0.5 + 100.0 * (gids // 50)
    periods = int(duration // 200)
    times = (offset[None, :] + 200.0 * np.arange(periods)[:, None]).ravel()
    return np.tile(gids, periods), times


# -- stability ---------------------------------------------------------------------------------------


def test_stability_of_steady_runaway_silent_and_diverged_runs(env):
    ids, times = _steady()
    steady = Stability(3000.0)(env, _run(ids, times, 3000.0))
    np.testing.assert_allclose(steady["rates"], np.full(30, 5.0))
    assert steady["global_mean"] == pytest.approx(5.0) and steady["tail_mean"] == pytest.approx(5.0)
    assert steady["peak"] == pytest.approx(5.0) and steady["trend"] == pytest.approx(0.0, abs=1e-9)
    assert steady["is_stable"] and not (steady["is_runaway"] or steady["is_quiescent"] or steady["non_finite"])

    # 400 extra spikes in each 100 ms bin of [2500, 3000): +40 Hz per cell in 5 of the 10 tail bins
    late = _run(np.r_[ids, np.arange(2000) % N], np.r_[times, 2500.0 + np.arange(2000) * 0.25], 3000.0)
    runaway = Stability(3000.0)(env, late)
    assert runaway["tail_mean"] == pytest.approx(25.0) and runaway["global_mean"] == pytest.approx(5.0 + 40.0 / 6)
    assert runaway["peak"] == pytest.approx(45.0)
    assert runaway["is_runaway"] and not runaway["is_stable"] and not runaway["is_quiescent"]
    # only the tail counts: its last 5 bins average 45 Hz, its last 20 bins 5 + 40 / 4 = 15 Hz
    assert Stability(3000.0, tail=500.0, max_rate=40.0)(env, late)["is_runaway"]
    assert not Stability(3000.0, max_rate=40.0)(env, late)["is_runaway"]
    assert Stability(3000.0, tail=2000.0)(env, late)["tail_mean"] == pytest.approx(15.0)

    silent = Stability(3000.0)(env, _run([], [], 3000.0))
    assert silent["global_mean"] == 0.0 and silent["is_quiescent"] and not silent["is_stable"]
    # 12 spikes over 100 cells and 3 s: 0.04 Hz per cell, under the default 0.05
    few = _run(np.arange(12), np.arange(12) * 200.0 + 1.0, 3000.0)
    sparse = Stability(3000.0)(env, few)
    assert sparse["global_mean"] == pytest.approx(0.04) and sparse["is_quiescent"]
    assert not Stability(3000.0, min_rate=0.03)(env, few)["is_quiescent"]

    # a NaN spike time (a diverged integration) is flagged and left out of the rates
    diverged = Stability(3000.0)(env, _run(np.r_[ids, 3], np.r_[times, np.nan], 3000.0))
    assert diverged["non_finite"] and not diverged["is_stable"]
    np.testing.assert_allclose(diverged["rates"], 5.0)
    voltage = Series(np.array([0]), np.array([[-65.0, np.inf, -65.0]]), 1000.0)
    assert Stability(3000.0)(env, _run(ids, times, 3000.0, voltage=voltage))["non_finite"]


def test_stability_trend_of_a_ramp(env):
    # bin k (100 ms) holds 10 k spikes: r_k = k Hz per cell, a slope of 10 Hz per cell per second
    counts = np.arange(20) * 10
    times = np.repeat(np.arange(20) * 100.0, counts) + np.concatenate([np.linspace(1, 99, c) for c in counts])
    result = Stability(2000.0, tail=500.0)(env, _run(np.arange(times.size) % N, times, 2000.0))
    np.testing.assert_allclose(result["rates"], np.arange(20.0))
    assert result["trend"] == pytest.approx(10.0)
    assert result["tail_mean"] == pytest.approx(17.0) and result["global_mean"] == pytest.approx(9.5)
    with pytest.raises(ValueError, match="min_rate"):
        Stability(100.0, min_rate=5.0, max_rate=5.0)


@pytest.mark.filterwarnings(_QUANTITIES_COPY)
def test_stability_rates_match_elephant(env):
    import elephant.statistics as statistics
    import neo
    import quantities as pq

    rng = np.random.default_rng(0)
    duration = 2000.0
    count = rng.poisson(8.0 * N * duration / 1000.0)
    ids, times = rng.integers(0, N, count), rng.uniform(0.0, duration, count)
    trains = [
        neo.SpikeTrain(np.sort(times[ids == g]) * pq.ms, t_start=0 * pq.ms, t_stop=duration * pq.ms) for g in range(N)
    ]
    histogram = statistics.time_histogram(trains, bin_size=50 * pq.ms, output="rate")  # per train, in 1/ms
    expected = np.asarray(histogram.rescale(pq.Hz).magnitude).ravel()
    result = Stability(duration, bin_size=50.0)(env, _run(ids, times, duration))
    np.testing.assert_allclose(result["rates"], expected, rtol=1e-12)
    assert result["global_mean"] == pytest.approx(count / (N * 2.0))


# -- stimulus response -----------------------------------------------------------------------------


def _background(duration):
    """One spike every 5 ms network-wide (2 per 10 ms bin), ids cycling: each cell 2 Hz exactly."""
    j = np.arange(int(duration / 5.0))
    return j % N, 2.5 + 5.0 * j


def _pulse_response(onset):
    """Cells 0..39 at +12 ms, 40..69 at +25 ms, 0..19 again at +35 ms: bins 1, 2, 3 get 40, 30, 20 spikes."""
    ids = np.concatenate([np.arange(40), np.arange(40, 70), np.arange(20)])
    times = onset + np.concatenate([np.full(40, 12.0), np.full(30, 25.0), np.full(20, 35.0)])
    return ids, times


def test_stimulus_response_of_a_planted_response(env):
    bg_ids, bg_times = _background(3000.0)
    ids, times = _pulse_response(1000.0)
    run = _run(np.r_[bg_ids, ids], np.r_[bg_times, times], 3000.0)
    result = StimulusResponse(3000.0, onsets=(1000.0, 2500.0))(env, run)
    np.testing.assert_allclose(result["baseline"], [2.0, 2.0])
    np.testing.assert_allclose(result["response"], [(100 + 90) / (100 * 0.5), 2.0])
    np.testing.assert_allclose(result["evoked"], [1.8, 0.0], atol=1e-12)
    np.testing.assert_allclose(result["gain"], [1.9, 1.0])
    # baseline bins all hold 2 spikes: median 2, MAD 0 floored to one spike -> 2 + 3 = 5 spikes per bin
    np.testing.assert_allclose(result["threshold"], [5.0, 5.0])  # 5 / (100 cells x 10 ms) Hz per cell
    np.testing.assert_allclose(result["peak"], [42.0, 2.0])
    np.testing.assert_allclose(result["latency"], [15.0, np.nan])  # centre of bin [10, 20)
    np.testing.assert_allclose(result["duration"], [30.0, np.nan])  # bins 1..3 above, quiet from bin 4
    # cells expect 1 spike in 500 ms; with margin 1 only cells 0..19 (3 spikes) respond
    np.testing.assert_allclose(result["responders"], [0.2, 0.0])
    relaxed = StimulusResponse(3000.0, onsets=(1000.0,), margin=0.0)(env, run)
    np.testing.assert_allclose(relaxed["responders"], [0.7])
    # a quiet stretch shorter than quiet_bins does not end the response: bin 5 above again
    late = _run(np.r_[bg_ids, ids, np.arange(20)], np.r_[bg_times, times, np.full(20, 1052.0)], 3000.0)
    np.testing.assert_allclose(StimulusResponse(3000.0, onsets=(1000.0,))(env, late)["duration"], [50.0])
    np.testing.assert_allclose(StimulusResponse(3000.0, onsets=(1000.0,), quiet_bins=1)(env, late)["duration"], [30.0])

    populations = StimulusResponse(3000.0, onsets=(1000.0, 2500.0), by="population", missing=-1.0)(env, run)
    assert populations["responders"].shape == (2, 2)
    np.testing.assert_allclose(populations["responders"], [[0.25, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(populations["latency"], [[15.0, -1.0], [-1.0, -1.0]])
    np.testing.assert_allclose(populations["baseline"], [[2.0, 2.0], [2.0, 2.0]])
    np.testing.assert_allclose(populations["evoked"][:, 0], [(80 + 90) / (80 * 0.5) - 2.0, 0.0])


def test_stimulus_response_threshold_is_robust_to_a_noisy_baseline(env):
    # baseline bins alternate 0 and 4 spikes: median 2, MAD 2 -> threshold 2 + k * 1.4826 * 2
    starts = np.arange(1, 100, 2) * 10.0
    times = np.repeat(starts, 4) + np.tile([1.0, 3.0, 5.0, 7.0], starts.size)
    run = _run(np.arange(times.size) % N, times, 2000.0)
    for k in (3.0, 1.0, 0.0):
        threshold = StimulusResponse(2000.0, onsets=(1000.0,), k=k)(env, run)["threshold"]
        np.testing.assert_allclose(threshold, [2.0 + k * 1.4826 * 2.0])  # spikes per bin = Hz per cell here
    # silence before the pulse: a response is significant only with more than k spikes in a bin
    quiet = _run(np.arange(4), np.full(4, 1015.0), 2000.0)
    assert StimulusResponse(2000.0, onsets=(1000.0,))(env, quiet)["latency"][0] == pytest.approx(15.0)
    assert math.isnan(StimulusResponse(2000.0, onsets=(1000.0,), k=4.0)(env, quiet)["latency"][0])
    assert math.isnan(StimulusResponse(2000.0, onsets=(1000.0,))(env, quiet)["gain"][0])


def test_stimulus_response_duration_beyond_the_response_window(env):
    # 10 spikes in every 10 ms bin of [1010, 1600): a 590 ms reverberation after a 500 ms window
    times = np.repeat(1010.0 + 10.0 * np.arange(59), 10) + np.tile(np.arange(10) * 0.9 + 0.5, 59)
    run = _run(np.arange(times.size) % N, times, 2500.0)
    assert math.isnan(StimulusResponse(2500.0, onsets=(1000.0,))(env, run)["duration"][0])  # tail = post
    assert StimulusResponse(2500.0, onsets=(1000.0,), tail=1000.0)(env, run)["duration"][0] == pytest.approx(590.0)
    with pytest.raises(ValueError, match="exceeds the duration"):
        StimulusResponse(1800.0, onsets=(1000.0,), tail=1000.0)
    with pytest.raises(ValueError, match="baseline"):
        StimulusResponse(2500.0, onsets=(500.0,))
    with pytest.raises(ValueError, match="tail"):
        StimulusResponse(2500.0, onsets=(1000.0,), tail=100.0)
    with pytest.raises(ValueError, match="bin_size"):
        StimulusResponse(2500.0, onsets=(1000.0,), pre=5.0)


# -- recruitment curve -----------------------------------------------------------------------------

_FRACTIONS = {1.0: (0.1, 0.1, 0.1), 2.0: (0.3, 0.1, 0.5), 3.0: (0.7, 0.8, 0.7), 4.0: (0.9, 0.9, 0.9)}


def _recruitment_run():
    """Pulses every 300 ms from 200 ms; a pulse recruiting fraction f makes cells 0..100f-1 fire twice.

    Cell 99 fires every 10 ms throughout: 5 spikes after each pulse, as its baseline predicts."""
    pulses, ids, times = [], [np.full(400, 99)], [np.arange(400) * 10.0 + 3.0]
    onset = 200.0
    for repeat in range(3):
        for amplitude, fractions in _FRACTIONS.items():
            cells = np.arange(round(100 * fractions[repeat]))
            pulses.append((onset, amplitude))
            ids += [cells, cells]
            times += [np.full(cells.size, onset + 5.0), np.full(cells.size, onset + 10.0)]
            onset += 300.0
    return pulses, _run(np.concatenate(ids), np.concatenate(times), 4000.0)


def test_recruitment_curve_and_its_threshold(env):
    pulses, run = _recruitment_run()
    result = RecruitmentCurve(4000.0, pulses, pre=100.0, post=50.0)(env, run)
    np.testing.assert_allclose(result["pulses"], [f[r] for r in range(3) for f in _FRACTIONS.values()])
    np.testing.assert_allclose(result["amplitudes"], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(result["fractions"], [0.1, 0.3, 0.7, 0.9])  # medians over repeats
    assert result["threshold"] == pytest.approx(2.5) and result["censored"] == "none"
    assert (result["below"], result["above"]) == (2.0, 3.0)
    high = RecruitmentCurve(4000.0, pulses, pre=100.0, post=50.0, level=0.8)(env, run)
    assert high["threshold"] == pytest.approx(3.5) and (high["below"], high["above"]) == (3.0, 4.0)
    # margin 2: two spikes no longer beat an expectation of 0 by more than the margin
    strict = RecruitmentCurve(4000.0, pulses, pre=100.0, post=50.0, margin=2.0)(env, run)
    np.testing.assert_allclose(strict["pulses"], 0.0)
    with pytest.raises(ValueError, match="baseline"):
        RecruitmentCurve(4000.0, [(50.0, 1.0)], pre=100.0, post=50.0)
    with pytest.raises(ValueError, match="pulses"):
        RecruitmentCurve(4000.0, [1.0, 2.0])


def test_recruitment_threshold_helper():
    # unordered, with repeats combined by their median
    result = recruitment_threshold([4, 1, 2, 2, 3, 2], [1.0, 0.0, 0.2, 0.9, 0.6, 0.3], level=0.5)
    np.testing.assert_allclose(result["amplitudes"], [1, 2, 3, 4])
    np.testing.assert_allclose(result["fractions"], [0.0, 0.3, 0.6, 1.0])
    assert result["threshold"] == pytest.approx(2 + 0.2 / 0.3) and result["censored"] == "none"
    above = recruitment_threshold([1, 2, 3], [0.1, 0.2, 0.3], level=0.5)
    assert above["censored"] == "above" and above["below"] == 3.0 and math.isnan(above["above"])
    assert math.isnan(above["threshold"])
    below = recruitment_threshold([1, 2, 3], [0.6, 0.7, 0.9], level=0.5)
    assert below["censored"] == "below" and below["above"] == 1.0 and math.isnan(below["below"])
    # the first crossing counts, even if the curve dips again
    dip = recruitment_threshold([1, 2, 3, 4], [0.0, 1.0, 0.2, 1.0], level=0.5)
    assert dip["threshold"] == pytest.approx(1.5) and dip["above"] == 2.0
    with pytest.raises(ValueError, match="level"):
        recruitment_threshold([1, 2], [0.1, 0.2], level=0.0)
    with pytest.raises(ValueError, match="equal length"):
        recruitment_threshold([1, 2], [0.1])


# -- waveforms -------------------------------------------------------------------------------------


def _gauss(t, centre, sigma):
    return np.exp(-((t - centre) ** 2) / (2 * sigma**2))


# (amplitude mV, width sigma ms, AHP depth mV, AHP delay ms, AHP sigma ms) by population
_SHAPES = {"EXC": (95.0, 0.3, 10.0, 3.0, 0.7), "INH": (80.0, 0.15, 15.0, 2.5, 0.5)}
_VOLTAGE_GIDS = np.r_[np.arange(10), np.arange(80, 85)]


def _voltage_run(duration=200.0, lead=0.375):
    """Soma voltages of cells 0..9 (EXC) and 80..84 (INH), each 5 action potentials with known shapes.

    Peaks fall on samples; the recorded spike times are ``lead`` ms earlier (the threshold crossing).
    Cell 0 also fires at 2 ms and 198 ms, too close to the edges to be cut."""
    t = np.arange(int(round(duration / DT))) * DT
    rows, ids, times = [], [], []
    for gid in _VOLTAGE_GIDS:
        amplitude, sigma, depth, delay, width = _SHAPES["EXC" if gid < 80 else "INH"]
        peaks = 20.0 + 35.0 * np.arange(5) + 0.5 * (gid % 20)
        if gid == 0:
            peaks = np.r_[2.0, peaks, 198.0]
        trace = np.full(t.size, -65.0)
        for peak in peaks:
            trace += amplitude * _gauss(t, peak, sigma) - depth * _gauss(t, peak + delay, width)
        rows.append(trace)
        ids.append(np.full(peaks.size, gid))
        times.append(peaks - lead)
    voltage = Series(_VOLTAGE_GIDS.copy(), np.stack(rows), DT)
    return _run(np.concatenate(ids), np.concatenate(times), duration, voltage=voltage)


def test_waveforms_recover_known_action_potential_shapes(env):
    run = _voltage_run()
    result = Waveforms(200.0, by="population")(env, run)
    assert result["dt"] == DT and result["time"][0] == pytest.approx(-4.0) and result["time"][-1] == pytest.approx(10.0)
    np.testing.assert_array_equal(result["count"], [50, 25])  # cell 0's edge spikes are dropped
    for row, (amplitude, sigma, depth, delay, _) in enumerate(_SHAPES.values()):
        assert result["baseline"][row] == pytest.approx(-65.0, abs=1e-6)
        assert result["peak"][row] == pytest.approx(-65.0 + amplitude, abs=1e-2)
        assert result["amplitude"][row] == pytest.approx(amplitude, abs=1e-2)
        assert result["half_width"][row] == pytest.approx(2 * math.sqrt(2 * math.log(2)) * sigma, rel=2e-3)
        assert result["ahp"][row] == pytest.approx(-depth, abs=1e-3)
        assert result["ahp_time"][row] == pytest.approx(delay)
        assert result["time"][np.argmax(result["mean"][row])] == 0.0  # aligned on the peak
    assert result["cuts"].shape == (75, result["time"].size)
    np.testing.assert_array_equal(np.bincount(result["cut_cells"], minlength=N)[_VOLTAGE_GIDS], [5] * 15)
    np.testing.assert_array_equal(result["cut_groups"], (result["cut_cells"] >= 80).astype(int))

    network = Waveforms(200.0)(env, run)
    assert network["count"].tolist() == [75]
    assert network["peak"][0] == pytest.approx(-65.0 + (50 * 95.0 + 25 * 80.0) / 75, abs=1e-2)
    cells = Waveforms(200.0, by="cell", max_spikes=3)(env, run)
    assert cells["count"].shape == (N,) and cells["count"][0] == 2  # its first 3 spikes: one at 2 ms
    assert cells["count"][85] == 0 and np.isnan(cells["peak"][85]) and np.isnan(cells["mean"][85]).all()
    np.testing.assert_array_equal(cells["count"][_VOLTAGE_GIDS[1:]], 3)


def test_waveforms_align_on_the_peak_not_the_spike_time(env):
    run = _voltage_run(lead=0.375 + 0.3 * DT)  # 12.3 samples before the peak: the spike's sample is 12 before
    aligned = Waveforms(200.0, by="population")(env, run)
    unaligned = Waveforms(200.0, by="population", align=0.0)(env, run)
    assert aligned["time"][np.argmax(aligned["mean"][0])] == 0.0
    assert unaligned["time"][np.argmax(unaligned["mean"][0])] == pytest.approx(0.375)
    # unaligned, the "peak" is the value at the spike time: 0.375 ms up the rising flank
    assert unaligned["peak"][0] == pytest.approx(-65.0 + 95.0 * math.exp(-((0.375 / 0.3) ** 2) / 2), abs=1e-2)


def test_waveforms_baseline_precedes_and_ahp_follows_the_peak(env):
    # a dip 1.5 ms before the spike and a 10 mV plateau from 1 ms after it to the end of the cut:
    # the baseline is the level before the spike (not the plateau), the AHP the minimum after the peak
    t = np.arange(int(round(100.0 / DT))) * DT
    peak = 50.0
    trace = -65.0 + 80.0 * _gauss(t, peak, 0.2) - 20.0 * _gauss(t, peak - 1.5, 0.2) + 10.0 * (t > peak + 1.0)
    run = _run([0], [peak - 0.25], 100.0, voltage=Series(np.array([0]), trace[None, :], DT))
    result = Waveforms(100.0, by="cell")(env, run)
    assert result["count"][0] == 1
    assert result["baseline"][0] == pytest.approx(-65.0, abs=1e-6)
    assert result["amplitude"][0] == pytest.approx(80.0, abs=1e-3)
    assert result["ahp"][0] == pytest.approx(0.0, abs=1e-3)
    assert result["half_width"][0] == pytest.approx(2 * math.sqrt(2 * math.log(2)) * 0.2, rel=2e-3)


def test_waveforms_keep_cuts_that_just_fit(env):
    # cells 0..3 fire once, peaks at 4 ms (the cut starts at sample 0), one sample earlier, at 10 ms
    # before the last sample (the cut ends on it), and one sample later: only cells 0 and 2 are cut
    t = np.arange(int(round(60.0 / DT))) * DT
    peaks = np.array([4.0, 4.0 - DT, t[-1] - 10.0, t[-1] - 10.0 + DT])
    traces = np.stack([_gauss(t, p, 0.3) for p in peaks])
    run = _run(np.arange(4), peaks, 60.0, voltage=Series(np.arange(4), traces, DT))
    np.testing.assert_array_equal(Waveforms(60.0, by="cell")(env, run)["count"][:4], [1, 0, 1, 0])


@pytest.mark.filterwarnings(_QUANTITIES_COPY)
def test_waveforms_unaligned_mean_is_elephants_spike_triggered_average(env):
    import elephant.sta as sta
    import neo
    import quantities as pq

    run = _voltage_run()
    result = Waveforms(200.0, by="cell", align=0.0)(env, run)
    ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
    for row, gid in enumerate(run.voltage.ids[:3]):
        # a quarter sample late, so Elephant's floor and our round pick the same sample
        train = neo.SpikeTrain(np.sort(times[ids == gid]) + DT / 4, units="ms", t_start=0.0, t_stop=200.0)
        signal = neo.AnalogSignal(run.voltage.values[row][:, None], units="mV", sampling_period=DT * pq.ms)
        average = sta.spike_triggered_average(signal, train, (-4.0 * pq.ms, (10.0 + DT / 2) * pq.ms))
        np.testing.assert_allclose(result["mean"][gid], np.asarray(average.magnitude).ravel(), rtol=1e-12)


def _field_run(env, duration=1000.0):
    """Isolated biphasic membrane-current pulses (inward, then outward 0.75 ms later), one spike per 15 ms."""
    t = np.arange(int(round(duration / DT))) * DT
    rng = np.random.default_rng(1)
    spike_times = 10.0 + 15.0 * np.arange(int((duration - 20.0) // 15.0))
    spike_ids = rng.choice(N, size=spike_times.size)
    currents = np.zeros((N, t.size))
    for gid, at in zip(spike_ids, spike_times, strict=True):
        currents[gid] += _field_template(t - at)
    current = Series(np.arange(N), currents, DT)
    return _run(spike_ids, spike_times, duration, current=current)


def _field_template(lag):
    """The membrane-current pulse of a spike at lag 0 ms, as sampled at ``lag``."""
    return -1e-3 * _gauss(lag, 0.0, 0.2) + 4e-4 * _gauss(lag, 0.75, 0.4)


def test_field_waveforms_are_scaled_copies_of_the_current_template(env):
    import elephant.waveform_features as features

    run = _field_run(env)
    result = Waveforms(1000.0, by="channel")(env, run)
    # the potential is linear in the currents: each electrode sees the pulse scaled, cut on its trough
    lag = result["time"]
    template = _field_template(lag + lag[np.argmin(_field_template(lag))])
    trough = int(np.argmin(template))
    assert lag[trough] == 0.0
    _, per_channel = env.channel_recording(run.spikes.ids, run.spikes.times)
    recorded = np.array([per_channel[int(c)].size for c in env.io.channel_ids])
    np.testing.assert_array_equal(result["count"], recorded)
    live = np.flatnonzero(recorded)
    assert live.size >= 5
    for c in live:
        scale = result["mean"][c][result["time"] == 0.0][0] / template[lag == 0.0][0]
        np.testing.assert_allclose(result["mean"][c], scale * template, rtol=1e-9, atol=1e-12 * abs(scale))
        assert scale > 0 and result["amplitude"][c] < 0 and result["ahp"][c] > 0  # trough, then rebound
        expected_width = np.argmax(template[trough:]) * result["dt"]
        assert result["ahp_time"][c] == pytest.approx(expected_width)
        assert result["ahp_time"][c] == pytest.approx(features.waveform_width(result["mean"][c]) * result["dt"])
    silent = np.flatnonzero(recorded == 0)
    assert np.isnan(result["mean"][silent]).all() and np.isnan(result["peak"][silent]).all()


@pytest.mark.filterwarnings(_QUANTITIES_COPY)
def test_field_waveforms_unaligned_match_elephants_spike_triggered_average(env):
    import elephant.sta as sta
    import neo
    import quantities as pq

    run = _field_run(env, duration=200.0)
    result = Waveforms(200.0, by="channel", align=0.0)(env, run)
    potential = np.asarray(env.potential_recording(run.current))
    _, per_channel = env.channel_recording(run.spikes.ids, run.spikes.times)
    signal = neo.AnalogSignal(potential.T, units="uV", sampling_period=DT * pq.ms)
    trains = [
        neo.SpikeTrain(np.sort(per_channel[int(c)]) + DT / 4, units="ms", t_start=0.0, t_stop=200.0)
        for c in env.io.channel_ids
    ]
    with np.errstate(invalid="ignore", divide="ignore"):  # Elephant divides by 0 spikes for silent channels
        average = sta.spike_triggered_average(signal, trains, (-4.0 * pq.ms, (10.0 + DT / 2) * pq.ms))
    average = np.asarray(average.magnitude).T
    np.testing.assert_allclose(result["mean"], average, rtol=1e-10, atol=1e-15)


def test_waveforms_say_what_they_need(env):
    with pytest.raises(ValueError, match="record_voltage"):
        Waveforms(200.0)(env, _run([0], [10.0], 200.0))
    with pytest.raises(ValueError, match="record_membrane_current"):
        Waveforms(200.0, by="channel")(env, _voltage_run())
    with pytest.raises(ValueError, match="record_spikes"):
        Waveforms(200.0)(env, Run(voltage=_voltage_run().voltage, duration=200.0))
    dendrite = Series(np.array([0]), np.zeros((1, 100)), DT, ("dend",))
    sited = Run(spikes=Events(np.array([0]), np.array([50.0])), voltage=dendrite)
    with pytest.raises(ValueError, match="no site 'soma'"):
        Waveforms(200.0)(env, sited)
    assert Waveforms(200.0, site="dend", pre=1.0, post=1.0)(env, sited)["count"][0] == 0  # 50 ms is past the trace
    with pytest.raises(ValueError, match="by must be"):
        Waveforms(200.0, by="electrode")
    with pytest.raises(ValueError, match="max_spikes"):
        Waveforms(200.0, max_spikes=0)


# -- spaces ----------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*Casting input x to numpy array")
def test_outputs_lie_in_their_spaces():
    pytest.importorskip("gymnasium")
    with livn.make("EI2", backend=FakeEnv, record=("spikes",)) as env:
        env.record_membrane_current(dt=DT)
        bg_ids, bg_times = _background(3000.0)
        ids, times = _pulse_response(1000.0)
        run = _run(np.r_[bg_ids, ids], np.r_[bg_times, times], 3000.0)
        pulses, recruitment = _recruitment_run()
        field = _field_run(env)
        cases = [
            (Stability(3000.0), run),
            (StimulusResponse(3000.0, onsets=(1000.0, 2500.0), by="population", missing=0.0), run),
            (RecruitmentCurve(4000.0, pulses, pre=100.0, post=50.0), recruitment),
            (Waveforms(1000.0, by="channel", missing=0.0), field),
        ]
        for decoding, value_run in cases:
            space = decoding.space(env)
            value = decoding(env, value_run)
            assert space.contains(value), type(decoding).__name__
        with pytest.raises(ValueError, match="record_voltage"):
            Waveforms(100.0).space(env)
