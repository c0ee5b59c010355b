"""Benchmark of the NEURON backend: a culture (EI3, or ``--system EI5``) on 1 and 2 MPI ranks, and EI4 cell creation.

Prints: the build time, peak memory per rank (``VmHWM`` of each rank's own process, after the
build and at the end; the largest over the ranks), run time for ``--duration`` ms (default 1000)
and real-time factor on 1 rank and on 2 ranks,
the speedup, whether the spikes are identical, the throughput of two independent 1-rank runs at
once against one alone (how much the machine gives two busy processes at the moment: other load
on a 2-core machine caps any 2-rank speedup), and the time to create EI4's 10,000 cells (cells
alone, and the whole network build). Run from the repository root in the neuron venv::

    python benchmarks/bench_neuron.py [--duration 1000] [--skip-ei4] [--system EI5] [--no-pair]

On 2 ranks each rank reads only the connections onto its own cells (partitioned loading).

The 2-rank run uses ``mpiexec`` beside the running Python (``pip install mpich mpi4py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from peak_memory import peak_rss_mb  # benchmarks/ (run from the repo root)


def run_network(
    system: str, duration: float, out: str | None, barrier: tuple[str, int] | None = None
) -> dict[str, float]:
    """Build and run ``system`` on this process's ranks; rank 0 saves spikes and timings to ``out``.

    ``barrier`` ``(folder, peers)``: after the build, wait until ``peers`` processes have built, so
    that independent processes run their simulations at the same time.
    """
    from livn import make

    t0 = time.perf_counter()
    env = make(system, backend="neuron", seed=1, record=("spikes",))
    comm = env.comm
    if comm is not None:
        comm.Barrier()
    build = time.perf_counter() - t0
    built_memory = peak_rss_mb()
    if barrier:
        _wait_for_peers(*barrier)
    t0 = time.perf_counter()
    run = env.run(duration)
    if comm is not None:
        comm.Barrier()
    elapsed = time.perf_counter() - t0
    # NEURON's own split of the run: integration (step) and waiting for the spike exchange
    step, wait = float(env.pc.step_time()), float(env.pc.wait_time())
    size = 1
    if comm is not None:
        size = comm.Get_size()
        build = comm.allreduce(build, op=_mpi_max())
        elapsed = comm.allreduce(elapsed, op=_mpi_max())
        step = comm.allreduce(step, op=_mpi_max())
        wait = comm.allreduce(wait, op=_mpi_max())
    memory = peak_rss_mb()
    if comm is not None:
        built_memory = comm.allreduce(built_memory, op=_mpi_max())
        memory = comm.allreduce(memory, op=_mpi_max())
        run = run.gather(comm)
        if comm.Get_rank() != 0:
            return {}
    ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
    if out:
        np.savez(out, ids=ids, times=times, build=build, run=elapsed, size=size, step=step, wait=wait,
                 built_memory=built_memory, memory=memory, cells=env.system.num_neurons)
    return {"build": build, "run": elapsed, "spikes": float(len(ids)), "size": float(size)}


def _wait_for_peers(folder: str, peers: int) -> None:
    """A file barrier between independent processes: each marks itself ready, then waits for all."""
    Path(folder, f"ready-{os.getpid()}").touch()
    while len(list(Path(folder).glob("ready-*"))) < peers:
        time.sleep(0.01)


def _mpi_max():
    from mpi4py import MPI

    return MPI.MAX


def cell_creation(count: int) -> float:
    """Seconds to create ``count`` BRK cells (sections, channels, parameters), nothing else."""
    from livn.models.rcsd import BRK, CONSTANTS
    from livn_neuron.build import load_mechanisms
    from livn_neuron.models.rcsd import build_brk
    from livn_neuron.nrn import import_neuron

    h = import_neuron(use_mpi=False)
    load_mechanisms(h)
    t0 = time.perf_counter()
    built = [build_brk(h, gid, BRK, CONSTANTS) for gid in range(count)]
    elapsed = time.perf_counter() - t0
    del built
    return elapsed


def spikes_equal(a: np.lib.npyio.NpzFile, b: np.lib.npyio.NpzFile) -> bool:
    """Same (gid, time) pairs, times to 1e-9 ms."""
    if len(a["ids"]) != len(b["ids"]):
        return False
    oa, ob = np.lexsort((a["ids"], a["times"])), np.lexsort((b["ids"], b["times"]))
    return bool(
        np.array_equal(a["ids"][oa], b["ids"][ob]) and np.allclose(a["times"][oa], b["times"][ob], rtol=0, atol=1e-9)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated ms for EI3")
    parser.add_argument("--system", default="EI3")
    parser.add_argument("--skip-ei4", action="store_true")
    parser.add_argument("--no-pair", action="store_true", help="skip the two concurrent 1-rank runs")
    parser.add_argument("--worker", metavar="OUT", help=argparse.SUPPRESS)
    parser.add_argument("--barrier", nargs=2, metavar=("FOLDER", "PEERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")
    if args.worker:
        barrier = (args.barrier[0], int(args.barrier[1])) if args.barrier else None
        run_network(args.system, args.duration, args.worker, barrier)
        return

    def worker(out: str) -> list[str]:
        return [sys.executable, __file__, "--system", args.system, "--duration", str(args.duration), "--worker", out]

    with tempfile.TemporaryDirectory() as tmp:
        outs = {}
        for ranks in (1, 2):
            out = str(Path(tmp) / f"r{ranks}.npz")
            command = worker(out)
            if ranks > 1:
                mpiexec = Path(sys.executable).parent / "mpiexec"
                mpiexec = str(mpiexec) if mpiexec.exists() else shutil.which("mpiexec")
                if mpiexec is None:
                    print("mpiexec not found: pip install mpich mpi4py")
                    break
                command = [mpiexec, "-n", str(ranks), *command]
            subprocess.run(command, check=True)
            outs[ranks] = np.load(out)
        # how much the machine gives two busy processes: two independent 1-rank runs of the whole
        # network at the same time (no spike exchange; each with all the data, where a rank of a
        # 2-rank run holds half, so this is a guide to the machine's state, not a strict bound)
        concurrent = None
        if not args.no_pair:
            ready = Path(tmp) / "barrier"
            ready.mkdir()
            pair = [str(Path(tmp) / f"pair{k}.npz") for k in range(2)]
            jobs = [subprocess.Popen([*worker(out), "--barrier", str(ready), "2"]) for out in pair]
            if any(job.wait() != 0 for job in jobs):
                raise RuntimeError("a concurrent 1-rank run failed")
            concurrent = max(float(np.load(out)["run"]) for out in pair)
        one = outs[1]
        n_cells = int(one["cells"])
        seconds = args.duration / 1000.0
        print(
            f"{args.system} ({n_cells} cells), {args.duration:g} ms simulated, dt 0.025 ms; "
            f"machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(f"  build (make, 1 rank):   {float(one['build']):8.2f} s")
        print(
            f"  peak memory, 1 rank:    {float(one['built_memory']):8.0f} MiB after the build, "
            f"{float(one['memory']):.0f} MiB at the end"
        )
        print(
            f"  run, 1 rank:            {float(one['run']):8.2f} s (integration {float(one['step']):.2f} s), "
            f"real-time factor {float(one['run']) / seconds:.1f}"
        )
        rate = len(one["ids"]) / n_cells / seconds
        print(f"  spikes: {len(one['ids'])} ({rate:.2f} Hz per cell)")
        if 2 in outs:
            two = outs[2]
            print(f"  build (make, 2 ranks):  {float(two['build']):8.2f} s")
            print(
                f"  peak memory per rank, 2 ranks: {float(two['built_memory']):8.0f} MiB after the build, "
                f"{float(two['memory']):.0f} MiB at the end (the larger rank)"
            )
            print(
                f"  run, 2 ranks:           {float(two['run']):8.2f} s (integration {float(two['step']):.2f} s, "
                f"waiting for spike exchange {float(two['wait']):.2f} s, slowest rank), "
                f"real-time factor {float(two['run']) / seconds:.1f}"
            )
            print(f"  speedup (run wall):     {float(one['run']) / float(two['run']):8.2f} x")
            print(f"  speedup (integration):  {float(one['step']) / float(two['step']):8.2f} x")
            print(f"  spikes identical on 1 and 2 ranks: {spikes_equal(one, two)}")
        if concurrent is not None:
            both = 2.0 * float(one["run"]) / concurrent
            print(
                f"  two independent 1-rank runs at once: {concurrent:.2f} s each (slowest), {both:.2f} x the "
                f"throughput of one: what this machine gives two busy processes now"
            )

    if not args.skip_ei4:
        created = cell_creation(8000)
        print(f"EI4 cell creation: 8000 BRK cells in {created:.2f} s ({created / 8000 * 1e3:.3f} ms per cell)")
        from livn import make

        t0 = time.perf_counter()
        env = make("EI4", backend="neuron", record=("spikes",))
        print(
            f"EI4 full build (10,000 cells, synapses, {sum(p.num_connections for p in env.system.projections.values())} "
            f"connections): {time.perf_counter() - t0:.2f} s"
        )
        env.close()


if __name__ == "__main__":
    main()
