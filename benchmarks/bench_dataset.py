"""Benchmark: dataset generation throughput with 1 and 2 workers, and per-sample overhead vs bare ``env.run``.

Run: ``python benchmarks/bench_dataset.py [--system EI2] [--backend B] [--samples 16] [--duration 500]``
(default backend: ``LIVN_BACKEND``, else brian2 when installed). Prints, on this machine:

- bare: the mean time of ``env.run(duration, stimulus)`` on one env over the same protocols
  (stimulus precomputed, ``env.clear()`` untimed) — the floor a dataset sample cannot beat;
- 1 worker: ``livn.dataset.generate`` in-process; its per-sample time excludes one env build
  (measured separately) and includes drawing the protocol, the MEA transform, the run, the
  per-electrode recording, HDF5 shard writes, checksums and the manifest;
- 2 workers: the same dataset on two spawned processes; speedup = 1-worker wall / 2-worker wall.

Goals (issue 8): speedup >= 1.7x with 2 workers; per-sample overhead < 10%.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def bare_run_seconds(system: str, backend: str | None, samples: int, duration: float) -> tuple[float, float, str]:
    """(env build s, mean s per env.run over the dataset's protocols, backend name)."""
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
    times = []
    for stimulus in stimuli:
        env.clear()
        start = time.perf_counter()
        env.run(duration, stimulus)
        times.append(time.perf_counter() - start)
    name = env.backend_name
    env.close()
    return build, float(np.mean(times)), name


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", default="EI2")
    parser.add_argument("--backend", default=None)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--duration", type=float, default=500.0, help="ms per sample")
    args = parser.parse_args()

    build, bare, name = bare_run_seconds(args.system, args.backend, args.samples, args.duration)
    one = generate_seconds(args.system, args.backend, args.samples, args.duration, workers=1)
    two = generate_seconds(args.system, args.backend, args.samples, args.duration, workers=2)
    per_sample = (one - build) / args.samples
    overhead = per_sample / bare - 1.0
    speedup = one / two
    print(f"{args.system} on {name}: {args.samples} samples of {args.duration:g} ms")
    print(f"  env build                  {build:8.2f} s")
    print(f"  bare env.run per sample    {bare * 1000:8.1f} ms")
    print(f"  1 worker: wall {one:6.2f} s  {args.samples / one:6.2f} samples/s  per sample {per_sample * 1000:7.1f} ms "
          f"(excl. one build)  overhead vs bare run {overhead:+.1%}  (goal < 10%)")
    print(f"  2 workers: wall {two:6.2f} s  {args.samples / two:6.2f} samples/s  speedup {speedup:.2f}x  (goal >= 1.7x)")


if __name__ == "__main__":
    main()
