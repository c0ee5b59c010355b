"""A streamed stimulus (livn.streaming) runs as the dense one would, on the backend under test.

Same seed, same pulses: ``env.run(d, stimulus=stream)`` in windows gives the spikes and voltages of
``env.run(d, stimulus=dense)``. Short runs on EI1 (RCSD on NEURON and diffrax is slow).
"""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn.encoding import to_stimulus
from livn.streaming import PulseTrain, StimulusStream

DURATION = 40.0  # ms
WINDOW = 10.0  # ms: four windows, the first three boundaries fall between pulses and inside one
STIMULUS_DT = 0.05


def make_env(backend_name: str):
    env = livn.make("EI1", backend=backend_name, seed=11, record=("spikes",))
    env.record_voltage(dt=0.1)
    return env


def pulses(env) -> PulseTrain:
    channels = sorted({0, env.io.num_channels - 1})
    # pulses every 3.3 ms: one starts at 19.8 ms and is cut by the window boundary at 20 ms
    return PulseTrain.periodic(env.io.num_channels, channels, interval=3.3, duration=DURATION, start=0.0,
                               amplitude=8.0)


def dense_stimulus(env):
    inputs = pulses(env).render(0.0, DURATION, STIMULUS_DT)
    if "extracellular" in type(env).input_modes:
        return env.cell_stimulus(inputs, STIMULUS_DT)
    return to_stimulus(env, inputs, STIMULUS_DT, "current")  # a current-only backend: the surrogate current


def stream(env):
    if "extracellular" in type(env).input_modes:
        return StimulusStream.from_pulses(env, pulses(env), STIMULUS_DT, window=WINDOW)
    train = pulses(env)
    return StimulusStream(lambda t0, t1: to_stimulus(env, train.render(t0, t1, STIMULUS_DT), STIMULUS_DT, "current"),
                          STIMULUS_DT, input_mode="current", window=WINDOW)


@pytest.fixture(scope="module")
def dense_and_streamed(backend_name):
    env = make_env(backend_name)
    dense = env.run(DURATION, stimulus=dense_stimulus(env))
    env.close()
    env = make_env(backend_name)
    streamed = env.run(DURATION, stimulus=stream(env))
    assert env.t == pytest.approx(DURATION)
    env.close()
    return dense, streamed


def test_streamed_run_has_the_dense_runs_spikes(dense_and_streamed):
    dense, streamed = dense_and_streamed
    assert len(dense.spikes) > 0, "the pulses should make some cell fire (else this test proves little)"
    np.testing.assert_array_equal(streamed.spikes.ids, dense.spikes.ids)
    np.testing.assert_allclose(streamed.spikes.times, dense.spikes.times, rtol=0, atol=1e-9)


def test_streamed_run_has_the_dense_runs_voltage(dense_and_streamed):
    """Equal to rounding: NEURON resets its extracellular node to the stimulus value at each window
    start (measured: 3e-10 mV), brian2 and diffrax agree to the last bits."""
    dense, streamed = dense_and_streamed
    assert streamed.t0 == dense.t0 == 0.0 and streamed.duration == dense.duration == DURATION
    np.testing.assert_array_equal(streamed.voltage.ids, dense.voltage.ids)
    assert np.shape(streamed.voltage.values) == np.shape(dense.voltage.values)
    np.testing.assert_allclose(streamed.voltage.values, dense.voltage.values, rtol=0, atol=1e-8)
