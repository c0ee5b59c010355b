"""Benchmark: culture generation time and peak memory against size, dense (all pairs) vs grid; truncation study.

Run: ``python benchmarks/bench_generate.py [--sizes 10000 30000 100000 1000000] [--dense-max 30000]
[--ranks 1 2]``. Every culture has EI4's density (625 cells/mm^2: a square of side
``4000 um * sqrt(N / 10,000)``), 80% EXC / 20% INH, Gaussian kernel sigma 200 um and in-degree 100,
the rules of EI1-EI4. Each (size, method, ranks) is generated in a fresh Python process (under
``mpiexec -n R`` for R > 1 ranks, grid only) that reports its wall and CPU time (generation only,
files included) and its peak resident memory, the largest over the ranks: ``ru_maxrss`` (Linux
carries the parent's peak into it at exec, so this script keeps itself small and imports no
livn) and ``VmHWM`` from ``/proc/self/status`` (this process alone), with ``ru_maxrss`` before
generating (the imports) beside. The dense method is run up to ``--dense-max`` cells (it grows
as N^2: 100,000 cells take ~5 minutes). Time per cell shows the scaling: flat is linear.

``--truncation [N]`` instead compares, on one culture of N cells (default 10,000, EI4's size),
the dense draw with the grid draw cut at k = 2, 3, 4, 5 sigma and uncut: the mean and spread of
in- and out-degrees per projection, the distance distribution (mean, 99th percentile, maximum,
two-sample Kolmogorov-Smirnov statistic against the dense draw with its 1% critical value), and
the share of the whole kernel's weight over these positions that lies beyond k sigma (what the
truncation moves inwards) beside the planar formula.

Other processes share this machine's cores: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import peak_rss_mb  # benchmarks/ (run from the repo root)

SIGMA = 200.0
IN_DEGREE = 100.0
SEED = 20251131


def culture(n: int) -> dict:
    """EI-like arguments for ``generate_culture`` with ``n`` cells at EI4's density."""
    exc = n * 4 // 5
    return dict(
        populations={"EXC": exc, "INH": n - exc},
        area=4000.0 * math.sqrt(n / 10_000),
        sigma=SIGMA,
        in_degree=IN_DEGREE,
        seed=SEED,
    )


def load_average() -> str:
    return f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"


# ------------------------------------------------------------------------------- child process


def child(n: int, method: str, directory: str) -> None:
    """Generate one culture; rank 0 prints one JSON line with every rank's figures."""
    from livn.system import generate_culture

    comm = None
    if method == "grid-mpi":
        from mpi4py import MPI

        comm, method = MPI.COMM_WORLD, "grid"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kwargs = culture(n)
    populations = kwargs.pop("populations")
    if comm is not None:
        comm.Barrier()
    start = time.perf_counter()
    cpu = time.process_time()
    generate_culture(directory, populations, method=method, comm=comm, **kwargs)
    row = {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "rss_before_mib": before,
        "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "hwm_mib": peak_rss_mb(),
    }
    rows = [row] if comm is None else comm.gather(row, root=0)
    if comm is None or comm.Get_rank() == 0:
        from livn.system import System

        system = System(directory)
        edges = sum(p.num_connections for p in system.projections.values())
        size = sum(f.stat().st_size for f in Path(directory).iterdir())
        print(json.dumps({"ranks": rows, "edges": edges, "mib_on_disk": size / 1024**2}), flush=True)


def measure(n: int, method: str, ranks: int, scratch: Path) -> dict:
    directory = scratch / f"{method}-{n}-{ranks}"
    command = [sys.executable, __file__, "--child", str(n), method if ranks == 1 else "grid-mpi", str(directory)]
    if ranks > 1:
        mpiexec = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        command = [mpiexec, "-n", str(ranks), *command]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    shutil.rmtree(directory)
    rows = result["ranks"]
    return {
        "seconds": max(r["seconds"] for r in rows),
        "cpu_seconds": max(r["cpu_seconds"] for r in rows),
        "rss_peak_mib": max(r["rss_peak_mib"] for r in rows),
        "hwm_mib": max(r["hwm_mib"] for r in rows),
        "rss_before_mib": max(r["rss_before_mib"] for r in rows),
        "edges": result["edges"],
        "mib_on_disk": result["mib_on_disk"],
    }


