"""livn.gym.LivnVectorEnv: sub-environments on pinned pool workers, each the serial LivnEnv it stands for.

The pools run the fake backend (tests/livn_fake) on 2 spawned processes, and under ``mpiexec -n 3``
(skipped without mpi4py, failing instead under ``LIVN_REQUIRE_MPI=1``).
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import gymnasium  # noqa: F401 - in livn-core[test]: missing, these tests fail (never skip)
import livn
import numpy as np
import pytest
from livn.decoding import MeanFiringRate
from livn.distributed import EnvPool
from livn.encoding import BiphasicAmplitudes, pulse_train
from livn.gym import LivnEnv, LivnVectorEnv, TargetRate
from livn.testing.mpi import require_mpiexec, run_job
from livn_fake.env import Env as FakeEnv

CULTURE = {"backend": FakeEnv, "seed": 7, "record": ("spikes",)}
STEP = 20.0
MAX_STEPS = 3


def pieces() -> tuple:
    encoding = BiphasicAmplitudes(max_amplitude=60.0, pulse_times=pulse_train(100.0, STEP - 1.0))
    return encoding, MeanFiringRate(STEP, by="channel"), TargetRate(5, 20.0)


def actions(shape: tuple[int, ...], steps: int) -> list[np.ndarray]:
    """Per step, one action per sub-environment (``shape`` is the batched action shape); all differ."""
    rng = np.random.default_rng(0)
    return [rng.uniform(0.0, 30.0, size=shape).astype(np.float32) for _ in range(steps)]


@pytest.fixture(scope="module")
def pool():
    with EnvPool("EI2", workers=2, **CULTURE) as pool:
        yield pool


def test_sub_envs_are_the_serial_envs_with_next_step_autoreset(pool):
    vector = LivnVectorEnv(pool, *pieces(), max_steps=MAX_STEPS, reseed_culture=True)
    assert vector.num_envs == 2
    assert vector.observation_space.shape == (2, *vector.single_observation_space.shape)
    assert vector.action_space.shape == (2, *vector.single_action_space.shape)
    plan = actions(vector.action_space.shape, MAX_STEPS + 2)
    first, info = vector.reset(seed=10)
    assert first in vector.observation_space and np.allclose(info["t"], STEP) and info["_t"].all()
    steps = [vector.step(action) for action in plan]
    vector.close()

    for i in range(2):
        serial = LivnEnv(livn.make("EI2", **CULTURE), *pieces(), max_steps=MAX_STEPS, reseed_culture=True)
        observation, _ = serial.reset(seed=10 + i)
        np.testing.assert_array_equal(first[i], observation)
        for k in range(MAX_STEPS):
            observation, reward, terminated, truncated, info = serial.step(plan[k][i])
            np.testing.assert_array_equal(steps[k][0][i], observation)
            assert (steps[k][1][i], steps[k][2][i], steps[k][3][i]) == (reward, terminated, truncated)
            assert steps[k][4]["t"][i] == pytest.approx(info["t"])
        # the episode was truncated: the next step resets (its action unused), the one after steps again
        observation, _ = serial.reset()
        np.testing.assert_array_equal(steps[MAX_STEPS][0][i], observation)
        assert (steps[MAX_STEPS][1][i], steps[MAX_STEPS][2][i], steps[MAX_STEPS][3][i]) == (0.0, False, False)
        np.testing.assert_array_equal(steps[MAX_STEPS + 1][0][i], serial.step(plan[MAX_STEPS + 1][i])[0])
        serial.close()
    assert not np.array_equal(first[0], first[1]), "the two sub-environments run their own cultures"
    assert [bool(s[3].all()) for s in steps] == [False, False, True, False, False]
    assert sum(float(s[0].sum()) for s in steps) > 0


def test_seed_lists_and_the_pool_after_close(pool):
    vector = LivnVectorEnv(pool, *pieces(), max_steps=MAX_STEPS, reseed_culture=True)
    listed, _ = vector.reset(seed=[11, 10])
    offset, _ = vector.reset(seed=10)
    np.testing.assert_array_equal(listed[0], offset[1])
    np.testing.assert_array_equal(listed[1], offset[0])
    with pytest.raises(ValueError, match="one each"):
        vector.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="reset_mask"):
        vector.reset(options={"reset_mask": np.array([True, False])})
    with pytest.raises(ValueError, match="one each"):
        vector.step(np.zeros((3, *vector.single_action_space.shape), dtype=np.float32))
    vector.close()
    assert vector.closed
    assert pool.submit_to(1, lambda_free_time).result() == pytest.approx(STEP), "the pool's envs stay open"


def lambda_free_time(env: livn.Env) -> float:
    """A pinned call after close: the worker's env is still there, at the time the last reset left it."""
    return env.t


def test_bad_arguments(pool):
    encoding, decoding, reward = pieces()
    with pytest.raises(TypeError, match="must pickle"):
        LivnVectorEnv(pool, encoding, decoding, lambda o, a: 0.0)
    with pytest.raises(TypeError, match="EnvPool"):
        LivnVectorEnv(livn.make("EI2", **CULTURE), encoding, decoding, reward)
    with pytest.raises(ValueError, match="max_steps"):  # raised on the worker, by LivnEnv
        LivnVectorEnv(pool, encoding, decoding, reward, max_steps=0)


_MPI_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = {paths!r}
    from mpi4py import MPI
    from livn.distributed import EnvPool
    from livn.gym import LivnVectorEnv
    from test_gym_vector import CULTURE, MAX_STEPS, actions, pieces

    pool = EnvPool("EI2", comm=MPI.COMM_WORLD, **CULTURE)
    if pool.is_controller:
        vector = LivnVectorEnv(pool, *pieces(), max_steps=MAX_STEPS, reseed_culture=True)
        first, _ = vector.reset(seed=10)
        steps = [vector.step(action) for action in actions(vector.action_space.shape, 2)]
        vector.close()
        pool.close()
        with open("result.json", "w") as handle:
            json.dump({{"first": first.tolist(), "steps": [s[0].tolist() for s in steps],
                        "rewards": [s[1].tolist() for s in steps]}}, handle)
    """
)


def test_sub_envs_on_mpi_ranks_are_the_serial_envs(tmp_path):
    mpiexec = require_mpiexec()
    script = tmp_path / "vector.py"
    script.write_text(_MPI_SCRIPT.format(paths=[str(Path(__file__).resolve().parent)]))
    result, _ = run_job([mpiexec, "-n", "3", sys.executable, str(script)], tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads((tmp_path / "result.json").read_text())
    for i in range(2):
        serial = LivnEnv(livn.make("EI2", **CULTURE), *pieces(), max_steps=MAX_STEPS, reseed_culture=True)
        observation, _ = serial.reset(seed=10 + i)
        np.testing.assert_array_equal(out["first"][i], observation)
        plan = actions((2, *serial.action_space.shape), 2)
        for k in range(2):
            observation, reward, *_ = serial.step(plan[k][i])
            np.testing.assert_array_equal(out["steps"][k][i], observation)
            assert out["rewards"][k][i] == reward
    assert out["first"][0] != out["first"][1]
