"""A streamed stimulus on brian2 generates its code once, not once per window."""

from __future__ import annotations

import livn
from livn.streaming import PulseTrain, StimulusStream


def test_stream_windows_reuse_the_generated_code(monkeypatch):
    env = livn.make("EI1", backend="brian2", seed=3, record=("spikes",))
    net = env.simulation.net
    calls = []
    original = net.run

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(net, "run", counted)
    train = PulseTrain.periodic(env.io.num_channels, 0, interval=5.0, duration=100.0, amplitude=5.0)
    env.run(100.0, stimulus=StimulusStream.from_pulses(env, train, window=10.0))
    assert len(calls) == 1, f"brian2 generated its code {len(calls)} times for 10 windows"
