"""EI2 runs that comparisons of the neuron backend's settings share (CoreNEURON, threads)."""

from __future__ import annotations

from typing import Any

import numpy as np
from livn import make
from livn.stimulus import Stimulus


def ei2_runs(**settings: Any) -> list:
    """EI2 (RCSD, noise on, seed 7) with a current pulse for 120 ms, then 80 ms more; ``settings`` go to make."""
    env = make("EI2", backend="neuron", seed=7, record=("spikes", "voltage"), **settings)
    assert env.noise["std_e"] > 0 and env.noise["std_i"] > 0  # the noise is on
    pulse = Stimulus(np.full((200, 2), 0.15), dt=0.5, gids=[0, 60], input_mode="current")
    runs = [env.run(120.0, stimulus=pulse), env.run(80.0)]  # a stimulus, then a continuation
    env.close()
    return runs
