"""Pulse trains and streamed stimuli (livn.streaming) and ``env.run`` with a stream, without a simulator."""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn.run import Events, Series
from livn.stimulus import DEFAULT_PULSE_AMPLITUDE, Stimulus
from livn.streaming import DEFAULT_WINDOW, PulseTrain, StimulusStream
from livn_reference.env import Env as ReferenceEnv


class Recorder(livn.Env):
    """No dynamics: records each run's stimulus; one spike per cell at each run's midpoint, voltage = t."""

    backend_name = "recorder"
    signals = ("spikes", "voltage")
    default_model = "lif"
    default_dt = 0.1

    @classmethod
    def implementations(cls):
        return {"lif": None}

    def _init(self):
        self.stimuli = []

    def _run(self, duration, stimulus, dt):
        self.stimuli.append(stimulus)
        out = {}
        ids = np.arange(self.system.num_neurons)
        if "spikes" in self.recording:
            out["spikes"] = Events(ids, np.full(ids.size, duration / 2))
        if "voltage" in self.recording:
            step = self.recording["voltage"]["dt"]
            times = self.t + np.arange(round(duration / step)) * step
            out["voltage"] = Series(ids, np.tile(times, (ids.size, 1)), step)
        return out


# -- PulseTrain ------------------------------------------------------------------------------------
WAVEFORMS = [
    {},
    {"phase_duration": 0.1, "interphase_gap": 0.0, "cathodic_first": False},
    {"phase_duration": 0.5, "interphase_gap": 0.2},
]


@pytest.mark.parametrize("waveform", WAVEFORMS)
@pytest.mark.parametrize("dt", [0.05, 0.025])
def test_render_equals_biphasic_pulse(waveform, dt):
    times = [0.0, 1.0, 3.3, 3.45, 20.0]  # 3.3 and 3.45 overlap
    want = Stimulus.biphasic_pulse(8, [1, 6], amplitude=2.5, pulse_times=times, dt=dt, duration=25.0, **waveform)
    train = PulseTrain(8, np.repeat(times, 2), np.tile([1, 6], len(times)), 2.5, **waveform)
    np.testing.assert_array_equal(train.render(0.0, 25.0, dt), want)


def test_render_windows_tile_the_whole_train():
    rng = np.random.default_rng(0)
    onsets = rng.uniform(0, 100, 60).round(2)
    train = PulseTrain(16, onsets, rng.integers(0, 16, 60), rng.uniform(-3, 3, 60))
    whole = train.render(0.0, 101.0)
    for window in (0.05, 0.2, 0.35, 7.0, 33.3):  # boundaries inside pulses, phases and gaps
        edges = np.arange(0, round(101.0 / window) + 1) * window
        edges[-1] = min(edges[-1], 101.0)
        pieces = [train.render(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
        np.testing.assert_array_equal(np.concatenate(pieces), whole[: sum(p.shape[0] for p in pieces)])


def test_render_window_alone_matches_rows_of_the_whole():
    train = PulseTrain.periodic(4, [0, 3], interval=10.0, duration=100.0, start=0.1)
    whole = train.render(0.0, 100.0)
    np.testing.assert_array_equal(train.render(30.1, 30.45), whole[602:609])  # cuts a pulse's first phase
    np.testing.assert_array_equal(train.render(50.5, 50.6)[:, 0], [DEFAULT_PULSE_AMPLITUDE, 0.0])  # a pulse's last sample
    assert train.render(51.0, 55.0).shape == (80, 4) and not train.render(51.0, 55.0).any()


def test_periodic_and_end():
    train = PulseTrain.periodic(4, [0, 2], interval=200.0, duration=1000.0, start=100.0)
    assert train.num_pulses == 10
    np.testing.assert_array_equal(train.onsets, np.repeat([100.0, 300.0, 500.0, 700.0, 900.0], 2))
    assert train.end() == pytest.approx(900.0 + 0.45)
    assert PulseTrain(2, [], 0).end() == 0.0
    assert not PulseTrain(2, [], 0).render(0, 5).any()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"onsets": [-1.0]}, ValueError, "onsets"),
        ({"onsets": [float("nan")]}, ValueError, "onsets"),
        ({"channels": 4}, ValueError, r"0\.\.3"),
        ({"channels": -1}, ValueError, r"0\.\.3"),
        ({"channels": 1.5}, TypeError, "ints"),
        ({"amplitudes": float("nan")}, ValueError, "amplitudes"),
        ({"amplitudes": [1.0, 2.0, 3.0]}, ValueError, "one per pulse"),
        ({"n_channels": 0}, ValueError, "n_channels"),
        ({"phase_duration": 0.0}, ValueError, "phase_duration"),
        ({"interphase_gap": -0.1}, ValueError, "interphase_gap"),
    ],
)
def test_pulse_train_rejects_bad_input(kwargs, error, match):
    arguments = {"n_channels": 4, "onsets": [1.0, 2.0], "channels": [0, 1], "amplitudes": 1.0, **kwargs}
    with pytest.raises(error, match=match):
        PulseTrain(**arguments)


