"""Benchmark: time and peak memory to generate the largest predefined culture, EI4.

Run: ``python benchmarks/bench_generate.py [EI4]``. Prints wall time, the peak of Python-tracked
allocations (tracemalloc, which sees numpy buffers) and the process's peak resident set size,
against the goal of 2 GiB. Generation goes to a temporary directory; the cache is not touched.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

GOAL_BYTES = 2 * 1024**3


def main(name: str = "EI4") -> None:
    from livn.system import PREDEFINED, System

    definition = PREDEFINED[name]
    with tempfile.TemporaryDirectory() as scratch:
        # First run untraced: wall time and the process's peak RSS.
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        start = time.perf_counter()
        path = definition.generate(Path(scratch) / name)
        elapsed = time.perf_counter() - start
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

        start = time.perf_counter()
        system = System(path)
        synapses = sum(p.num_connections for p in system.projections.values())
        read_time = time.perf_counter() - start
        size = sum(f.stat().st_size for f in path.iterdir())
        del system.projections  # drop the read-back arrays before the traced run

        # Second run traced (tracemalloc slows it down): the peak of allocations, numpy included.
        tracemalloc.start()
        definition.generate(Path(scratch) / f"{name}-traced")
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    gib = 1024**3
    print(
        f"system            {name}: {system.num_neurons} cells, {synapses} synapses, {size / 1024**2:.1f} MiB on disk"
    )
    print(f"generation time   {elapsed:.2f} s")
    print(f"read-back time    {read_time:.2f} s")
    print(f"peak traced       {traced_peak / gib:.3f} GiB (tracemalloc, second generation)")
    print(f"peak RSS          {rss_peak / gib:.3f} GiB (process; {rss_before / gib:.3f} GiB before generation)")
    verdict = "OK" if max(traced_peak, rss_peak) < GOAL_BYTES else "OVER"
    print(f"goal              < {GOAL_BYTES / gib:.0f} GiB: {verdict}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
