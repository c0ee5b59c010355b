"""A Gymnasium environment over any livn env, encoding and decoding (optional: ``livn-core[gym]``).

Each ``step(action)`` encodes the action into a stimulus, runs ``decoding.duration`` ms of the
culture (continuing its state) and returns the decoded observation and ``reward(observation,
action)``. ``reset()`` clears the culture back to t = 0 (``env.clear()``) and observes
``decoding.duration`` ms without stimulation. The culture's noise follows the livn env's ``seed``;
``reset(seed=...)`` seeds ``np_random`` (and the action space) as gymnasium prescribes, and with
``reseed_culture=True`` also the culture (its ``seed`` becomes a number drawn from ``np_random``).

:class:`LivnVectorEnv` is the vectorised form: ``num_envs`` such environments, each on its own
worker of a :class:`livn.distributed.EnvPool` (sub-environment ``i`` on worker ``i``, its culture
continuing from step to step there), stepped in parallel.

Rewards shipped here: :class:`TargetRate` (hold an observed rate at a target).
"""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from livn.encoding import require_gymnasium

if TYPE_CHECKING:
    from livn.decoding import Decoding
    from livn.distributed import EnvPool
    from livn.encoding import Encoding
    from livn.env import Env

gymnasium = require_gymnasium()
from gymnasium.utils import seeding  # noqa: E402 - after the check that gymnasium is installed
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate  # noqa: E402

#: gymnasium's default autoreset mode (an enum from gymnasium 1.1; its name before).
_NEXT_STEP = getattr(getattr(gymnasium.vector, "AutoresetMode", None), "NEXT_STEP", "next_step")

__all__ = ["LivnEnv", "LivnVectorEnv", "TargetRate", "make_rate_task"]


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


#: The sub-environments living in this process, by vector env key (on the pool's workers).
_SUB_ENVS: dict[str, LivnEnv] = {}


def _sub_open(env: Env, key: str, encoding: Encoding, decoding: Decoding, reward: Callable, max_steps: int,
              reseed_culture: bool) -> tuple[Any, Any]:
    """On a worker: a :class:`LivnEnv` over the worker's env; returns its (action, observation) spaces."""
    sub = LivnEnv(env, encoding, decoding, reward, max_steps=max_steps, reseed_culture=reseed_culture)
    _SUB_ENVS[key] = sub
    return sub.action_space, sub.observation_space


def _sub_env(key: str) -> LivnEnv:
    try:
        return _SUB_ENVS[key]
    except KeyError:
        raise RuntimeError(
            "this worker does not hold the sub-environment (its process was restarted, or the vector env was closed)"
        ) from None


def _sub_reset(env: Env, key: str, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, dict]:
    return _sub_env(key).reset(seed=seed, options=options)


def _sub_step(env: Env, key: str, action: Any) -> tuple[Any, float, bool, bool, dict]:
    return _sub_env(key).step(action)


def _sub_close(env: Env, key: str) -> None:
    _SUB_ENVS.pop(key, None)  # the culture is the pool's env: the pool closes it


class LivnVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs = pool.workers`` :class:`LivnEnv` sub-environments on the workers of ``pool``.

    Sub-environment ``i`` is ``LivnEnv(env_i, encoding, decoding, reward, max_steps, reseed_culture)``
    built on worker ``i`` over that worker's env (the pool's factory: ``EnvPool("EI2", workers=4,
    seed=...)``), and every call to it is pinned to worker ``i`` (:meth:`EnvPool.submit_to`), so its
    culture continues from step to step; ``step`` and ``reset`` run the sub-environments in parallel.
    Sub-environment ``i`` returns exactly what a serial ``LivnEnv`` over the same env (same factory)
    returns for the same seeds and actions. ``encoding``, ``decoding`` and ``reward`` must pickle
    (e.g. :class:`TargetRate`, not a lambda). While this vector env is open the pool's workers are its
    sub-environments: another call on the pool (``pool.run``, ``submit``) would clear their cultures.
    ``close()`` drops the sub-environments; the pool stays open (its owner closes it). On an MPI pool
    (``EnvPool(system, comm=MPI.COMM_WORLD)`` on every rank) build the vector env on the controller,
    inside ``if pool.is_controller:``; a sub-environment then lives on a group of ranks.

    Seeds: ``reset(seed=s)`` seeds sub-environment ``i`` with ``s + i`` (a list gives one seed per
    sub-environment), as gymnasium's ``SyncVectorEnv`` does. All workers' envs come from one factory,
    so their cultures share one noise seed: pass ``reseed_culture=True`` for cultures with independent
    noise (each sub-environment then seeds its culture from its ``np_random``).

    Autoreset (``metadata["autoreset_mode"]``, gymnasium's default, next-step): when a sub-environment's
    episode ends (truncated after ``max_steps`` steps), the next ``step`` resets it instead of applying
    its action, and reports that reset's observation with reward 0, not terminated, not truncated.
    ``infos["t"]`` holds each sub-environment's culture time (ms), with the mask ``infos["_t"]``.
    """

    metadata = {"render_modes": [], "autoreset_mode": _NEXT_STEP}

    def __init__(
        self,
        pool: EnvPool,
        encoding: Encoding,
        decoding: Decoding,
        reward: Callable[[Any, Any], float],
        max_steps: int = 100,
        reseed_culture: bool = False,
    ) -> None:
        from livn.distributed import EnvPool

        if not isinstance(pool, EnvPool):
            raise TypeError(f"pool must be a livn.distributed.EnvPool (one worker per sub-environment), got {pool!r}")
        if not pool.is_controller:
            raise RuntimeError("this rank is a worker of the pool; build the vector env on the controller (rank 0)")
        if not callable(reward):
            raise TypeError(f"reward must be a callable reward(observation, action) -> float, got {reward!r}")
        for name, value in (("encoding", encoding), ("decoding", decoding), ("reward", reward)):
            try:
                pickle.dumps(value)
            except Exception as exc:
                raise TypeError(
                    f"the {name} goes to the pool's worker processes and must pickle, but {value!r} does not ({exc}); "
                    "use a module-level function or class instance (e.g. TargetRate), not a lambda or closure"
                ) from exc
        self.pool = pool
        self.num_envs = pool.workers
        self.max_steps = max_steps
        self._key = uuid.uuid4().hex
        self._opened = True
        try:
            opened = self._each(_sub_open, [(self._key, encoding, decoding, reward, max_steps, reseed_culture)] * self.num_envs)
        except BaseException:
            self.close_extras()
            raise
        self.single_action_space, self.single_observation_space = opened[0]
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def _each(self, fn: Callable[..., Any], args: Sequence[tuple]) -> list[Any]:
        """``fn(env_i, *args[i])`` on every worker ``i`` at once; the results in order."""
        futures = [self.pool.submit_to(i, fn, *items) for i, items in enumerate(args)]
        return [future.result() for future in futures]

    def _batch(self, observations: list[Any]) -> Any:
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, observations, out)

    def _infos(self, infos: list[dict]) -> dict[str, Any]:
        batched: dict[str, Any] = {}
        for i, info in enumerate(infos):
            batched = self._add_info(batched, info, i)
        return batched

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-environment (in parallel): the batched first observations and infos."""
        if options is not None and "reset_mask" in options:
            raise ValueError(
                "LivnVectorEnv resets every sub-environment (and ended ones on their next step); it does not take "
                "options['reset_mask']"
            )
        if seed is None or isinstance(seed, (int, np.integer)):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"reset got {len(seeds)} seeds for {self.num_envs} sub-environments: give one each")
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        results = self._each(_sub_reset, [(self._key, s, options) for s in seeds])
        self._autoreset[:] = False
        observations, infos = zip(*results, strict=True)
        return self._batch(list(observations)), self._infos(list(infos))

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One step of every sub-environment (in parallel); ended episodes are reset instead (see the class doc)."""
        actions = list(iterate(self.action_space, actions))
        if len(actions) != self.num_envs:
            raise ValueError(f"step got {len(actions)} actions for {self.num_envs} sub-environments: give one each")
        futures = [
            self.pool.submit_to(i, _sub_reset, self._key, None, None)
            if self._autoreset[i]
            else self.pool.submit_to(i, _sub_step, self._key, action)
            for i, action in enumerate(actions)
        ]
        observations, infos = [], []
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i, future in enumerate(futures):
            if self._autoreset[i]:
                observation, info = future.result()
            else:
                observation, rewards[i], terminated[i], truncated[i], info = future.result()
            observations.append(observation)
            infos.append(info)
        self._autoreset = terminated | truncated
        return self._batch(observations), rewards, terminated, truncated, self._infos(infos)

    def close_extras(self, **kwargs: Any) -> None:
        """Drop the sub-environments from the workers (the pool and its envs stay open)."""
        if getattr(self, "_opened", False) and not self.pool._closed:  # False: __init__ failed early
            self._opened = False
            self._each(_sub_close, [(self._key,)] * self.num_envs)
        self._opened = False


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
