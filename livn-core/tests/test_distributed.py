"""livn.distributed.EnvPool: the same runs as one process would make, on local processes and on MPI ranks.

The pools run the numpy reference backend (tests/livn_reference); the MPI cases run under ``mpiexec``
(skipped without mpi4py, failing instead under ``LIVN_REQUIRE_MPI=1``), each under a timeout.
"""

from __future__ import annotations

import json
import sys
import textwrap

import livn
import numpy as np
import pytest
from livn.distributed import EnvPool, make_factory
from livn.testing.mpi import require_mpiexec, run_job

BACKEND = "livn_reference.env"
SEEDS = [1, 2, 3, 4]


def serial_runs(duration: float = 100.0) -> list[livn.Run]:
    env = livn.make("EI1", backend=BACKEND, record=("spikes",))
    runs = []
    for seed in SEEDS:
        env.clear(seed=seed)
        runs.append(env.run(duration))
    return runs


def spikes(run: livn.Run) -> list[tuple[int, float]]:
    return sorted(zip(np.asarray(run.spikes.ids).tolist(), np.round(np.asarray(run.spikes.times), 9).tolist()))


def total_spikes(env: livn.Env, duration: float, seed: int) -> int:
    """A call a pool runs: spikes of one run of ``duration`` ms from ``clear(seed)``."""
    env.clear(seed=seed)
    return len(env.run(duration).spikes)


def fails(env: livn.Env) -> None:
    raise ValueError("this call fails on the worker")


def test_local_pool_makes_the_serial_runs():
    with EnvPool("EI1", workers=2, backend=BACKEND, record=("spikes",)) as pool:
        assert pool.workers == 2 and pool.is_controller
        runs = pool.run(100.0, seeds=SEEDS)
        counts = pool.map(total_spikes, [100.0] * 4, SEEDS)
        future = pool.submit(fails)
        with pytest.raises(ValueError, match="fails on the worker"):
            future.result()
        assert pool.submit(total_spikes, 100.0, 1).result() == counts[0], "a worker survives a failed call"
    expected = serial_runs()
    assert [spikes(run) for run in runs] == [spikes(run) for run in expected]
    assert counts == [len(run.spikes) for run in expected]
    assert sum(counts) > 0
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(total_spikes, 100.0, 1)


def test_pool_arguments_are_checked():
    with pytest.raises(TypeError, match="not both"):
        EnvPool("EI1", factory=make_factory("EI1"))
    with pytest.raises(ValueError, match="workers must be"):
        EnvPool("EI1", workers=0)
    with pytest.raises(ValueError, match="needs an MPI communicator"):
        EnvPool("EI1", workers=1, ranks_per_env=2)
    with EnvPool("EI1", workers=1, backend=BACKEND, record=("spikes",)) as pool:
        with pytest.raises(TypeError, match="stimuli or seeds"):
            pool.run(10.0)
        with pytest.raises(ValueError, match="one seed per stimulus"):
            pool.run(10.0, stimuli=[None, None], seeds=[1])


_MPI_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = {paths!r}
    import numpy as np
    from mpi4py import MPI
    from livn.distributed import EnvPool

    backend, ranks_per_env = sys.argv[1], int(sys.argv[2])
    if backend == "group":
        from groupbackend import Env as backend  # a class: pickled by reference, imported on every rank
    pool = EnvPool("EI1", comm=MPI.COMM_WORLD, ranks_per_env=ranks_per_env, backend=backend, record=("spikes",))
    if pool.is_controller:
        runs = pool.run(100.0, seeds={seeds!r})
        workers = pool.workers
        pool.close()
        out = [sorted(zip(r.spikes.ids.tolist(), np.round(r.spikes.times, 9).tolist())) for r in runs]
        with open("result.json", "w") as handle:
            json.dump({{"workers": workers, "runs": out}}, handle)
    open(f"done.{{MPI.COMM_WORLD.Get_rank()}}", "w").close()
    """
)

# A backend whose env spans a communicator: every rank of it simulates the whole culture with the
# reference's numbers, takes part in a collective each run and reports the spikes of its share of
# the cells (gid % size), so a group's gathered run is the serial one.
_GROUP_BACKEND = textwrap.dedent(
    """
    from livn.run import Events
    from livn_reference.env import Env as Reference

    class Env(Reference):
        backend_name = "reference-group"
        mpi = True

        def _run(self, duration, stimulus, dt):
            out = super()._run(duration, stimulus, dt)
            if self.comm is None:
                return out
            assert self.comm.allreduce(1) == self.comm.Get_size()  # the group steps together
            mine = out["spikes"].ids % self.comm.Get_size() == self.comm.Get_rank()  # each rank reports its cells
            return {**out, "spikes": Events(out["spikes"].ids[mine], out["spikes"].times[mine])}
    """
)


def _pool_job(tmp_path, backend: str, ranks: int, ranks_per_env: int) -> dict:
    mpiexec = require_mpiexec()
    (tmp_path / "groupbackend.py").write_text(_GROUP_BACKEND)
    tests = str(__import__("pathlib").Path(__file__).resolve().parent)
    script = tmp_path / "pool.py"
    script.write_text(_MPI_SCRIPT.format(paths=[tests, str(tmp_path)], seeds=SEEDS))
    result, _ = run_job([mpiexec, "-n", str(ranks), sys.executable, str(script), backend, str(ranks_per_env)], tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.glob("done.*")) == [f"done.{r}" for r in range(ranks)], "every rank leaves the pool"
    return json.loads((tmp_path / "result.json").read_text())


def test_mpi_pool_one_rank_per_env_makes_the_serial_runs(tmp_path):
    result = _pool_job(tmp_path, BACKEND, 3, 1)
    assert result["workers"] == 2
    expected = [spikes(run) for run in serial_runs()]
    assert [[tuple(s) for s in run] for run in result["runs"]] == expected


def test_mpi_pool_groups_of_ranks_make_the_serial_runs(tmp_path):
    result = _pool_job(tmp_path, "group", 5, 2)
    assert result["workers"] == 2
    expected = [spikes(run) for run in serial_runs()]
    assert [[tuple(s) for s in run] for run in result["runs"]] == expected
