"""Benchmark: :class:`livn.distributed.EnvPool` with 2 workers against 1, evaluating distinct stimuli.

Run: ``python benchmarks/bench_pool.py [--system EI2] [--backend B] [--stimuli 16] [--duration 500]
[--repeats 5]`` (default backend: ``LIVN_BACKEND``, else brian2). Prints, on this machine and in one run:

- start-up of each pool: from the constructor until every worker has answered its first call
  (spawning, imports, the env build), and, inside that, the first call's own time on the worker
  (code generation and compilation, caches). Both pools (1 and 2 workers) stay open for the rest;
- steady state: ``pool.map`` of one evaluation per stimulus (``env.clear(seed)``, one
  ``--duration`` ms run under a biphasic pulse train whose per-electrode amplitudes differ from
  stimulus to stimulus, decoded into the mean rate per electrode; only the amplitudes travel to the
  worker and only the rates come back), on the 1-worker and the 2-worker pool alternately,
  ``--repeats`` times; wall time per batch, the median's speedup, and how the wall time splits into
  time on the workers' envs (wall and CPU seconds, summed over the workers) and the pool's own
  (dispatch, pickling, waiting: the wall time beyond the envs' time per worker);
- the 2-worker rates are checked equal to the 1-worker ones (same seeds, same culture);
- the Gymnasium vector env on the same pools: ``--steps`` steps of :class:`livn.gym.LivnVectorEnv`
  (one sub-environment per worker, ``--step-duration`` ms of culture per step, random amplitudes),
  in sub-environment steps per second, 1 and 2 workers alternating ``--repeats`` times; short steps
  weigh the pool's per-call cost more than the batch above;
- the machine's own 2-process scaling at the same moments (a plain CPU loop run as 1 and 2
  processes), the ceiling for any 2-worker speedup on a shared machine, and the load average.

Goal (issue 17): steady 2-worker speedup >= 1.8x on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np
from bench_dataset import machine_scaling  # the same ceiling measure (run from the repo root)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages and the CPU count, as text."""
    return f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"


def evaluate(env: Any, amplitudes: np.ndarray, seed: int, duration: float) -> tuple[np.ndarray, float, float]:
    """On a worker: one stimulus from ``clear(seed)``; (rate per electrode in Hz, wall s, CPU s)."""
    from livn.decoding import MeanFiringRate
    from livn.encoding import BiphasicAmplitudes, pulse_train

    start, cpu = time.perf_counter(), time.process_time()
    encoding = BiphasicAmplitudes(max_amplitude=60.0, pulse_times=pulse_train(20.0, duration - 1.0))
    env.clear(seed=seed)
    rates = env(MeanFiringRate(duration, by="channel"), amplitudes, encoding)
    return np.asarray(rates), time.perf_counter() - start, time.process_time() - cpu


def stimuli(count: int, channels: int) -> list[np.ndarray]:
    """``count`` distinct amplitude vectors: 1 to 4 electrodes at 10-60 uA each, the rest silent."""
    rng = np.random.default_rng(17)
    out = []
    for _ in range(count):
        amplitudes = np.zeros(channels)
        active = rng.choice(channels, size=rng.integers(1, 5), replace=False)
        amplitudes[active] = rng.uniform(10.0, 60.0, size=active.size)
        out.append(amplitudes)
    return out


def start_pool(args: argparse.Namespace, workers: int, probe: np.ndarray) -> tuple[Any, float, float]:
    """A pool and its start-up: (pool, s until every worker answered its first call, median first-call s)."""
    from livn.distributed import EnvPool

    kwargs = {"backend": args.backend} if args.backend else {}
    start = time.perf_counter()
    pool = EnvPool(args.system, workers=workers, seed=1, record=("spikes",), **kwargs)
    firsts = [pool.submit_to(i, evaluate, probe, 0, args.duration) for i in range(workers)]
    first = float(np.median([future.result()[1] for future in firsts]))
    return pool, time.perf_counter() - start, first


def batch(pool: Any, amplitudes: list[np.ndarray], duration: float) -> tuple[float, list[np.ndarray], float, float]:
    """One steady batch: (wall s, rates per stimulus, summed worker s, summed worker CPU s)."""
    start = time.perf_counter()
    results = pool.map(evaluate, amplitudes, range(len(amplitudes)), [duration] * len(amplitudes))
    wall = time.perf_counter() - start
    return wall, [r[0] for r in results], sum(r[1] for r in results), sum(r[2] for r in results)


