"""Target statistics and sets (livn.targets): bands, distances, and measurements of known spike trains."""

from __future__ import annotations

import math

import livn
import numpy as np
import pytest
from livn import targets
from livn.run import Events, Run
from livn.targets import Band, TargetSet
from livn_fake.env import Env as FakeEnv

N = 100  # EI2


@pytest.fixture(scope="module")
def env():
    with livn.make("EI2", backend=FakeEnv, record=("spikes",)) as made:
        yield made


def _run(ids, times, duration):
    order = np.argsort(times, kind="stable")
    return Run(spikes=Events(np.asarray(ids, dtype=np.int64)[order], np.asarray(times, dtype=np.float64)[order]), duration=duration)


def _poisson(rng, rate_hz, duration, cells=N):
    counts = rng.poisson(rate_hz * duration / 1000.0, size=cells)
    ids = np.repeat(np.arange(cells), counts)
    return ids, rng.uniform(0, duration, size=ids.size)


def _bursting(rng, duration, period=3000.0, width=200.0, per_cell=5, background_hz=0.2):
    """Every ``period`` ms from 1 s on, a ``width`` ms burst of ``per_cell`` spikes per cell, over a Poisson background."""
    ids, times = _poisson(rng, background_hz, duration)
    onsets = np.arange(1000.0, duration - width, period)
    for onset in onsets:
        ids = np.concatenate([ids, np.repeat(np.arange(N), per_cell)])
        times = np.concatenate([times, rng.uniform(onset, onset + width, size=N * per_cell)])
    return _run(ids, times, duration), onsets


def test_bands_refuse_bad_input():
    with pytest.raises(ValueError, match="low 5 > high 1"):
        Band("mean_rate", 5.0, 1.0)
    with pytest.raises(KeyError, match="unknown statistic 'rate'"):
        Band("rate", 1.0, 2.0)
    with pytest.raises(ValueError, match="bounds nothing"):
        Band("mean_rate")
    with pytest.raises(ValueError, match="low must be a number"):
        Band("mean_rate", "1", 2.0)
    with pytest.raises(ValueError, match="more than once"):
        TargetSet("x", (Band("mean_rate", 1, 2), Band("mean_rate", 2, 3)))
    with pytest.raises(ValueError, match="at least one band"):
        TargetSet("x", ())
    with pytest.raises(ValueError, match="duration must be"):
        TargetSet("x", (Band("mean_rate", 1, 2),), duration=0)
    with pytest.raises(ValueError, match=r"\[low, high\]"):
        TargetSet.from_dict({"bands": {"mean_rate": 3}})
    with pytest.raises(ValueError, match="unknown target set fields"):
        TargetSet.from_dict({"bands": {"mean_rate": [1, 2]}, "warm_up": 3})
    with pytest.raises(KeyError, match="unknown target set 'bursty'"):
        targets.target_set("bursty")


def test_band_distance_is_zero_inside_and_grows_outside():
    rate = Band("mean_rate", 2.0, 4.0)  # log scale: decades outside
    assert rate.distance(3.0) == 0.0 and rate.distance(2.0) == 0.0 and rate.distance(4.0) == 0.0
    assert rate.distance(0.2) == pytest.approx(1.0)
    assert rate.distance(40.0) == pytest.approx(1.0)
    assert rate.distance(0.0) == targets.MAX_DISTANCE  # silence: capped, not infinite
    assert rate.distance(math.nan) == targets.MISSING_DISTANCE
    fraction = Band("active_fraction", 0.5, 1.0)  # linear: band widths outside
    assert fraction.distance(0.25) == pytest.approx(0.5)
    open_top = Band("branching_ratio", 0.5, None)
    assert open_top.distance(0.25) == pytest.approx(0.5) and open_top.distance(100.0) == 0.0
    assert rate.describe() == "2..4 Hz" and open_top.describe() == ">= 0.5"
    assert Band("burst_rate", None, 0.2).describe() == "<= 0.2 Hz"


def test_target_set_round_trips_through_its_dict_form():
    for shipped in targets.TARGET_SETS.values():
        again = TargetSet.from_dict(shipped.to_dict())
        assert again == shipped
        assert again.sources and all(b.unit for b in again.bands)