def test_render_rejects_bad_windows():
    train = PulseTrain(2, [1.0], 0)
    with pytest.raises(ValueError, match="t0"):
        train.render(-1.0, 2.0)
    with pytest.raises(ValueError, match="t0"):
        train.render(2.0, 2.0)
    with pytest.raises(ValueError, match="whole number"):
        train.render(0.0, 1.01)


# -- StimulusStream --------------------------------------------------------------------------------
def test_from_pulses_windows_equal_the_dense_cell_stimulus():
    env = livn.make("EI1", backend=ReferenceEnv, model="lif")
    train = PulseTrain.periodic(env.io.num_channels, 0, interval=7.0, duration=50.0, start=1.0, amplitude=4.0)
    dense = env.cell_stimulus(train.render(0.0, 50.0), dt=0.05)
    stream = StimulusStream.from_pulses(env, train, window=12.5)
    windows = list(stream.windows(50.0))
    assert [t0 for t0, _ in windows] == [0.0, 12.5, 25.0, 37.5]
    np.testing.assert_array_equal(np.concatenate([w.array for _, w in windows]), dense.array)
    np.testing.assert_array_equal(stream.window(25.0, 37.5).array, dense.array[500:750])


def test_callable_stream_checks_each_window():
    def good(t0, t1):
        return np.zeros((round((t1 - t0) / 0.5), 3))

    stream = StimulusStream(good, dt=0.5, input_mode="current", window=10.0)
    assert stream.window(0.0, 10.0).array.shape == (20, 3)
    assert [w.num_samples for _, w in stream.windows(25.0)] == [20, 20, 10]
    short = StimulusStream(lambda t0, t1: np.zeros((3, 3)), dt=0.5, input_mode="current")
    with pytest.raises(ValueError, match="has 3 samples"):
        short.window(0.0, 10.0)
    other_dt = StimulusStream(lambda t0, t1: Stimulus(np.zeros((40, 3)), dt=0.25, input_mode="current"), dt=0.5,
                              input_mode="current")
    with pytest.raises(ValueError, match="dt=0.25"):
        other_dt.window(0.0, 10.0)
    other_mode = StimulusStream(lambda t0, t1: Stimulus(np.zeros((20, 3)), dt=0.5), dt=0.5, input_mode="current")
    with pytest.raises(ValueError, match="extracellular"):
        other_mode.window(0.0, 10.0)
    nan = StimulusStream(lambda t0, t1: np.full((20, 3), np.nan), dt=0.5, input_mode="current")
    with pytest.raises(ValueError, match="at 0 ms.*NaN"):
        nan.window(0.0, 10.0)
    with pytest.raises(TypeError, match="None"):
        StimulusStream(lambda t0, t1: None, dt=0.5).window(0.0, 10.0)
    with pytest.raises(ValueError, match="t0"):
        stream.window(-1.0, 1.0)


def test_stream_rejects_bad_construction():
    with pytest.raises(TypeError, match="callable"):
        StimulusStream(3, dt=0.5)
    with pytest.raises(TypeError, match="dense"):
        StimulusStream(np.zeros((4, 2)), dt=0.5)
    with pytest.raises(ValueError, match="dt"):
        StimulusStream(lambda a, b: None, dt=0.0)
    with pytest.raises(ValueError, match="whole number"):
        StimulusStream(lambda a, b: None, dt=0.3, window=100.0)
    with pytest.raises(ValueError, match="input_mode"):
        StimulusStream(lambda a, b: None, dt=0.5, input_mode="light-ish")
    env = livn.make("EI1", backend=ReferenceEnv, model="lif")
    with pytest.raises(ValueError, match="channels"):
        StimulusStream.from_pulses(env, PulseTrain(env.io.num_channels + 1, [1.0], 0))
    assert StimulusStream(lambda a, b: None, dt=0.5).window_length == DEFAULT_WINDOW


def test_iterable_stream_is_read_in_order():
    stream = StimulusStream(iter([np.ones((4, 2)), np.ones((6, 2))]), dt=0.5, input_mode="current")
    assert stream.window(0.0, 2.0).num_samples == 4
    with pytest.raises(ValueError, match="starts at 2 ms"):
        stream.window(0.0, 2.0)
    with pytest.raises(ValueError, match="has 6 samples"):
        stream.window(2.0, 4.0)


