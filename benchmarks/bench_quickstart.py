"""The cost of make()'s default recording: the quick start against the same run recording spikes only.

    python benchmarks/bench_quickstart.py                       # EI4, brian2, 1000 ms, best of 3
    python benchmarks/bench_quickstart.py --system EI3 --backend neuron --duration 200
    python benchmarks/bench_quickstart.py --all-cells           # also every cell's voltage (2.5 GB on EI4)

Each configuration runs in a fresh process (``make(system)`` then ``env.run(duration)``),
alternating spikes-only / default (/ every cell's voltage) ``--repeats`` times. Prints per configuration the best run time,
the process's own peak memory (``VmHWM``), the voltage array's shape and size, and the ratios
default / spikes-only. Goals for the quick start (EI4 on brian2): time ratio <= 1.25, peak memory
<= 600 MB. What the default records: ``livn.factory.DEFAULT_VOLTAGE_CELLS``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from peak_memory import peak_rss_mb  # benchmarks/ (run from the repo root)

RECORD = {"spikes": ("spikes",), "default": None, "all": ("spikes", "voltage")}
LABELS = {"spikes": "spikes only", "default": "default recording", "all": "every cell's voltage"}


def child(system: str, backend: str, duration: float, record: str) -> dict:
    from livn import make

    env = make(system, backend=backend, record=RECORD[record])
    start = time.perf_counter()
    it, t, iv, v, *_ = env.run(duration)
    wall = time.perf_counter() - start
    shape = None if v is None else list(v.shape)
    size = 0 if v is None else v.nbytes / 1024**2
    return {"run_s": wall, "peak_mb": peak_rss_mb(), "spikes": len(it), "voltage": shape, "voltage_mb": size}


def run_child(args: argparse.Namespace, record: str) -> dict:
    command = [sys.executable, __file__, "--child", record,
               "--system", args.system, "--backend", args.backend, "--duration", str(args.duration)]
    out = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child {command} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", default="EI4")
    parser.add_argument("--backend", default="brian2")
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--all-cells", action="store_true", help="also record every cell's voltage")
    parser.add_argument("--child", choices=tuple(RECORD), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.system, args.backend, args.duration, args.child)))
        return
    configurations = ("spikes", "default", "all") if args.all_cells else ("spikes", "default")
    runs: dict[str, list[dict]] = {record: [] for record in configurations}
    for _ in range(args.repeats):
        for record in configurations:
            runs[record].append(run_child(args, record))
    print(f"== quick start: make({args.system!r}, backend={args.backend!r}).run({args.duration:g}), "
          f"fresh process each, best of {args.repeats}; load {os.getloadavg()[0]:.2f}")
    best = {}
    for record in configurations:
        best[record] = min(r["run_s"] for r in runs[record])
        peak = max(r["peak_mb"] for r in runs[record])
        last = runs[record][-1]
        times = ", ".join(f"{r['run_s']:.2f}" for r in runs[record])
        print(f"  {LABELS[record]:20s} run {best[record]:7.2f} s (runs: {times})  peak {peak:6.0f} MB  "
              f"voltage {last['voltage']} {last['voltage_mb']:.0f} MB  spikes {last['spikes']}")
    for record in configurations[1:]:
        print(f"  time ratio {LABELS[record]} / spikes only {best[record] / best['spikes']:.3f}")
    print("  (goal for the default recording: <= 1.25)")
    print(f"  peak memory of the default recording {max(r['peak_mb'] for r in runs['default']):.0f} MB   (goal <= 600)")


if __name__ == "__main__":
    main()
