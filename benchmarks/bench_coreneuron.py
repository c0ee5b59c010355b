"""Benchmark of the neuron backend on NEURON against CoreNEURON (``coreneuron=True``), on 1 and N threads.

Prints, each measurement in a fresh process: the cold compile time of the mechanisms
(``nrnivmodl`` and ``nrnivmodl -coreneuron``, in a temporary directory), then per system, engine
and thread count (``--threads``, default 1 and 2: ``threads=N``, one process) the build time
(``make``), the wall time of a first 0.1 ms run (initialisation: NetCon delays,
``finitialize``; on CoreNEURON also the first transfer), then of one run of
``--duration`` ms and its real-time factor (wall time / simulated time), then of another 0.1 ms run
(CoreNEURON's fixed cost per ``psolve``: the model goes to CoreNEURON and back, which every
stimulus change point pays), the peak memory,
the spike count and whether the spike trains of the two engines are identical. The machine may be
shared: the load average is printed beside every row. Run from the repository root::

    python benchmarks/bench_coreneuron.py [--systems EI3 EI5] [--duration 1000] [--large-duration 100]
                                          [--threads 1 2] [--dt 0.025]

Default systems: EI3, and EI5 if livn defines it (else EI4); ``--large-duration`` applies to those
after EI3 (a 100,000-cell culture needs far longer per simulated ms).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ENGINES = ("neuron", "coreneuron")


def measure(system: str, engine: str, threads: int, duration: float, dt: float, out: str) -> None:
    """One process: build ``system``, run it on ``engine`` and ``threads``, save spikes and timings to ``out``."""
    from livn import make

    t0 = time.perf_counter()
    env = make(system, backend="neuron", seed=1, record=("spikes",), coreneuron=engine == "coreneuron",
               threads=threads)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    env.run(0.1, dt=dt)  # the first run initialises (delays, finitialize; CoreNEURON: library, transfer)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    run = env.run(duration, dt=dt)
    elapsed = time.perf_counter() - t0
    t0 = time.perf_counter()
    env.run(0.1, dt=dt)
    short = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MiB (Linux: KiB)
    np.savez(out, ids=np.asarray(run.spikes.ids), times=np.asarray(run.spikes.times), build=build,
             first=first, run=elapsed, short=short, rss=rss, cells=env.system.num_neurons)


def compile_time(engine: str) -> float:
    """Seconds of a cold ``nrnivmodl`` (``-coreneuron`` for CoreNEURON) of the shipped mechanisms."""
    from livn_neuron import build, coreneuron

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "mechanisms"
        t0 = time.perf_counter()
        (coreneuron._build if engine == "coreneuron" else build._build)(target)
        return time.perf_counter() - t0


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f}/{five:.1f}/{fifteen:.1f}"


def _identical(a: np.lib.npyio.NpzFile, b: np.lib.npyio.NpzFile) -> bool:
    return bool(np.array_equal(a["ids"], b["ids"]) and np.array_equal(a["times"], b["times"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", help="default: EI3 and EI5 (EI4 if there is no EI5)")
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated ms for the first system")
    parser.add_argument("--large-duration", type=float, default=100.0, help="simulated ms for the others")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (threads=N)")
    parser.add_argument("--dt", type=float, default=0.025, help="integration step, ms")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--worker", nargs=6, metavar=("SYSTEM", "ENGINE", "THREADS", "MS", "DT", "OUT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--compile-worker", metavar="ENGINE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")
    if args.worker:
        system, engine, threads, ms, dt, out = args.worker
        measure(system, engine, int(threads), float(ms), float(dt), out)
        return
    if args.compile_worker:
        print(f"{compile_time(args.compile_worker):.2f}")
        return

    from livn.system import predefined_names

    systems = args.systems or ["EI3", "EI5" if "EI5" in predefined_names() else "EI4"]
    import neuron

    print(f"NEURON {neuron.__version__}, {os.cpu_count()} cores, load average (1/5/15 min) {_load()} at start")
    if not args.skip_compile:
        for engine in ENGINES:
            flag = "nrnivmodl -coreneuron" if engine == "coreneuron" else "nrnivmodl"
            result = subprocess.run([sys.executable, __file__, "--compile-worker", engine], check=True,
                                    capture_output=True, text=True)
            print(f"  cold compile, {flag:22s} {float(result.stdout.split()[-1]):7.2f} s   (load {_load()})")
    print(f"dt {args.dt:g} ms")
    print(f"{'system':7s} {'ms':>6s} {'engine':10s} {'threads':>7s} {'build s':>8s} {'first s':>8s} {'run s':>8s} {'RTF':>8s} "
          f"{'0.1ms s':>8s} {'peak MiB':>9s} {'spikes':>8s}  load")
    with tempfile.TemporaryDirectory() as tmp:
        for k, system in enumerate(systems):
            duration = args.duration if k == 0 else args.large_duration
            results = {}
            for threads in args.threads:
                for engine in ENGINES:
                    out = str(Path(tmp) / f"{system}-{engine}-{threads}.npz")
                    subprocess.run([sys.executable, __file__, "--worker", system, engine, str(threads), str(duration),
                                    str(args.dt), out], check=True)
                    r = results[engine, threads] = np.load(out)
                    rtf = float(r["run"]) / (duration / 1000.0)
                    print(f"{system:7s} {duration:6g} {engine:10s} {threads:7d} {float(r['build']):8.2f} "
                          f"{float(r['first']):8.2f} {float(r['run']):8.2f} {rtf:8.2f} {float(r['short']):8.3f} "
                          f"{float(r['rss']):9.0f} {len(r['ids']):8d}  {_load()}")
            reference = results["neuron", args.threads[0]]
            for (engine, threads), r in results.items():
                print(f"{'':7s} {engine} on {threads} thread(s): spikes identical to neuron on {args.threads[0]}: "
                      f"{_identical(reference, r)}; run speedup {float(reference['run']) / float(r['run']):.2f} x")


if __name__ == "__main__":
    main()
