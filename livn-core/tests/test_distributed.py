"""livn.distributed.EnvPool: the same runs as one process would make, on local processes and on MPI ranks.

The pools run the numpy reference backend (tests/livn_reference); the MPI cases run under ``mpiexec``
(skipped without mpi4py, failing instead under ``LIVN_REQUIRE_MPI=1``), each under a timeout.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time

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


def remember(env: livn.Env, value: int) -> int:
    """A pinned call: leave ``value`` on the worker's env; return the worker's process id."""
    import os

    env.remembered = value
    return os.getpid()


def recall(env: livn.Env) -> tuple[int, int]:
    import os

    return env.remembered, os.getpid()


def test_pinned_calls_reach_their_worker():
    with EnvPool("EI1", workers=2, backend=BACKEND, record=("spikes",)) as pool:
        pids = [pool.submit_to(i, remember, 10 + i).result() for i in range(2)]
        assert pids[0] != pids[1]
        recalls = [pool.submit_to(i, recall) for i in (1, 0, 1, 0)]  # queued before any runs
        assert [future.result() for future in recalls] == [(11, pids[1]), (10, pids[0])] * 2
        assert pool.map(total_spikes, [100.0] * 4, SEEDS) == [len(run.spikes) for run in serial_runs()]
        for bad in (2, -1, 1.0, True):
            with pytest.raises(ValueError, match=r"worker must be an integer in 0\.\.1"):
                pool.submit_to(bad, recall)
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit_to(0, recall)


def pause(env: livn.Env, seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_close_cancels_calls_not_started():
    pool = EnvPool("EI1", workers=1, backend=BACKEND, record=("spikes",))
    futures = [pool.submit(pause, 0.5), pool.submit(total_spikes, 100.0, 1), pool.submit_to(0, recall)]
    while not futures[0].running():  # the worker has taken its first call
        time.sleep(0.01)
    pool.close()
    assert futures[0].result() == 0.5, "the running call finishes"
    assert futures[1].cancelled() and futures[2].cancelled()


def test_workers_leave_when_the_controller_dies(tmp_path):
    """A controller killed without closing its pool (SIGKILL) leaves no worker behind."""
    import os
    import signal
    import subprocess

    (tmp_path / "controller.py").write_text(textwrap.dedent(f"""
        import time
        from livn.distributed import EnvPool
        from worker_pid import pid

        if __name__ == "__main__":  # spawned workers import this file
            pool = EnvPool("EI1", workers=2, backend={BACKEND!r}, record=("spikes",))
            print(pool.submit_to(0, pid).result(), pool.submit_to(1, pid).result(), flush=True)
            time.sleep(600)
    """))
    (tmp_path / "worker_pid.py").write_text("import os\n\n\ndef pid(env):\n    return os.getpid()\n")
    path = os.pathsep.join([str(tmp_path), *sys.path])
    controller = subprocess.Popen([sys.executable, str(tmp_path / "controller.py")], stdout=subprocess.PIPE, text=True,
                                  cwd=tmp_path, env={**os.environ, "PYTHONPATH": path})
    try:
        workers = [int(p) for p in controller.stdout.readline().split()]
        assert len(workers) == 2 and all(os.path.exists(f"/proc/{p}") for p in workers)
    finally:
        controller.send_signal(signal.SIGKILL)
        controller.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers), "a worker outlived its controller"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


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
    import json, os, sys
    sys.path[:0] = {paths!r}
    import numpy as np
    from mpi4py import MPI
    from livn.distributed import EnvPool

    def remember(env, value):
        env.remembered = value
        return MPI.COMM_WORLD.Get_rank()

    def recall(env):
        return env.remembered, MPI.COMM_WORLD.Get_rank()

    backend, ranks_per_env = sys.argv[1], int(sys.argv[2])
    if backend == "group":
        from groupbackend import Env as backend  # a class: pickled by reference, imported on every rank
    pool = EnvPool("EI1", comm=MPI.COMM_WORLD, ranks_per_env=ranks_per_env, backend=backend, record=("spikes",))
    if pool.is_controller:
        runs = pool.run(100.0, seeds={seeds!r})
        workers = pool.workers
        ranks = [pool.submit_to(i, remember, 10 + i).result() for i in range(workers)]
        recalls = [pool.submit_to(i, recall) for i in reversed(range(workers))]
        pinned = [f.result() for f in recalls]
        pool.close()
        out = [sorted(zip(r.spikes.ids.tolist(), np.round(r.spikes.times, 9).tolist())) for r in runs]
        with open("result.json", "w") as handle:
            json.dump({{"workers": workers, "runs": out, "ranks": ranks, "pinned": pinned}}, handle)
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
    assert result["ranks"] == [1, 2], "worker i is the group whose first rank is 1 + i"
    assert result["pinned"] == [[11, 2], [10, 1]], "pinned calls find the state their worker's env kept"
    expected = [spikes(run) for run in serial_runs()]
    assert [[tuple(s) for s in run] for run in result["runs"]] == expected


def test_mpi_pool_groups_of_ranks_make_the_serial_runs(tmp_path):
    result = _pool_job(tmp_path, "group", 5, 2)
    assert result["workers"] == 2
    assert result["ranks"] == [1, 3] and result["pinned"] == [[11, 3], [10, 1]]
    expected = [spikes(run) for run in serial_runs()]
    assert [[tuple(s) for s in run] for run in result["runs"]] == expected
