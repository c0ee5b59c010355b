"""Benchmark: dataset generation throughput with 1 and 2 workers, and per-sample overhead vs bare ``env.run``.

Run: ``python benchmarks/bench_dataset.py [--system EI2] [--backend B] [--samples 4 20] [--duration 500]``
(default backend: ``LIVN_BACKEND``, else brian2 when installed). Prints, on this machine:

- bare: the mean time of ``env.run(duration, stimulus)`` on one env over the same protocols
  (stimulus precomputed), and of the ``env.clear(seed=s)`` every independent sample
  needs first (timed apart: on backends whose clear rebuilds the network it dominates);
- for 1 and 2 workers: ``livn.dataset.generate`` wall time for a small and a large dataset; the
  difference gives the steady per-sample time and throughput without the fixed start-up (imports,
  env builds, worker spawn), which is reported separately. The per-sample time includes drawing
  the protocol, the MEA transform, the run, the per-electrode recording, HDF5 shard writes,
  checksums and the manifest.

Goals (issue 8): steady throughput with 2 workers >= 1.7x that with 1; per-sample overhead < 10%.
The machine's load average is printed too: other processes on a 2-core machine cap the speedup.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def bare_run_seconds(system: str, backend: str | None, samples: int, duration: float) -> tuple[float, float, float, str]:
    """(env build s, mean s per env.run, mean s per env.clear, backend name) over the dataset's protocols."""
    import livn
    from livn.dataset import ProtocolParams, sample_seeds
    from livn.dataset._protocol import draw_pulses, pulse_inputs
    from livn.encoding import to_stimulus

    start = time.perf_counter()
    env = livn.make(system, backend=backend, seed=0, record=("spikes",))
    build = time.perf_counter() - start
    params = ProtocolParams()
    stimuli = []
    for index in range(samples):
        protocol_seed, _ = sample_seeds(0, index)
        pulses = draw_pulses(np.random.default_rng(protocol_seed), env.io.num_channels, duration, params)
        inputs = pulse_inputs(*pulses, env.io.num_channels, duration, params)
        stimuli.append(to_stimulus(env, inputs, params.dt))
    env.run(duration, stimuli[0])  # warm-up (code generation, caches)
    runs, clears = [], []
    for index, stimulus in enumerate(stimuli):
        start = time.perf_counter()
        env.clear(seed=index)
        middle = time.perf_counter()
        env.run(duration, stimulus)
        runs.append(time.perf_counter() - middle)
        clears.append(middle - start)
    name = env.backend_name
    env.close()
    return build, float(np.mean(runs)), float(np.mean(clears)), name


def generate_seconds(system: str, backend: str | None, samples: int, duration: float, workers: int) -> float:
    """Wall seconds of ``livn.dataset.generate`` into a fresh directory."""
    from livn.dataset import generate, verify

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "data"
        start = time.perf_counter()
        generate(system, samples, duration, out, workers=workers, backend=backend, seed=0, shard_size=2,
                 progress=False, comm=None)
        wall = time.perf_counter() - start
        problems = verify(out)
        if problems:
            raise RuntimeError(f"the benchmark dataset does not verify: {problems[:3]}")
    return wall


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", default="EI2")
    parser.add_argument("--backend", default=None)
    parser.add_argument("--samples", type=int, nargs=2, default=(4, 20), metavar=("SMALL", "LARGE"))
    parser.add_argument("--duration", type=float, default=500.0, help="ms per sample")
    args = parser.parse_args()
    small, large = args.samples
    if not 1 <= small < large:
        parser.error("--samples SMALL LARGE needs 1 <= SMALL < LARGE")

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    build, bare, clear, name = bare_run_seconds(args.system, args.backend, large, args.duration)
    print(f"{args.system} on {name}: samples of {args.duration:g} ms; env build {build:.2f} s; "
          f"bare env.run {bare * 1000:.1f} ms per sample; env.clear() {clear * 1000:.1f} ms")
    steady = {}
    for workers in (1, 2):
        walls = [generate_seconds(args.system, args.backend, n, args.duration, workers) for n in (small, large)]
        per_sample = (walls[1] - walls[0]) / (large - small)
        startup = walls[0] - small * per_sample
        steady[workers] = per_sample
        print(f"  {workers} worker(s): {small} samples {walls[0]:6.2f} s, {large} samples {walls[1]:6.2f} s -> "
              f"steady {1 / per_sample:5.2f} samples/s ({per_sample * 1000:6.1f} ms per sample), start-up {startup:5.2f} s, "
              f"overall {large / walls[1]:5.2f} samples/s")
    overhead = steady[1] / bare - 1.0
    print(f"  per-sample overhead vs bare env.run (1 worker): {overhead:+.1%}  (goal < 10%)")
    # every sample starts from a fresh state with its own seed, so env.clear() is part of the floor
    print(f"  per-sample overhead vs bare env.clear() + env.run: {steady[1] / (bare + clear) - 1.0:+.1%}")
    print(f"  steady speedup with 2 workers: {steady[1] / steady[2]:.2f}x  (goal >= 1.7x)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