def test_statistics_of_a_known_run(env):
    # cell 0 fires every 100 ms (10 Hz, regular), cell 1 fires 4 times in 1 s; the rest are silent
    times0 = np.arange(0.0, 1000.0, 100.0)
    run = _run(np.r_[np.zeros(10), np.ones(4)], np.r_[times0, [10.0, 20.0, 500.0, 900.0]], 1000.0)
    values = targets.measure(env, run, ["mean_rate", "max_cell_rate", "active_fraction", "isi_cv"])
    assert values["mean_rate"] == pytest.approx(14 / N)
    assert values["max_cell_rate"] == pytest.approx(10.0)
    assert values["active_fraction"] == pytest.approx(2 / N)
    isi1 = np.diff([10.0, 20.0, 500.0, 900.0])
    assert values["isi_cv"] == pytest.approx((0.0 + isi1.std() / isi1.mean()) / 2)


def test_bursts_are_found_where_they_were_put(env):
    rng = np.random.default_rng(1)
    run, onsets = _bursting(rng, 20_000.0)
    values = targets.measure(env, run, ["burst_rate", "burst_duration", "inter_burst_interval", "burst_spike_fraction"])
    assert values["burst_rate"] == pytest.approx(onsets.size / 20.0)
    assert 180.0 <= values["burst_duration"] <= 220.0  # 10 ms bins around the 200 ms bursts
    assert values["inter_burst_interval"] == pytest.approx(3000.0, abs=10.0)
    in_bursts = onsets.size * N * 5
    assert values["burst_spike_fraction"] == pytest.approx(in_bursts / run.spikes.times.size, rel=0.02)


def test_the_sets_tell_asynchronous_from_bursting_activity(env):
    rng = np.random.default_rng(2)
    ids, times = _poisson(rng, 5.0, 10_500.0)
    asynchronous = _run(ids, times, 10_500.0)
    bursting, _ = _bursting(rng, 20_000.0)
    a = targets.evaluate(env, asynchronous, "asynchronous")
    assert a.passed, a.table()
    assert a.distance == 0.0
    b_on_a = targets.evaluate(env, bursting, "asynchronous")
    assert not b_on_a.passed
    assert {"burst_rate", "cell_correlation"} <= set(b_on_a.failed)
    a_on_b = targets.evaluate(env, asynchronous, "bursting_in_vitro")
    assert {"burst_rate", "burst_spike_fraction", "cell_correlation"} <= set(a_on_b.failed)
    assert a_on_b.distance > 0
    b = targets.evaluate(env, bursting, "bursting_in_vitro")
    burst_stats = ["mean_rate", "burst_rate", "burst_duration", "burst_spike_fraction", "cell_correlation", "peak_synchrony"]
    assert all(row.passed for row in b.rows if row.statistic in burst_stats), b.table()
    assert "| burst_rate |" in b.table() and set(b.to_dict()["statistics"]) == set(b.targets.statistics)


def test_evaluate_needs_spikes_and_a_sensible_warmup(env):
    with pytest.raises(ValueError, match="need spikes"):
        targets.evaluate(env, Run(duration=1000.0), "asynchronous", warmup=0)
    run = _run([0], [1.0], 1000.0)
    with pytest.raises(ValueError, match="warmup 1000 ms"):
        targets.evaluate(env, run, "asynchronous", warmup=1000.0)
    with pytest.raises(KeyError, match="unknown statistic"):
        targets.measure(env, run, ["nope"])


def test_measure_leaves_the_stimulated_statistics_out_unless_named(env):
    stimulated = {name for name, statistic in targets.STATISTICS.items() if statistic.stimulated}
    assert stimulated == {"recruitment_threshold", "evoked_far_fraction"}
    run = _run(np.zeros(10), np.arange(0.0, 1000.0, 100.0), 1000.0)
    values = targets.measure(env, run)  # the fake backend cannot be pulsed: measuring them would fail
    assert set(values) == set(targets.STATISTICS) - stimulated