def vector_rate(pool: Any, args: argparse.Namespace) -> float:
    """Sub-environment steps per second of a :class:`LivnVectorEnv` on ``pool`` (after one warm-up step)."""
    from livn.decoding import MeanFiringRate
    from livn.encoding import BiphasicAmplitudes, pulse_train
    from livn.gym import LivnVectorEnv, TargetRate

    encoding = BiphasicAmplitudes(max_amplitude=60.0, pulse_times=pulse_train(20.0, args.step_duration - 1.0))
    decoding = MeanFiringRate(args.step_duration, by="channel")
    vector = LivnVectorEnv(pool, encoding, decoding, TargetRate(0, 20.0), max_steps=args.steps + 1, reseed_culture=True)
    vector.reset(seed=0)
    vector.action_space.seed(0)
    plan = [vector.action_space.sample() * 0.5 for _ in range(args.steps + 1)]
    vector.step(plan[0])
    start = time.perf_counter()
    for action in plan[1:]:
        vector.step(action)
    wall = time.perf_counter() - start
    vector.close()
    return args.steps * vector.num_envs / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", default="EI2")
    parser.add_argument("--backend", default=None, help="default: LIVN_BACKEND, else brian2")
    parser.add_argument("--stimuli", type=int, default=16)
    parser.add_argument("--duration", type=float, default=500.0, help="ms per stimulus")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40, help="vector env steps per repeat")
    parser.add_argument("--step-duration", type=float, default=50.0, help="ms of culture per vector env step")
    args = parser.parse_args()
    if args.stimuli < 2 or args.repeats < 1 or args.steps < 1 or not (args.duration > 0 and args.step_duration > 1):
        parser.error("--stimuli needs >= 2, --repeats and --steps >= 1, --duration > 0 and --step-duration > 1")
    import livn

    print(f"before: {load_average()}")
    probe_env = livn.make(args.system, **({"backend": args.backend} if args.backend else {}))
    channels, backend, cells = probe_env.io.num_channels, probe_env.backend_name, probe_env.system.num_neurons
    probe_env.close()
    amplitudes = stimuli(args.stimuli, channels)
    print(
        f"{args.system} on {backend} ({cells} cells, {channels} electrodes): {args.stimuli} distinct biphasic "
        f"stimuli of {args.duration:g} ms, mean rate per electrode decoded on the worker"
    )
    pools = {}
    for workers in (1, 2):
        pool, startup, first = start_pool(args, workers, amplitudes[0])
        pools[workers] = pool
        print(
            f"  start-up, {workers} worker(s): {startup:5.2f} s until every worker answered its first call "
            f"(of which that call on the worker: {first:.2f} s, median); {load_average()}"
        )
    walls: dict[int, list[float]] = {1: [], 2: []}
    cpus: dict[int, list[float]] = {1: [], 2: []}
    rates: dict[int, list[np.ndarray]] = {}
    ceilings = []
    print(f"steady state ({args.repeats} repeats, 1 and 2 workers alternating):")
    print(f"  {'repeat':>6} {'workers':>7} {'wall s':>7} {'per stimulus ms':>15} {'on envs s':>9} {'CPU s':>6} {'CPU':>5}  pool's own")
    for repeat in range(args.repeats):
        ceilings.append(machine_scaling())
        for workers, pool in pools.items():
            wall, out, busy, cpu = batch(pool, amplitudes, args.duration)
            walls[workers].append(wall)
            cpus[workers].append(cpu)
            rates[workers] = out
            own = wall - busy / workers  # beyond the workers' envs, per worker
            print(
                f"  {repeat + 1:>6} {workers:>7} {wall:7.2f} {wall / args.stimuli * 1000:15.0f} {busy:9.2f} "
                f"{cpu:6.2f} {cpu / busy:5.0%}  {own:+.2f} s"
            )
        print(f"         a plain CPU loop runs {ceilings[-1]:.2f}x as fast as 2 processes as 1; {load_average()}")
    vector: dict[int, list[float]] = {1: [], 2: []}
    print(f"vector env ({args.steps} steps of {args.step_duration:g} ms per repeat, sub-environment steps per second):")
    for repeat in range(args.repeats):
        for workers, pool in pools.items():
            vector[workers].append(vector_rate(pool, args))
        print(f"  {repeat + 1:>6}  1 worker {vector[1][-1]:6.1f}/s, 2 workers {vector[2][-1]:6.1f}/s; {load_average()}")
    print(f"  vector env speedup with 2 workers: {np.median(vector[2]) / np.median(vector[1]):.2f}x on the medians")
    for pool in pools.values():
        pool.close()
    same = all(np.array_equal(a, b) for a, b in zip(rates[1], rates[2], strict=True))
    print(f"  the 2-worker rates equal the 1-worker ones: {same}; mean rate {np.mean(rates[1]):.2f} Hz per electrode")
    speedups = [one / two for one, two in zip(walls[1], walls[2], strict=True)]
    print(
        f"  steady speedup with 2 workers: {np.median(walls[1]) / np.median(walls[2]):.2f}x on the median walls "
        f"({np.median(walls[1]):.2f} s vs {np.median(walls[2]):.2f} s; per repeat: "
        f"{', '.join(f'{s:.2f}x' for s in speedups)})  (goal >= 1.8x)"
    )
    print(f"  the machine's own 2-process scaling meanwhile: {np.median(ceilings):.2f}x (median)")
    print(
        f"  CPU seconds the workers' envs spent on a batch: {np.median(cpus[1]):.2f} s with 1 worker, "
        f"{np.median(cpus[2]):.2f} s with 2 (medians; equal: two workers add no work, only wait for cores)"
    )
    print(f"after: {load_average()}")
    if not same:
        sys.exit("the 2-worker pool computed other rates than the 1-worker one")


if __name__ == "__main__":
    main()
