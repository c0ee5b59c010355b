"""Decodings on hand-made runs whose answers are known."""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn.decoding import (
    LFP,
    ActiveFraction,
    ChannelRecording,
    MeanFiringRate,
    PeriStimulusHistogram,
    Pipe,
    Select,
)
from livn.run import Events, Run, Series
from livn_fake.env import Env as FakeEnv


@pytest.fixture(scope="module")
def env():
    with livn.make("EI2", backend=FakeEnv, record=("spikes",)) as made:
        yield made


def _run(ids, times, duration=200.0, current=None):
    return Run(
        spikes=Events(np.asarray(ids, dtype=np.int64), np.asarray(times, dtype=float)),
        current=current,
        duration=duration,
    )


def _within(env, channel_row):
    """Gids within the output radius of an electrode, computed from the coordinates directly."""
    electrode = env.io.electrode_coordinates[channel_row, 1:4]
    xyz = env.system.neuron_coordinates[:, 1:4]
    return set(np.flatnonzero(np.linalg.norm(xyz - electrode, axis=1) <= env.io.output_radius).tolist())


# EI2: 80 EXC (gids 0..79) then 20 INH (80..99); 200 ms: cell 0 fires 4 times, cell 85 twice.
IDS = [0, 0, 0, 0, 85, 85]
TIMES = [1.0, 50.0, 100.0, 150.0, 10.0, 190.0]


def test_mean_firing_rate_by_network_population_cell(env):
    run = _run(IDS, TIMES)
    np.testing.assert_allclose(MeanFiringRate(200, by="network")(env, run), [6 / (100 * 0.2)])
    np.testing.assert_allclose(MeanFiringRate(200, by="population")(env, run), [4 / (80 * 0.2), 2 / (20 * 0.2)])
    per_cell = MeanFiringRate(200, by="cell")(env, run)
    assert per_cell.shape == (100,)
    assert per_cell[0] == pytest.approx(20.0) and per_cell[85] == pytest.approx(10.0)
    assert per_cell.sum() == pytest.approx(30.0)


def test_mean_firing_rate_by_channel_counts_cells_in_range(env):
    run = _run(IDS, TIMES)
    rates = MeanFiringRate(200, by="channel")(env, run)
    assert rates.shape == (env.io.num_channels,)
    for row in range(env.io.num_channels):
        near = _within(env, row)
        expected = (4 * (0 in near) + 2 * (85 in near)) / 0.2
        assert rates[row] == pytest.approx(expected)


