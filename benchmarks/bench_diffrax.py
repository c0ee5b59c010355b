"""Benchmark of the diffrax backend: compile time, forward speed, vmap batching and gradient cost.

Prints one figure per line (``name: value unit``) for the device JAX picked (CPU or GPU):

* compile time of an EI2 run, measured alone: the run's function is lowered and compiled ahead
  of time (``jit(...).lower(...).compile()``) before anything else runs, so it is not a
  difference of two timings;
* forward wall time of EI2 and EI3 for ``--duration`` ms (default 1000) of simulated time;
* ``--batch`` (default 32) EI2 trials of ``--trial`` ms (noise samples: one seed per trial) in one
  vmapped ``run_batch`` against the same trials run one after another, for RCSD and for the
  Izhikevich culture (ratio; goal >= 4x);
* one ``jax.grad`` of a voltage loss with respect to all synaptic weights against one forward
  pass of the same run (ratio; goal <= 3x).

Run: ``python benchmarks/bench_diffrax.py`` (``--quick`` for a smoke run: 100 ms, batch 8;
``--forward-only`` for the first three figures). On a
GPU install ``livn-diffrax[cuda]``; nothing else changes. RCSD at dt = 0.025 ms (NEURON's step).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import livn
import numpy as np


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    jax.block_until_ready(jax.tree_util.tree_leaves(out))
    return time.perf_counter() - start, out


def _make(system, seed=123):
    return livn.make(system, backend="diffrax", seed=seed, record=("spikes", "voltage"))


def bench_compile(system: str, duration: float) -> float:
    """Seconds to lower and compile one run's function of ``duration`` ms (nothing else running)."""
    env = _make(system)
    dt = env.model.recommended_dt
    layout, static = env._layout(dt)
    stride, *_ = env._sampling_strides(dt)
    params = env.params()
    state = env._current_state(layout, params)
    cfg = env._run_config(env._steps(duration, dt), dt, stride, "none", 1.0, rows=False, traced=False)
    start = time.perf_counter()
    env._function(layout, cfg).lower(params, static, state, None, env._streams).compile()
    return time.perf_counter() - start


def bench_forward(system: str, duration: float) -> tuple[float, float, int]:
    """(first-call seconds, warm seconds, spikes) for one run of ``duration`` ms."""
    env = _make(system)
    first, _ = _timed(lambda: env.run(duration))
    env.clear()
    warm, run = _timed(lambda: env.run(duration))
    return first, warm, len(run.spikes)


def bench_batch(batch: int, trial: float, model: str) -> tuple[float, float]:
    """(vmapped seconds, sequential seconds) for ``batch`` EI2 trials of ``trial`` ms (warm), one seed each."""
    env = livn.make("EI2", backend="diffrax", model=model, record=("spikes",))
    seeds = list(range(batch))
    env.run_batch(trial, seeds=seeds)  # compile
    vmapped, runs = _timed(lambda: env.run_batch(trial, seeds=seeds))
    single = livn.make("EI2", backend="diffrax", model=model, record=("spikes",))
    single.run(trial)  # compile the single-trial function
    start = time.perf_counter()
    alone = []
    for seed in seeds:
        single.clear(seed=seed)
        alone.append(single.run(trial))
    sequential = time.perf_counter() - start
    if model == "rcsd":  # the same spikes either way (Izhikevich cells are drawn from the env's seed
        # too, which clear(seed=) changes and run_batch's noise seeds do not)
        for a, b in zip(alone, runs):
            assert np.array_equal(a.spikes.ids, b.spikes.ids), "batched and sequential trials differ"
    return vmapped, sequential


def bench_grad(duration: float) -> tuple[float, float]:
    """(gradient seconds, forward seconds), both warm, for an EI2 voltage loss over ``duration`` ms."""
    env = _make("EI2")
    names = list(env.weights)
    weights = jnp.asarray([env.weights[k] for k in names])

    def loss(w):
        trial = env.with_weights(dict(zip(names, w)))
        trial.clear()
        return jnp.mean(trial.run(duration).voltage.values)

    forward = jax.jit(loss)
    grad = jax.jit(jax.grad(loss))
    _timed(lambda: forward(weights))
    _timed(lambda: grad(weights))
    t_forward, _ = _timed(lambda: forward(weights))
    t_grad, g = _timed(lambda: grad(weights))
    assert np.all(np.isfinite(np.asarray(g))), "non-finite gradient"
    return t_grad, t_forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 ms, batch of 8")
    parser.add_argument("--duration", type=float, default=None, help="forward run length, ms (default 1000)")
    parser.add_argument("--trial", type=float, default=None, help="batched trial length, ms (default 200)")
    parser.add_argument("--batch", type=int, default=None, help="number of batched trials (default 32)")
    parser.add_argument("--grad-duration", type=float, default=None, help="gradient run length, ms (default 100)")
    parser.add_argument("--skip-ei3", action="store_true", help="skip the EI3 forward run")
    parser.add_argument("--forward-only", action="store_true", help="only the compile time and forward runs")
    args = parser.parse_args()
    duration = args.duration or (100.0 if args.quick else 1000.0)
    trial = args.trial or (50.0 if args.quick else 200.0)
    batch = args.batch or (8 if args.quick else 32)
    grad_duration = args.grad_duration or (50.0 if args.quick else 100.0)

    device = jax.devices()[0]
    print(f"device: {device.platform} ({device.device_kind}); jax {jax.__version__}; x64 on after make()")

    print(f"EI2 compile time ({duration:g} ms run, ahead of time, nothing else running): "
          f"{bench_compile('EI2', duration):.2f} s")
    first, warm, spikes = bench_forward("EI2", duration)
    print(f"EI2 first call (compile + run): {first:.2f} s")
    print(f"EI2 forward {duration:g} ms: {warm:.3f} s ({spikes} spikes; real-time factor {warm / (duration / 1000):.2f})")
    if not args.skip_ei3:
        first3, warm3, spikes3 = bench_forward("EI3", duration)
        print(f"EI3 first call (compile + run): {first3:.2f} s")
        print(f"EI3 forward {duration:g} ms: {warm3:.3f} s ({spikes3} spikes; real-time factor {warm3 / (duration / 1000):.2f})")

    if args.forward_only:
        return
    for model in ("rcsd", "izhikevich"):
        vmapped, sequential = bench_batch(batch, trial, model)
        print(f"EI2 {model} {batch} trials x {trial:g} ms vmapped: {vmapped:.3f} s; sequential: {sequential:.3f} s; "
              f"speed-up {sequential / vmapped:.2f}x (goal >= 4x)")

    t_grad, t_forward = bench_grad(grad_duration)
    print(f"EI2 grad wrt weights over {grad_duration:g} ms: {t_grad:.3f} s; forward {t_forward:.3f} s; "
          f"ratio {t_grad / t_forward:.2f}x (goal <= 3x)")


if __name__ == "__main__":
    main()
