"""Where the diffrax backend's RCSD step spends its time: microseconds per step, stage by stage.

    python benchmarks/profile_diffrax_step.py [--system EI3] [--steps 4000]

Each stage of one step of :func:`livn_diffrax.engine.make_advance` is jit-compiled alone in a
``lax.fori_loop`` of ``--steps`` steps on the env's real arrays (its network, parameters and
state after a 50 ms warm-up) and timed warm (best of three). Prints, per stage, microseconds per
step and the share of the whole run (``env.run`` at the same step, recording spikes only):

* ``run``: ``env.run`` (diffrax's ``diffeqsolve`` around the step, saving spikes every step);
* ``advance``: the step alone, looped by ``fori_loop`` (the difference to ``run`` is the solver
  loop and the per-step saving);
* ``cells``: the RCSD cell step (currents and their ``jvp``, the 2x2 solve, gates, pools);
* ``currents``: the current evaluation alone; ``currents+jvp``: with its voltage derivative;
* ``noise``: the Ornstein-Uhlenbeck update with its Random123 draws;
* ``events``: scheduling the spikes into the arrival ring as a plain run does (``"loop"``), at the
  run's rate (one cell's spike every ``1 / rate`` steps, or ``rate`` cells every step);
* ``synapses``: delivering the arrivals and relaxing the synaptic conductances.

The stages overlap (``advance`` contains the others), so the shares do not add up to 100 %.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import livn
import numpy as np


def _best(fn, *args) -> float:
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    from livn_diffrax import engine
    from livn_diffrax.models import rcsd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", default="EI3")
    parser.add_argument("--steps", type=int, default=4000)
    args = parser.parse_args()
    env = livn.make(args.system, backend="diffrax", seed=1, record=("spikes",))
    dt = env.model.recommended_dt
    env.run(50.0)
    steps = args.steps

    start = time.perf_counter()
    run = env.run(steps * dt)
    first = time.perf_counter() - start
    start = time.perf_counter()
    run = env.run(steps * dt)
    whole = time.perf_counter() - start
    rate = len(run.spikes) / steps  # spikes per step

    layout, static = env._layout(dt)
    params = env.params()
    state = env._current_state(layout, params)
    cfg = env._run_config(steps, dt, 0, "none", 1.0, rows=False, traced=False)
    const = env._const
    model = layout.model
    der = model.derived(params["cell"], const)
    static = jax.tree_util.tree_map(jnp.asarray, static)  # as the run's jit receives them
    net = dict(static["net"])
    net["weights"] = params["weights"]
    noise = model.noise.arrays(params["noise"], static)
    call_args = {"net": net, "der": der, "noise": noise, "streams": env._streams,
                 "step0": jnp.round(state["step"]).astype(jnp.int32)}
    advance = engine.make_advance(layout, cfg, const)
    n = layout.n
    point = {"g": jnp.zeros((n, 2)), "gE": jnp.zeros((n, 2)), "g_nmda": jnp.zeros((n, 2))}
    zeros = jnp.zeros((n, 2))

    def loop(body):
        return jax.jit(lambda y: jax.lax.fori_loop(0, steps, body, y))

    timings = {"run": whole}
    timings["advance"] = _best(loop(lambda i, y: advance(0.0, dt, y, call_args)), state)
    timings["cells"] = _best(
        loop(lambda i, c: rcsd.step(c, der, const, point, zeros, zeros, dt)[0]), state["cell"])

    def currents_only(i, c):
        total = rcsd.currents(c["V"], c, der, const, point)["total"]
        return {**c, "V": c["V"] + 1e-12 * total}

    def currents_jvp(i, c):
        _, d = jax.jvp(lambda V: rcsd.currents(V, c, der, const, point), (c["V"],), (jnp.ones_like(c["V"]),))
        return {**c, "V": c["V"] + 1e-12 * d["total"]}

    timings["currents"] = _best(loop(currents_only), state["cell"])
    timings["currents+jvp"] = _best(loop(currents_jvp), state["cell"])

    h = model.noise.interval(const, dt)
    per_step = max(1, int(np.ceil(dt / h - 1e-9)))

    def noise_only(i, carry):
        ou, rng = carry
        return model.noise.update(ou, rng, jnp.ones(2), noise, env._streams, i, h, per_step)

    timings["noise"] = _best(loop(noise_only), (state["ou"], state["rng"]))

    # the run's spikes per step: one cell's spike every 1 / rate steps, or rate cells every step
    k = max(1, int(round(rate)))
    every = max(1, int(round(1.0 / rate))) if rate > 0 else steps
    cells = jnp.zeros(n, bool).at[jnp.arange(k) * (n // k)].set(True)
    budget = min(cfg.spike_budget or layout.sparse_spikes, n)

    def events_only(i, ring):
        hard = cells & (i % every == 0)
        return engine._schedule(ring, hard, hard.astype(jnp.float64), i, net, layout.buffer_len, budget, cfg.events)

    timings["events"] = _best(loop(events_only), state["arrivals"])

    C = len(layout.classes)

    def synapses_only(i, y):  # as engine.make_advance: the row due was read at the end of the step before
        A, B, ring, due = y
        slot = jnp.mod(i, layout.buffer_len)
        increment = (net["weights"] * net["scale"])[:, None] * due[: C * n].reshape(C, n)
        ring = ring.at[slot].set(0.0)
        A = (A + increment) * jnp.exp(-dt / net["tau_r"])[:, None]
        B = (B + increment) * jnp.exp(-dt / net["tau_d"])[:, None]
        return A, B, ring, ring[jnp.mod(i + 1, layout.buffer_len)]

    timings["synapses"] = _best(loop(synapses_only), (state["A"], state["B"], state["arrivals"], state["due"]))

    print(f"== diffrax RCSD step, {args.system} ({n} cells, {C} synapse classes, "
          f"{int(np.asarray(net['pre']).shape[0])} connections), dt {dt} ms, {steps} steps; "
          f"{jax.devices()[0].platform}, load {os.getloadavg()[0]:.2f}")
    print(f"  first env.run of {steps * dt:g} ms: {first:.2f} s (compile + run); {rate:.2f} spikes per step")
    for name, seconds in timings.items():
        print(f"  {name:14s} {seconds / steps * 1e6:8.1f} us/step  {100 * seconds / whole:5.1f} %")
    print(f"  real-time factor of the run: {whole / (steps * dt / 1000):.1f}")


if __name__ == "__main__":
    main()