def scaling(sizes: list[int], dense_max: int, rank_counts: list[int]) -> None:
    print(f"culture: EI4 density, sigma {SIGMA:g} um, in-degree {IN_DEGREE:g}; {load_average()}")
    print(
        f"{'cells':>9} {'method':>6} {'ranks':>5} {'time s':>8} {'CPU s':>8} {'us/cell':>8} "
        f"{'maxrss MiB':>10} {'VmHWM MiB':>9} {'(imports)':>9} {'edges':>11} {'disk MiB':>8}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for n in sizes:
            runs = [("dense", 1)] if n <= dense_max else []
            runs += [("grid", r) for r in rank_counts]
            for method, ranks in runs:
                r = measure(n, method, ranks, Path(scratch))
                print(
                    f"{n:>9} {method:>6} {ranks:>5} {r['seconds']:>8.2f} {r['cpu_seconds']:>8.2f} "
                    f"{1e6 * r['seconds'] / n:>8.1f} {r['rss_peak_mib']:>10.0f} {r['hwm_mib']:>9.0f} "
                    f"{r['rss_before_mib']:>9.0f} {r['edges']:>11} {r['mib_on_disk']:>8.1f}",
                    flush=True,
                )
    print(f"done; {load_average()}")


# ------------------------------------------------------------------------------ truncation study


def _ks(a, b) -> float:
    import numpy as np

    a, b = np.sort(a), np.sort(b)
    points = np.concatenate([a, b])
    return float(
        np.max(np.abs(np.searchsorted(a, points, "right") / a.size - np.searchsorted(b, points, "right") / b.size))
    )


def _beyond(xy, radius: float) -> float:
    """Share of the untruncated Gaussian kernel's weight, summed over all distinct pairs, beyond ``radius``."""
    import numpy as np

    total = far = 0.0
    step = max(1, (1 << 22) // xy.shape[0])
    for first in range(0, xy.shape[0], step):
        block = xy[first : first + step]
        d2 = np.square(np.subtract.outer(block[:, 0], xy[:, 0])) + np.square(np.subtract.outer(block[:, 1], xy[:, 1]))
        w = np.exp(-d2 / (2 * SIGMA * SIGMA))
        w[np.arange(block.shape[0]), first + np.arange(block.shape[0])] = 0.0
        total += w.sum()
        far += w[d2 > radius * radius].sum()
    return far / total


def truncation_study(n: int) -> None:
    import numpy as np
    from livn.system import System, generate_culture
    from livn.system._grid import truncation_tail

    kwargs = culture(n)
    populations = kwargs.pop("populations")
    print(f"truncation study: {n} cells, EI4 density, Gaussian sigma {SIGMA:g} um, in-degree {IN_DEGREE:g}")
    print(f"{load_average()}")
    with tempfile.TemporaryDirectory() as scratch:
        runs = {"dense": dict(method="dense")}
        for k in (2.0, 3.0, 4.0, 5.0, math.inf):
            runs[f"grid k={k:g}"] = dict(method="grid", truncation=k)
        systems = {}
        for label, extra in runs.items():
            start = time.perf_counter()
            systems[label] = System(
                generate_culture(Path(scratch) / label.replace(" ", "_"), populations, **kwargs, **extra)
            )
            print(f"  generated {label:<12} in {time.perf_counter() - start:6.2f} s")
        dense = systems["dense"]
        xy = dense.neuron_coordinates[:, 1:3]
        print()
        print(
            "share of the whole kernel's weight (all pairs of these positions) beyond k sigma, vs the planar formula:"
        )
        for k in (2.0, 3.0, 4.0, 5.0):
            print(
                f"  k={k:g}: {_beyond(xy, k * SIGMA):.3e} (edges of the culture included) vs {truncation_tail('gaussian', k):.3e}"
            )
        for key in dense.projections:
            post, pre = key
            print()
            print(f"projection {pre} -> {post}:")
            print(
                f"  {'draw':<12} {'edges':>8} {'in mean':>8} {'in sd':>6} {'dmean':>8} {'out mean':>8} {'out sd':>6} "
                f"{'d mean':>7} {'d p99':>7} {'d max':>7} {'>3s %':>6} {'>4s %':>6} {'KS':>7} {'KS 1%':>7} "
                f"{'-uncut':>7} {'+uncut':>7}"
            )
            reference = dense.projections[key]
            ref_in = dense.in_degrees(post, pre)
            pre_start, pre_count = dense.population_range(pre)
            for label, system in systems.items():
                proj = system.projections[key]
                indeg = system.in_degrees(post, pre)
                outdeg = np.bincount(proj.pre_gids - pre_start, minlength=pre_count)
                d = proj.distances
                se = math.sqrt((indeg.var() + ref_in.var()) / indeg.size)
                ks = _ks(d, reference.distances)
                lost = gained = "-"
                if label.startswith("grid"):  # same uniforms per pair as the uncut grid draw
                    these = proj.post_gids * dense.num_neurons + proj.pre_gids
                    uncut = systems["grid k=inf"].projections[key]
                    those = uncut.post_gids * dense.num_neurons + uncut.pre_gids
                    lost = np.setdiff1d(those, these, assume_unique=True).size
                    gained = np.setdiff1d(these, those, assume_unique=True).size
                critical = 1.63 * math.sqrt((d.size + reference.distances.size) / (d.size * reference.distances.size))
                print(
                    f"  {label:<12} {proj.num_connections:>8} {indeg.mean():>8.3f} {indeg.std():>6.2f} "
                    f"{(indeg.mean() - ref_in.mean()) / se if label != 'dense' else 0.0:>+7.2f}s "
                    f"{outdeg.mean():>8.3f} {outdeg.std():>6.2f} {d.mean():>7.2f} {np.percentile(d, 99):>7.1f} "
                    f"{d.max():>7.1f} {100 * np.mean(d > 3 * SIGMA):>6.3f} {100 * np.mean(d > 4 * SIGMA):>6.3f} "
                    f"{ks:>7.4f} {critical:>7.4f} {lost:>7} {gained:>7}"
                )
        print()
        print("dmean: difference of the mean in-degree from the dense draw in standard errors.")
        print("KS: two-sample Kolmogorov-Smirnov statistic of the distances against the dense draw;")
        print("above the 1% critical value, the two distance distributions differ beyond sampling error.")
        print("-uncut/+uncut: edges of the uncut grid draw missing from / added to this one. The grid draws")
        print("share one uniform per pair, so these count exactly what the truncation (and the amplitude")
        print("it re-solves) changes, free of sampling noise.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 1_000_000])
    parser.add_argument("--dense-max", type=int, default=30_000, help="largest size run with the dense method")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1], help="MPI rank counts for the grid method")
    parser.add_argument("--truncation", type=int, nargs="?", const=10_000, help="run the truncation study instead")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1], args.child[2])
    elif args.truncation:
        truncation_study(args.truncation)
    else:
        scaling(args.sizes, args.dense_max, args.ranks)


if __name__ == "__main__":
    main()
