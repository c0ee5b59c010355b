"""Peak memory of a long pulse-train experiment with a streamed stimulus; prints figures (no assertions).

    python benchmarks/bench_stimulus_memory.py                               # brian2, EI3, 10 minutes
    python benchmarks/bench_stimulus_memory.py --backend neuron --durations 2 10
    python benchmarks/bench_stimulus_memory.py --backend diffrax --durations 2 10 --window 500

Each case runs in a fresh process, which reports its own peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after the run:

- ``none``: the run without stimulus (the reference: network, recording of spikes, simulator);
- ``stream``: the same run with a biphasic pulse every ``--interval`` ms on ``--channels``
  electrodes, a :class:`livn.streaming.StimulusStream` made window by window from a
  :class:`livn.streaming.PulseTrain` through the env's electrodes;
- ``dense`` (with ``--dense``, for durations where it fits): the same pulses as one dense stimulus.

Goal: ``stream`` stays within 500 MB of ``none`` at 10 minutes, where the dense stimulus
(``[T, cells, sites]`` float64 at the stimulus dt) would take the printed number of GB. Where a
10-minute run takes too long (NEURON and diffrax run RCSD on EI3 ~30x slower than real time on a
small machine), run two durations: the extra memory of ``stream`` must not grow with the duration.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

STIMULUS_DT = 0.05  # ms, the electrode currents' sampling step
SEED = 123


def run_case(backend: str, system: str, case: str, duration_ms: float, interval: float, channels: int,
             amplitude: float, window: float) -> dict:
    """Make the env, run once and return the figures of this process (called in a fresh child)."""
    import livn
    from livn.streaming import PulseTrain, StimulusStream

    started = time.perf_counter()
    env = livn.make(system, backend=backend, seed=SEED, record=("spikes",))
    made = time.perf_counter()
    stimulus = None
    sites = len(env.model.sites)
    if case != "none":
        n_channels = env.io.num_channels
        chosen = sorted({round(k * (n_channels - 1) / max(channels - 1, 1)) for k in range(channels)})
        pulses = PulseTrain.periodic(n_channels, chosen, interval=interval, duration=duration_ms,
                                     start=interval / 2, amplitude=amplitude)
        if case == "stream":
            stimulus = StimulusStream.from_pulses(env, pulses, dt=STIMULUS_DT, window=window)
        else:
            stimulus = env.cell_stimulus(pulses.render(0.0, duration_ms, STIMULUS_DT), dt=STIMULUS_DT)
    run = env.run(duration_ms, stimulus=stimulus)
    finished = time.perf_counter()
    return {
        "case": case,
        "duration_s": duration_ms / 1000.0,
        "spikes": len(run.spikes),
        "make_s": made - started,
        "run_s": finished - made,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,  # KiB on Linux
        "dense_gb": duration_ms / STIMULUS_DT * env.system.num_neurons * sites * 8 / 1e9,
        "cells": env.system.num_neurons,
        "sites": sites,
    }


def in_child(args: argparse.Namespace, case: str, duration_s: float) -> dict:
    command = [
        sys.executable, __file__, "--child", case, "--backend", args.backend, "--system", args.system,
        "--durations", str(duration_s), "--interval", str(args.interval), "--channels", str(args.channels),
        "--amplitude", str(args.amplitude), "--window", str(args.window),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {case} case failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="brian2")
    parser.add_argument("--system", default="EI3")
    parser.add_argument("--durations", type=float, nargs="+", default=[600.0], help="simulated seconds (one or more)")
    parser.add_argument("--interval", type=float, default=200.0, help="ms between pulses")
    parser.add_argument("--channels", type=int, default=4, help="electrodes that pulse")
    parser.add_argument("--amplitude", type=float, default=30.0, help="uA")
    parser.add_argument("--window", type=float, default=200.0, help="stream window, ms")
    parser.add_argument("--dense", action="store_true",
                        help="also run with the dense stimulus (only where it fits in memory)")
    parser.add_argument("--child", choices=("none", "stream", "dense"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = run_case(args.backend, args.system, args.child, args.durations[0] * 1000.0, args.interval,
                           args.channels, args.amplitude, args.window)
        print(json.dumps(figures))
        return
    print(f"{args.backend}, {args.system}: a biphasic pulse every {args.interval:g} ms on {args.channels} electrodes, "
          f"{args.amplitude:g} uA, stimulus dt {STIMULUS_DT} ms, stream windows of {args.window:g} ms", flush=True)
    print(f"{'duration':>9} {'case':>7} {'peak MB':>9} {'above none':>11} {'dense would be':>15} {'run s':>8} {'spikes':>9}", flush=True)
    for duration_s in args.durations:
        reference = None
        for case in ("none", "stream", "dense") if args.dense else ("none", "stream"):
            figures = in_child(args, case, duration_s)  # printed as each finishes: the long cases take hours
            reference = reference or figures
            above = figures["peak_mb"] - reference["peak_mb"]
            print(f"{duration_s:>8g}s {figures['case']:>7} {figures['peak_mb']:>9.0f} {above:>+10.0f}M "
                  f"{figures['dense_gb']:>13.2f}GB {figures['run_s']:>8.1f} {figures['spikes']:>9}", flush=True)


if __name__ == "__main__":
    main()
