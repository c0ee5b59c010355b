"""A streamed stimulus on diffrax: windows of one length run one compiled function; under a JAX
transformation a stream is refused (a streamed run continues the env's state, a traced run cannot)."""

from __future__ import annotations

import jax
import livn
import pytest
from livn.streaming import PulseTrain, StimulusStream
from livn_diffrax import env as diffrax_env


@pytest.fixture(scope="module")
def env():
    return livn.make("EI1", backend="diffrax", model="lif", seed=3, record=("spikes",))


def stream(env, duration):
    train = PulseTrain.periodic(env.io.num_channels, 0, interval=5.0, duration=duration, amplitude=5.0)
    return StimulusStream.from_pulses(env, train, window=10.0)


def test_equal_windows_compile_once(env):
    before = len(diffrax_env._COMPILED)
    env.run(40.0, stimulus=stream(env, 40.0))
    assert len(diffrax_env._COMPILED) == before + 1, "four windows of 10 ms should share one compiled function"
    env.run(30.0, stimulus=stream(env, 30.0))
    assert len(diffrax_env._COMPILED) == before + 1, "the next run's windows should reuse it"


def test_stream_inside_a_transformation_is_refused(env):
    def spikes_of(weight):
        traced = env.with_weights({env.weight_names[0]: weight})
        return traced.run(20.0, stimulus=stream(env, 20.0)).spikes

    with pytest.raises(RuntimeError, match="dense Stimulus"):
        jax.jit(spikes_of)(1.0)
