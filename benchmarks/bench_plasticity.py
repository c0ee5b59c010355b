"""Benchmark: the cost of plasticity, EI3 with STDP on every excitatory synapse against EI3 without.

Run: ``python benchmarks/bench_plasticity.py [--backends brian2 diffrax neuron] [--duration 1000]
[--system EI3] [--repeats 2]``. For each backend, one env runs its default model (Izhikevich on
brian2 and diffrax, RCSD on NEURON) for ``--duration`` ms after a warm-up run (code generation,
jit and mechanism loading are not timed), ``--repeats`` times from ``clear()``, without plasticity;
then the same env with ``STDP()`` on every AMPA and NMDA synapse class, timed the same way. It prints
the best wall time of each, the real-time factor (simulated over wall time) and the ratio (the
goal: at most 2x slower on brian2 and NEURON). Other processes share this machine's cores: the
load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import time

import livn
from livn.plasticity import STDP


def timed(env: livn.Env, duration: float, repeats: int) -> float:
    """Best wall time (s) of ``repeats`` runs of ``duration`` ms, each from clear()."""
    best = float("inf")
    for _ in range(repeats):
        env.clear()
        start = time.perf_counter()
        env.run(duration)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["brian2", "diffrax", "neuron"])
    parser.add_argument("--system", default="EI3")
    parser.add_argument("--duration", type=float, default=1000.0, help="ms per timed run")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"{args.system}, {args.duration:g} ms per run, best of {args.repeats}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'backend':<9} {'model':<11} {'synapses':>9} {'static (s)':>11} {'RTF':>7} {'STDP (s)':>9} {'RTF':>7} {'ratio':>6}")
    for backend in args.backends:
        env = livn.make(args.system, backend=backend, record=("spikes",))
        env.run(min(args.duration, 100.0))  # compile and warm up
        static = timed(env, args.duration, args.repeats)
        excitatory = [c for c in env.network.classes if c.receptor in ("AMPA", "NMDA")]
        env.enable_plasticity({c.weight_name: STDP() for c in excitatory})
        env.clear()
        env.run(min(args.duration, 100.0))  # the plastic code's compile and warm-up
        plastic = timed(env, args.duration, args.repeats)
        synapses = sum(c.rows.stop - c.rows.start for c in excitatory)
        seconds = args.duration / 1000.0
        print(f"{backend:<9} {env.model.name:<11} {synapses:>9} {static:>11.2f} {seconds / static:>7.3f} "
              f"{plastic:>9.2f} {seconds / plastic:>7.3f} {plastic / static:>6.2f}", flush=True)
        env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
