"""Speed and memory of the brian2 backend; prints figures (no assertions).

    python benchmarks/bench_brian2.py                 # everything below, EI1..EI4, 1 s each
    python benchmarks/bench_brian2.py --systems EI1 EI2 EI3 --repeats 2
    python benchmarks/bench_brian2.py --only standalone --repeats 2   # part 2 alone, EI3 and EI4

1. Overhead: livn-brian2 on EI3 against a hand-written brian2 script of the same network (same
   cells and parameters, synapses, weights, delays, noise level, dt, codegen target), timed in the
   same process, alternating, best of ``--repeats``; prints the ratio (goal <= 1.15).
2. Against brian2's fastest path: livn-brian2 (runtime mode, cython, reused code objects) against
   the same hand-written script built for brian2's ``cpp_standalone`` device (one thread, no
   OpenMP, brian2's default compiler flags), on ``--standalone-systems`` (EI3, EI4). Each side in
   a fresh process runs 10 ms and then ``--duration`` ms, best of ``--repeats``: livn as
   consecutive runs of one env, the standalone binary (compiled once) run ``--repeats`` times, timed
   inside the binary around its network run (wall clock; CPU as brian2 records it), so neither the
   compile nor the binary's start and file I/O count. Prints both real-time factors, the
   standalone build time, both spike rates (same network, different noise draws: they should
   roughly agree) and the ratio livn/standalone (goal <= 1.5).
3. Real-time factor (wall s per simulated s; best and median of ``--repeats`` consecutive runs) and
   peak memory (max RSS) per system, each in a fresh process; goals on a 2-core machine, cython,
   dt 0.1 ms: EI3 <= 0.3, EI4 <= 2.
4. Spontaneous activity under the tuned defaults: ``make("EIx", model=m).run(2000)`` per system and
   model (mean rate, active fraction, first/second-second spike counts, max rate), fresh processes.
5. First-make time: a fresh process with an empty livn system cache (generation) and brian2's
   compiled-module cache as it is (``--cold`` also empties that one: every module compiles).

The hand-written reference is what a brian2 user would write for speed: one NeuronGroup with the
Izhikevich, synaptic and OU equations integrated by brian2 (Euler, ``xi`` noise), one Synapses per
presynaptic population adding to the rise/decay variables of its receptors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from peak_memory import peak_rss_mb  # benchmarks/ (run from the repo root)

SYSTEMS = ("EI1", "EI2", "EI3", "EI4")
PARTS = ("overhead", "standalone", "systems", "activity", "first_make")
DT = 0.1  # ms
#: C++ lines around the standalone network run: its wall-clock time, into the binary's results folder
STANDALONE_CLOCK_START = "const auto livn_bench_start = std::chrono::steady_clock::now();"
STANDALONE_CLOCK_STOP = (
    'std::ofstream(results_dir + "livn_bench_wall_s.txt") << '
    "std::chrono::duration<double>(std::chrono::steady_clock::now() - livn_bench_start).count();"
)


def livn_env(name: str, seed: int = 123):
    import livn

    return livn.make(name, backend="brian2", seed=seed, record=("spikes",))


def reference_network(env):
    """The hand-written brian2 network equivalent to ``env`` (Izhikevich model only).

    Built on brian2's current device: runtime mode (codegen target of the env) or ``cpp_standalone``
    when the caller has set that device first. Every value comes from numpy arrays; none is read back
    from a brian2 group (a standalone group holds no values before its binary has run).
    """
    import brian2 as b2
    from livn.network import synaptic_kinetics
    from livn.system import CONDUCTION_VELOCITY
    from livn_brian2.model import MG_CONCENTRATION, MG_SENSITIVITY, MG_VOLTAGE_SLOPE

    system = env.system
    n = system.num_neurons
    b2.prefs.codegen.target = "cython" if env.codegen == "cython" else "numpy"
    b2.defaultclock.dt = DT * b2.ms
    receptors = {}  # (pre, receptor) -> Receptor, for the post-side variables
    for (_post, pre), proj in system.projections.items():
        for name, spec in proj.receptors.items():
            receptors[(pre, name)] = spec
    eqs = [
        "dv/dt = (0.04*v**2 + 5*v + 140 - u + (I_syn + I_noise)/C_m)/ms : 1",
        "du/dt = a*(b*v - u)/ms : 1",
        "dI_noise/dt = (noise_mean - I_noise)/(noise_tau*ms) + noise_std*sqrt(2/(noise_tau*ms))*xi : 1",
        "a : 1 (constant)",
        "b : 1 (constant)",
        "c : 1 (constant)",
        "d : 1 (constant)",
    ]
    currents = []
    for (pre, name), spec in receptors.items():
        k = f"{pre}_{name}"
        tau_rise, _factor = synaptic_kinetics(spec.tau_rise, spec.tau_decay)
        eqs += [
            f"dsd_{k}/dt = -sd_{k}/({spec.tau_decay}*ms) : 1",
            f"dsr_{k}/dt = -sr_{k}/({tau_rise}*ms) : 1",
            f"w_{k} : 1 (constant)",
        ]
        block = ""
        if name.upper().startswith("NMDA"):
            block = f"/(1 + {MG_CONCENTRATION / MG_SENSITIVITY}*exp(-{MG_VOLTAGE_SLOPE}*v))"
        currents.append(f"(sd_{k} - sr_{k}){block}*({spec.e_rev} - v)")
    eqs.append(f"I_syn = {' + '.join(currents) or '0'} : 1")
    noise = env.noise
    namespace = {
        "C_m": env.model.constants["C_m"],
        "noise_mean": noise["mean"],
        "noise_std": noise["std"],
        "noise_tau": noise["tau"],
    }
    group = b2.NeuronGroup(
        n, "\n".join(eqs), threshold="v >= 30", reset="v = c\nu += d", method="euler", namespace=namespace
    )
    cells = {p: np.zeros(n) for p in "abcd"}
    for pop, (start, count) in system.population_ranges.items():
        values = env.cell_parameters(pop)
        for p in "abcd":
            cells[p][start : start + count] = values[p]
    for p in "abcd":
        setattr(group, p, cells[p])
    group.v = -65.0
    group.u = cells["b"] * -65.0
    weights = {f"w_{pre}_{name}": np.zeros(n) for pre, name in receptors}
    for (post, pre), proj in system.projections.items():
        start, count = system.population_ranges[post]
        for name, spec in proj.receptors.items():
            weight = env.weights[f"{post}_{pre}-{proj.section}-{name}-weight"]
            _tau_rise, factor = synaptic_kinetics(spec.tau_rise, spec.tau_decay)
            weights[f"w_{pre}_{name}"][start : start + count] = weight * spec.g_unit * factor
    for variable, values in weights.items():
        setattr(group, variable, values)
    objects = [group]
    for pre in system.populations:
        projs = [p for (_post, p_pre), p in system.projections.items() if p_pre == pre]
        if not projs:
            continue
        start, count = system.population_ranges[pre]
        names = sorted({r for p in projs for r in p.receptors})
        on_pre = "\n".join(
            f"sd_{pre}_{r}_post += w_{pre}_{r}_post\nsr_{pre}_{r}_post += w_{pre}_{r}_post" for r in names
        )
        syn = b2.Synapses(group[start : start + count], group, on_pre=on_pre)
        i = np.concatenate([p.pre_gids for p in projs]) - start
        j = np.concatenate([p.post_gids for p in projs])
        distance = np.concatenate([p.distances for p in projs]).astype(np.float64)
        syn.connect(i=i.astype(np.int32), j=j.astype(np.int32))
        syn.delay = np.maximum(distance / CONDUCTION_VELOCITY, 2 * DT) * b2.ms
        objects.append(syn)
    monitor = b2.SpikeMonitor(group)
    objects.append(monitor)
    return b2.Network(*objects), monitor


# -- children (fresh processes) ---------------------------------------------------------------------------
def child_rtf(name: str, duration: float, repeats: int) -> dict:
    start = time.perf_counter()
    env = livn_env(name)
    env.run(10.0)  # builds the code objects (compiled modules come from the cache)
    made = time.perf_counter() - start
    walls, cpus, spikes = [], [], 0
    for _ in range(repeats):  # consecutive stretches of one simulation
        start, cpu_start = time.perf_counter(), time.process_time()
        run = env.run(duration)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu_start)
        spikes += len(run.spikes)
    rate = spikes / env.system.num_neurons / (repeats * duration / 1000.0)
    return {
        "system": name,
        "make_s": made,
        "rtf": min(walls) / (duration / 1000.0),
        "rtf_median": float(np.median(walls)) / (duration / 1000.0),
        "rtf_cpu": min(cpus) / (duration / 1000.0),
        "rate_hz": rate,
        "peak_mb": peak_rss_mb(),
        "codegen": env.codegen,
    }


def child_standalone(name: str, duration: float, repeats: int) -> dict:
    """The hand-written network on brian2's ``cpp_standalone`` device; see part 2 of the module doc.

    The env is made first, on brian2's runtime device; the reference only reads its system, cells,
    weights and noise. One build, then ``repeats`` runs of the binary, each a new simulation (brian2
    seeds its random numbers anew at every start) of 10 ms and then ``duration`` ms; only the second
    network run is timed and its spikes counted.
    """
    import brian2 as b2

    env = livn_env(name)
    b2.set_device("cpp_standalone", build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0  # brian2's default: one thread, no OpenMP
    b2.prefs.codegen.cpp.headers = [*b2.prefs.codegen.cpp.headers, "<chrono>"]
    net, monitor = reference_network(env)
    net.run(10 * b2.ms, namespace={})
    b2.device.insert_code("main", STANDALONE_CLOCK_START)
    net.run(duration * b2.ms, namespace={})
    b2.device.insert_code("main", STANDALONE_CLOCK_STOP)
    walls, cpus, binaries, spikes = [], [], [], 0
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        b2.device.build(directory=directory, run=False)
        build = time.perf_counter() - start
        for _ in range(repeats):
            b2.device.run()
            with open(os.path.join(b2.device.results_dir, "livn_bench_wall_s.txt")) as wall:
                walls.append(float(wall.read()))
            cpus.append(b2.device._last_run_time)  # std::clock() around the last network run
            binaries.append(b2.device.timers["run_binary"])
            spikes += int(np.sum(np.asarray(monitor.t / b2.ms) >= 10.0))
    seconds = duration / 1000.0
    return {
        "system": name,
        "build_s": build,
        "make_s": b2.device.timers["compile"]["make"],
        "rtf": min(walls) / seconds,
        "rtf_median": float(np.median(walls)) / seconds,
        "rtf_cpu": min(cpus) / seconds,
        "binary_s": min(binaries),
        "rate_hz": spikes / env.system.num_neurons / (repeats * seconds),
    }


def child_activity(name: str, model: str, duration: float) -> dict:
    import livn

    env = livn.make(name, backend="brian2", model=model, record=("spikes",))
    start = time.perf_counter()
    run = env.run(duration)
    wall = time.perf_counter() - start
    counts = np.bincount(np.asarray(run.spikes.ids), minlength=env.system.num_neurons)
    times = np.asarray(run.spikes.times)
    rates = counts / (duration / 1000.0)
    return {
        "system": name,
        "model": model,
        "rate_hz": float(rates.mean()),
        "active": float(np.mean(counts > 0)),
        "first_half": int(np.sum(times < duration / 2)),
        "second_half": int(np.sum(times >= duration / 2)),
        "max_hz": float(rates.max()),
        "wall_s": wall,
    }


def child_first_make(name: str) -> dict:
    start = time.perf_counter()
    env = livn_env(name)
    made = time.perf_counter() - start
    env.run(DT)  # code generation (and compilation when the cache is cold) happens at the first run
    return {"system": name, "make_s": made, "first_run_s": time.perf_counter() - start - made}


def run_child(args: list[str], env_vars: dict | None = None) -> dict:
    environ = dict(os.environ, **(env_vars or {}))
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=environ, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- parts -------------------------------------------------------------------------------------------------
def bench_overhead(name: str, duration: float, repeats: int) -> None:
    import brian2 as b2

    env = livn_env(name)
    net, monitor = reference_network(env)
    env.run(10.0)
    net.run(10 * b2.ms, namespace={})
    ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
    ours_spikes = theirs_spikes = 0
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        run = env.run(duration)
        ours.append(time.perf_counter() - start)
        ours_cpu.append(time.process_time() - cpu_start)
        ours_spikes = len(run.spikes)
        before = monitor.num_spikes
        start, cpu_start = time.perf_counter(), time.process_time()
        net.run(duration * b2.ms, namespace={})
        theirs.append(time.perf_counter() - start)
        theirs_cpu.append(time.process_time() - cpu_start)
        theirs_spikes = monitor.num_spikes - before
    n = env.system.num_neurons
    print(f"\n== overhead: {name}, {duration:g} ms, dt {DT} ms, {env.codegen}, best of {repeats}")
    print(
        f"  livn-brian2      {min(ours):7.3f} s  (runs: {', '.join(f'{t:.3f}' for t in ours)})  "
        f"{ours_spikes / n / duration * 1000:.2f} Hz"
    )
    print(
        f"  hand-written     {min(theirs):7.3f} s  (runs: {', '.join(f'{t:.3f}' for t in theirs)})  "
        f"{theirs_spikes / n / duration * 1000:.2f} Hz"
    )
    print(f"  ratio livn/hand  {min(ours) / min(theirs):7.3f}   (goal <= 1.15)")
    print(
        f"  cpu seconds      livn-brian2 {min(ours_cpu):.3f}, hand-written {min(theirs_cpu):.3f}, "
        f"ratio {min(ours_cpu) / min(theirs_cpu):.3f}"
    )


def bench_standalone(systems: list[str], duration: float, repeats: int) -> None:
    print(
        f"\n== livn-brian2 against the hand-written cpp_standalone script: 10 ms, then {duration:g} ms timed, "
        f"dt {DT} ms, one thread, best of {repeats}, fresh process per side and system"
    )
    print(f"  load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in systems:
        ours = run_child(["rtf", name, str(duration), str(repeats)])
        theirs = run_child(["standalone", name, str(duration), str(repeats)])
        print(f"  {name}")
        for label, r in ((f"livn-brian2 ({ours['codegen']} runtime)", ours), ("cpp_standalone", theirs)):
            print(
                f"    {label:28s} RTF {r['rtf']:6.3f} (median {r['rtf_median']:.3f}, cpu {r['rtf_cpu']:.3f})  "
                f"{r['rate_hz']:6.2f} Hz"
            )
        print(
            f"    standalone build {theirs['build_s']:.1f} s (compile {theirs['make_s']:.1f} s); "
            f"whole binary run {theirs['binary_s']:.3f} s"
        )
        print(
            f"    {'ratio livn/standalone':28s} {ours['rtf'] / theirs['rtf']:10.3f}   (goal <= 1.5; "
            f"cpu {ours['rtf_cpu'] / theirs['rtf_cpu']:.3f})"
        )
    print("  RTF = wall seconds per simulated second of the timed run; cpu = process CPU seconds of the same.")
    print("  The rates differ by the noise draws only; far apart rates would mean different networks.")


def bench_systems(systems: list[str], duration: float, repeats: int) -> None:
    print(
        f"\n== real-time factor and peak memory: {repeats} consecutive runs of {duration:g} ms, fresh process "
        "per system"
    )
    print(
        f"  {'system':6s} {'make+10ms (s)':>14s} {'RTF best':>9s} {'RTF median':>11s} {'RTF cpu':>8s}"
        f" {'rate (Hz)':>10s} {'peak RSS (MB)':>14s} codegen"
    )
    for name in systems:
        r = run_child(["rtf", name, str(duration), str(repeats)])
        print(
            f"  {name:6s} {r['make_s']:14.2f} {r['rtf']:9.3f} {r['rtf_median']:11.3f} {r['rtf_cpu']:8.3f}"
            f" {r['rate_hz']:10.2f} {r['peak_mb']:14.0f} {r['codegen']}"
        )
    print("  goals: EI3 RTF <= 0.3, EI4 RTF <= 2 (cython, dt 0.1 ms, 2 cores)")
    print("  RTF = wall seconds per simulated second (best and median of the runs); RTF cpu = process CPU")
    print("  seconds (best run), close to the wall figure on an idle machine; a loaded or noisy machine")
    print("  inflates both (seen here: the same compiled loop ran tens of percent slower some minutes than others)")


def bench_activity(systems: list[str], duration: float = 2000.0) -> None:
    print(f"\n== spontaneous activity under the tuned defaults, make(system, model=m).run({duration:g})")
    print(
        f"  {'system':6s} {'model':10s} {'rate (Hz)':>9s} {'active':>7s} {'spikes 1st/2nd half':>20s} {'max (Hz)':>9s}"
    )
    for model in ("izhikevich", "lif"):
        for name in systems:
            r = run_child(["activity", name, model, str(duration)])
            halves = f"{r['first_half']}/{r['second_half']}"
            print(f"  {name:6s} {model:10s} {r['rate_hz']:9.2f} {r['active']:7.2f} {halves:>20s} {r['max_hz']:9.1f}")
    print("  goal: 0.5..20 Hz mean, most cells active, no runaway (second half not far above the first)")


def bench_first_make(name: str, cold: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env_vars = {"LIVN_CACHE_DIR": os.path.join(tmp, "livn")}
        if cold:
            env_vars["LIVN_BENCH_CYTHON_CACHE"] = os.path.join(tmp, "cython")
        r = run_child(["first_make", name], env_vars)
    state = "empty" if cold else "warm"
    print(f"\n== first make of {name}: fresh process, empty system cache, {state} compiled-module cache")
    print(f"  make() (generate system + build network)  {r['make_s']:7.2f} s")
    print(f"  first run step (code generation{' + compile' if cold else ''})    {r['first_run_s']:7.2f} s")
    print(f"  total                                      {r['make_s'] + r['first_run_s']:7.2f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated ms per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--overhead-system", default="EI3")
    parser.add_argument("--standalone-systems", nargs="+", default=["EI3", "EI4"])
    parser.add_argument("--cold", action="store_true", help="first make with an empty cython cache too")
    parser.add_argument("--only", nargs="+", default=list(PARTS), choices=PARTS, help="run only these parts")
    parser.add_argument("--skip", nargs="*", default=[], choices=PARTS)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        cache = os.environ.get("LIVN_BENCH_CYTHON_CACHE")
        if cache:
            import brian2

            brian2.prefs.codegen.runtime.cython.cache_dir = cache
        if kind == "rtf":
            result = child_rtf(rest[0], float(rest[1]), int(rest[2]))
        elif kind == "standalone":
            result = child_standalone(rest[0], float(rest[1]), int(rest[2]))
        elif kind == "activity":
            result = child_activity(rest[0], rest[1], float(rest[2]))
        else:
            result = child_first_make(rest[0])
        print(json.dumps(result))
        return
    print(
        f"livn-brian2 benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    parts = set(args.only) - set(args.skip)
    if "overhead" in parts:
        bench_overhead(args.overhead_system, args.duration, args.repeats)
    if "standalone" in parts:
        bench_standalone(args.standalone_systems, args.duration, args.repeats)
    if "systems" in parts:
        bench_systems(args.systems, args.duration, args.repeats)
    if "activity" in parts:
        bench_activity(args.systems)
    if "first_make" in parts:
        bench_first_make(args.overhead_system, args.cold)


if __name__ == "__main__":
    main()