# -- env.run with a stream -------------------------------------------------------------------------
def test_run_streams_in_windows_and_joins_one_run():
    env = livn.make(3, backend=Recorder, record=("spikes",))
    env.record_voltage(dt=0.5)
    stream = StimulusStream(lambda t0, t1: np.full((round((t1 - t0) / 0.5), 3), t0), dt=0.5, input_mode="current",
                            window=20.0)
    run = env.run(50.0, stimulus=stream)
    assert [s.num_samples for s in env.stimuli] == [40, 40, 20]
    assert [float(s.array[0, 0]) for s in env.stimuli] == [0.0, 20.0, 40.0]
    assert env.t == pytest.approx(50.0) and run.t0 == 0.0 and run.duration == 50.0
    np.testing.assert_allclose(np.unique(run.spikes.times), [10.0, 30.0, 45.0])
    np.testing.assert_allclose(run.voltage.values[0], np.arange(100) * 0.5)  # continuous across windows
    later = env.run(20.0, stimulus=stream)  # a stream starts again at its time 0 in each run
    assert later.t0 == pytest.approx(50.0) and float(env.stimuli[-1].array[0, 0]) == 0.0


def test_iterable_stream_runs_its_windows_then_no_stimulus():
    env = livn.make(2, backend=Recorder, record=("spikes",))
    stream = StimulusStream((np.ones((n, 2)) for n in (10, 30)), dt=0.5, input_mode="current")
    run = env.run(30.0, stimulus=stream)
    assert [None if s is None else s.num_samples for s in env.stimuli] == [10, 30, None]
    assert run.duration == 30.0 and len(run.spikes) == 6
    too_long = StimulusStream(iter([np.ones((100, 2))]), dt=0.5, input_mode="current")
    with pytest.raises(ValueError, match="past the end"):
        env.run(10.0, stimulus=too_long)


def test_stream_windows_must_be_whole_steps_and_samples():
    env = livn.make(2, backend=Recorder, record=("spikes",))
    env.record_voltage(dt=1.0)
    stream = StimulusStream(lambda t0, t1: np.zeros((round((t1 - t0) / 0.5), 2)), dt=0.5, input_mode="current",
                            window=2.5)
    with pytest.raises(ValueError, match="voltage recording interval"):
        env.run(10.0, stimulus=stream)
    assert env.stimuli == [] and env.t == 0.0  # refused before anything ran
    plain = livn.make(2, backend=Recorder, record=("spikes",))
    with pytest.raises(ValueError, match="whole number of samples"):
        plain.run(10.2, stimulus=stream)  # whole steps of 0.1 ms, not whole samples of 0.5 ms


def test_stream_keeps_the_continuation_rules():
    env = livn.make(2, backend=Recorder, record=("spikes",))
    env.run(5.0, stimulus=Stimulus(np.zeros((10, 2)), dt=0.5, input_mode="current"))
    stream = StimulusStream(lambda t0, t1: np.zeros((round((t1 - t0) / 0.25), 2)), dt=0.25, input_mode="current")
    with pytest.raises(ValueError, match="clear"):
        env.run(10.0, stimulus=stream)
    env.clear()
    assert env.run(10.0, stimulus=stream).duration == 10.0


def test_streamed_run_equals_the_dense_run_on_the_reference_backend():
    """A numpy point-neuron backend with noise: the streamed run is the dense run, spike for spike."""

    def run(stimulus_of):
        env = livn.make("EI2", backend=ReferenceEnv, model="lif", seed=4, record=("spikes",))
        env.record_voltage(dt=0.1)
        return env.run(60.0, stimulus=stimulus_of(env))

    def train(env):
        return PulseTrain.periodic(env.io.num_channels, [0, 5, 9], interval=6.0, duration=60.0, start=0.5,
                                   amplitude=20.0)

    dense = run(lambda env: env.cell_stimulus(train(env).render(0.0, 60.0), dt=0.05))
    streamed = run(lambda env: StimulusStream.from_pulses(env, train(env), window=15.0))
    quiet = run(lambda env: None)
    assert len(dense.spikes) > len(quiet.spikes), "the pulses should add spikes (else this test proves little)"
    np.testing.assert_array_equal(streamed.spikes.ids, dense.spikes.ids)
    np.testing.assert_allclose(streamed.spikes.times, dense.spikes.times, rtol=0, atol=1e-9)
    np.testing.assert_allclose(streamed.voltage.values, dense.voltage.values, rtol=0, atol=1e-9)


def test_array_windows_of_light_and_conductance_streams_take_the_streams_wavelength_and_reversal():
    light = StimulusStream(lambda t0, t1: np.ones((int(round((t1 - t0) / 0.5)), 3)), dt=0.5, input_mode="light",
                           wavelength=473.0, window=10.0)
    assert light.window(0.0, 10.0).wavelength == 473.0
    conductance = StimulusStream(iter([np.full((4, 3), 0.01)]), dt=0.5, input_mode="conductance", reversal=-75.0)
    (_, first), = list(conductance.windows(2.0))
    assert first.reversal == -75.0 and first.input_mode == "conductance"
    with pytest.raises(ValueError, match="reversal"):
        StimulusStream(lambda t0, t1: None, dt=0.5, reversal=0.0)  # an extracellular stream takes none
    with pytest.raises(ValueError, match="wavelength"):
        StimulusStream(lambda t0, t1: None, dt=0.5, input_mode="light", wavelength=-1.0)