def test_active_fraction(env):
    run = _run([0, 1, 1, 85], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(ActiveFraction(200)(env, run), [0.03])
    np.testing.assert_allclose(ActiveFraction(200, by="population")(env, run), [2 / 80, 1 / 20])
    np.testing.assert_allclose(ActiveFraction(200, min_spikes=2)(env, run), [0.01])
    with pytest.raises(ValueError, match="min_spikes"):
        ActiveFraction(200, min_spikes=0)


def test_channel_recording_lists_each_electrodes_spikes(env):
    run = _run(IDS, TIMES)
    ids, times = ChannelRecording(200)(env, run)
    assert sorted(ids) == env.io.channel_ids.tolist()
    for row, channel in enumerate(env.io.channel_ids):
        near = _within(env, row)
        expected = [(g, t) for g, t in zip(IDS, TIMES) if g in near]
        assert list(zip(ids[int(channel)].tolist(), times[int(channel)].tolist())) == expected


def test_lfp_is_the_point_source_field_and_the_sine_lands_in_its_band(env):
    dt, duration, amplitude, frequency = 0.5, 1000.0, 1e-3, 10.0  # ms, ms, uA, Hz
    t = np.arange(int(duration / dt)) * dt
    source = 7
    current = Series(np.array([source]), amplitude * np.sin(2 * np.pi * frequency * t / 1000.0)[None, :], dt)
    run = _run([], [], duration=duration, current=current)
    result = LFP(duration, nperseg=2000)(env, run)
    # the potential: I / (4 pi sigma r), r in um floored at 5 um, zero beyond the output radius
    xyz = env.system.neuron_coordinates[source, 1:4]
    r = np.linalg.norm(env.io.electrode_coordinates[:, 1:4] - xyz, axis=1)
    gain = np.where(r <= env.io.output_radius, 1e6 / (4 * np.pi * 0.3 * np.maximum(r, 5.0)), 0.0)  # uV/uA
    np.testing.assert_allclose(result["potential"], gain[:, None] * current.values, rtol=1e-12)
    # the 10 Hz sine sits in alpha (8-13 Hz) with power A^2 / 2 (uV^2)
    names = list(LFP(duration).bands)
    alpha = names.index("alpha")
    power = result["band_power"]
    strongest = int(np.argmax(gain))
    assert np.argmax(power[strongest]) == alpha
    assert power[strongest, alpha] == pytest.approx((amplitude * gain[strongest]) ** 2 / 2, rel=0.1)
    silent = np.flatnonzero(gain == 0)
    assert silent.size and np.allclose(power[silent], 0.0)
    assert result["psd"].shape == (env.io.num_channels, result["frequencies"].shape[0])


def test_lfp_needs_membrane_currents(env):
    with pytest.raises(ValueError, match="record_membrane_current"):
        LFP(100)(env, _run([], [], 100))
    with pytest.raises(ValueError, match="band"):
        LFP(100, bands={"bad": (10.0, 5.0)})


def test_psth_counts_spikes_after_each_onset(env):
    run = _run([0, 3, 9, 4], [2.5, 52.3, 55.0, 30.0], duration=100)
    psth = PeriStimulusHistogram(100, onsets=(0.0, 50.0), window=10.0, bin_size=1.0)
    rates = psth(env, run)
    expected = np.zeros(10)
    expected[2] = 2
    expected[5] = 1
    np.testing.assert_allclose(rates, expected / (2 * 0.001 * 100))
    np.testing.assert_allclose(psth.bin_edges, np.arange(11.0))
    by_channel = PeriStimulusHistogram(100, onsets=(0.0, 50.0), window=10.0, by="channel")(env, run)
    assert by_channel.shape == (env.io.num_channels, 10)
    for row in range(env.io.num_channels):
        near = _within(env, row)
        assert by_channel[row, 2] == pytest.approx(((0 in near) + (3 in near)) / (2 * 0.001))
    with pytest.raises(ValueError, match="exceeds the duration"):
        PeriStimulusHistogram(100, onsets=(95.0,), window=10.0)


def test_pipe_chains_stages(env):
    run = _run(IDS, TIMES)
    pipe = Pipe(MeanFiringRate(200, by="cell"), Select([0, 85]))
    assert pipe.duration == 200
    np.testing.assert_allclose(pipe(env, run), [20.0, 10.0])
    scaled = Pipe(MeanFiringRate(200), lambda rate: rate * 1000.0)
    np.testing.assert_allclose(scaled(env, run), [300.0])
    with pytest.raises(TypeError, match="Decoding"):
        Pipe(lambda env, run: 0)


def test_decodings_need_spikes(env):
    with pytest.raises(ValueError, match="record_spikes"):
        MeanFiringRate(100)(env, Run(duration=100.0))


# gymnasium iterates a stacked Sequence of scalar Boxes as numpy scalars and warns that it casts them
@pytest.mark.filterwarnings("ignore:.*Casting input x to numpy array")
def test_outputs_lie_in_their_spaces(env):
    import gymnasium  # in livn-core[test]: missing, this test fails (never skips)
    run = _run(IDS, TIMES)
    for decoding in (
        MeanFiringRate(200),
        MeanFiringRate(200, by="population"),
        MeanFiringRate(200, by="channel"),
        ActiveFraction(200, by="population"),
        PeriStimulusHistogram(200, window=20.0),
        PeriStimulusHistogram(200, window=20.0, by="channel"),
        Pipe(MeanFiringRate(200, by="cell"), Select([0, 85])),
    ):
        space = decoding.space(env)
        value = np.asarray(decoding(env, run), dtype=space.dtype)
        assert space.contains(value), type(decoding).__name__
    ids, times = ChannelRecording(200)(env, run)
    space = ChannelRecording(200).space(env)
    assert space.contains((ids, times))
    with pytest.raises(TypeError, match="space="):
        Pipe(MeanFiringRate(200), lambda x: x).space(env)
    assert isinstance(Pipe(MeanFiringRate(200), lambda x: x, space=gymnasium.spaces.Discrete(2)).space(env),
                      gymnasium.spaces.Discrete)


def test_lfp_output_lies_in_its_space():
    import gymnasium  # noqa: F401 - in livn-core[test]: missing, this test fails (never skips)
    with livn.make("EI2", backend=FakeEnv, record=("spikes",)) as culture:
        culture.record_membrane_current(dt=0.5)
        decoding = LFP(100.0, nperseg=64)
        space = decoding.space(culture)
        value = culture(decoding)
        assert value["potential"].shape == (16, 200) and value["band_power"].shape == (16, 5)
        assert space.contains(value)
        # the fake's spikes put negative current on the membrane: the field is not flat
        assert np.ptp(value["potential"]) > 0
