"""A Gymnasium environment over any livn env, encoding and decoding (optional: ``livn-core[gym]``).

Each ``step(action)`` encodes the action into a stimulus, runs ``decoding.duration`` ms of the
culture (continuing its state) and returns the decoded observation and ``reward(observation,
action)``. ``reset()`` clears the culture back to t = 0 (``env.clear()``) and observes
``decoding.duration`` ms without stimulation. The culture's noise follows the livn env's ``seed``;
``reset(seed=...)`` seeds ``np_random`` (and the action space) as gymnasium prescribes, and with
``reseed_culture=True`` also the culture (its ``seed`` becomes a number drawn from ``np_random``).

Rewards shipped here: :class:`TargetRate` (hold an observed rate at a target).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from livn.encoding import require_gymnasium

if TYPE_CHECKING:
    from livn.decoding import Decoding
    from livn.encoding import Encoding
    from livn.env import Env

gymnasium = require_gymnasium()

__all__ = ["LivnEnv", "TargetRate", "make_rate_task"]


class TargetRate:
    """Reward ``-|observation[index] - target| / target``: 0 on target, -1 when silent (Hz)."""

    def __init__(self, index: int, target: float) -> None:
        if not target > 0:
            raise ValueError(f"target must be a positive rate in Hz, got {target!r}")
        self.index = int(index)
        self.target = float(target)

    def __call__(self, observation: Any, action: Any) -> float:
        value = float(np.asarray(observation).reshape(-1)[self.index])
        return -abs(value - self.target) / self.target


class LivnEnv(gymnasium.Env):
    """``gymnasium.Env`` over a livn ``env``: actions via ``encoding``, observations via ``decoding``.

    ``reward(observation, action) -> float`` is pluggable. An episode ends (truncated) after
    ``max_steps`` steps; it never terminates on its own. Observations are cast to the decoding's
    space dtype.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        env: Env,
        encoding: Encoding,
        decoding: Decoding,
        reward: Callable[[Any, Any], float],
        max_steps: int = 100,
        reseed_culture: bool = False,
    ) -> None:
        if not callable(reward):
            raise TypeError(f"reward must be a callable reward(observation, action) -> float, got {reward!r}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
        if encoding.duration > decoding.duration + 1e-9:
            raise ValueError(
                f"the encoding's pulses last {encoding.duration:g} ms but each step runs {decoding.duration:g} ms; "
                "shorten the pulse train or lengthen the decoding's duration"
            )
        self.livn_env = env
        self.encoding = encoding
        self.decoding = decoding
        self.reward_fn = reward
        self.max_steps = max_steps
        self.reseed_culture = bool(reseed_culture)
        self.action_space = encoding.space(env)
        self.observation_space = decoding.space(env)
        self.steps = 0

    def _observe(self, value: Any) -> np.ndarray:
        return np.asarray(value, dtype=self.observation_space.dtype).reshape(self.observation_space.shape)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Clear the culture to t = 0 and observe one unstimulated step."""
        super().reset(seed=seed)
        culture_seed = None
        if seed is not None:
            self.action_space.seed(int(self.np_random.integers(2**31)))
            if self.reseed_culture:
                culture_seed = int(self.np_random.integers(2**31))
        self.livn_env.clear(seed=culture_seed)
        self.steps = 0
        observation = self._observe(self.livn_env(self.decoding))
        return observation, {"t": self.livn_env.t}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Stimulate with ``action``, run one decoding window, observe and reward."""
        observation = self._observe(self.livn_env(self.decoding, action, self.encoding))
        reward = float(self.reward_fn(observation, action))
        self.steps += 1
        return observation, reward, False, self.steps >= self.max_steps, {"t": self.livn_env.t}

    def close(self) -> None:
        """Close the livn env."""
        self.livn_env.close()


def make_rate_task(
    env: Env,
    channel: int,
    target: float = 20.0,
    step_duration: float = 50.0,
    pulse_frequency: float = 100.0,
    max_amplitude: float = 60.0,
    max_steps: int = 40,
    input_mode: str = "extracellular",
    current_per_mV: float | None = None,
) -> LivnEnv:
    """The example task: hold the rate recorded at electrode ``channel`` near ``target`` Hz.

    Action: one biphasic pulse amplitude (uA) per electrode, pulses every ``1000 / pulse_frequency``
    ms within each ``step_duration`` ms step. Observation: the multi-unit rate per electrode (Hz).
    Reward: :class:`TargetRate` on ``channel``.
    """
    from livn.decoding import MeanFiringRate
    from livn.encoding import BiphasicAmplitudes, pulse_train

    if not 0 <= channel < env.io.num_channels:
        raise ValueError(f"channel must be an electrode row in 0..{env.io.num_channels - 1}, got {channel!r}")
    encoding = BiphasicAmplitudes(
        max_amplitude=max_amplitude,
        pulse_times=pulse_train(pulse_frequency, step_duration - 1.0),
        input_mode=input_mode,
        current_per_mV=current_per_mV,
    )
    decoding = MeanFiringRate(step_duration, by="channel")
    return LivnEnv(env, encoding, decoding, TargetRate(channel, target), max_steps=max_steps)
