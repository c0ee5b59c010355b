"""Learning a stimulation by gradient descent: electrode currents that drive one group of cells.

    python examples/differentiable_stimulation.py                    # diffrax backend, EI2, LIF cells
    python examples/differentiable_stimulation.py --plot stimulation.png
    python examples/differentiable_stimulation.py --quick            # shorter window, fewer steps

The target group is the cells whose nearest electrode is ``--channel``; the other cells should stay
at their baseline (the rates the same noise gives without stimulation). Each of the 16 electrodes
carries one constant current during the ``--duration`` ms window, bounded to
``(-max_current, +max_current)`` uA by ``livn_diffrax.fit.Bounded`` (negative: cathodic, which
depolarises the cells near it; positive: anodic). The MEA turns the currents into extracellular
potentials at every cell (``env.cell_stimulus``, a linear map of distance), the LIF cells turn the
potential into a current, and the run counts spikes.

The loss is on spike rates: the squared error of each target cell's rate from ``--target-rate`` Hz
plus the squared change of each other cell's rate from its baseline, both divided by the target
rate squared. Spike counts are differentiable because the env is made with ``surrogate=beta``: a
spike's value carries the derivative of ``sigmoid(beta (V - V_th))`` at its threshold crossing, so
``run.spikes.rates()`` of the padded spike buffer of a traced run has a gradient with respect to
the currents (also through the synapses the spike drives). ``livn_diffrax.fit.fit`` runs Adam on
the unconstrained currents.

The background noise is frozen (one seed for every evaluation, as for a recorded culture whose
noise one could replay); after the fit the learned currents are also tried on a new noise seed.
It prints the loss at the start and the end, and the mean rate of the target group and of the
others before and after; ``--plot`` draws the loss curve and the two rasters. The exit status is 0
when the learned currents close at least ``--margin`` of the gap between the target group's rate
before and the target (on the training seed) while moving it more than the others' rate.
"""

from __future__ import annotations

import argparse
import sys
import time

import livn
import numpy as np
from livn import config
from livn.backends import resolve

#: Default ``--backend`` when neither it nor LIVN_BACKEND is given: the example needs gradients.
DEFAULT_BACKEND = "diffrax"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", default="EI2")
    parser.add_argument("--backend", default=None, help="backend name (default: LIVN_BACKEND, else diffrax)")
    parser.add_argument("--channel", type=int, default=5, help="the electrode whose nearest cells are the target")
    parser.add_argument("--target-rate", type=float, default=40.0, help="rate the target group should reach, Hz")
    parser.add_argument("--duration", type=float, default=None, help="stimulation window, ms (default 200, quick 100)")
    parser.add_argument("--max-current", type=float, default=0.5, help="bound on each electrode's current, uA")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps (default 40, quick 20)")
    parser.add_argument("--learning-rate", type=float, default=0.05, help="Adam's rate (unconstrained units)")
    parser.add_argument("--surrogate", type=float, default=1.0, help="surrogate slope beta, 1/mV")
    parser.add_argument("--margin", type=float, default=0.5,
                        help="share of the gap to the target rate the learned currents must close")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a 100 ms window and 20 steps unless given (for tests)")
    parser.add_argument("--plot", default=None, help="write a figure here (needs matplotlib)")
    args = parser.parse_args(argv)
    quick = {"duration": 100.0, "steps": 20} if args.quick else {"duration": 200.0, "steps": 40}
    for name, value in quick.items():
        if getattr(args, name) is None:
            setattr(args, name, value)

    backend = args.backend or config.requested_backend() or DEFAULT_BACKEND
    if not getattr(resolve(backend), "differentiable", False):
        print(f"the {backend} backend is not differentiable; this example needs the diffrax backend "
              "(--backend diffrax or LIVN_BACKEND=diffrax)")
        return 2

    import jax
    import jax.numpy as jnp
    from livn_diffrax import losses
    from livn_diffrax.fit import Bounded, fit

    start = time.perf_counter()
    env = livn.make(args.system, backend=backend, model="lif", seed=args.seed, record=("spikes",),
                    surrogate=args.surrogate)
    n, channels = env.system.num_neurons, env.io.num_channels
    if not 0 <= args.channel < channels:
        print(f"--channel must be an electrode of {args.system}: 0..{channels - 1}")
        return 2
    nearest = np.argmin(env.io.planar_distances(env.system.neuron_coordinates), axis=0)
    target = np.flatnonzero(nearest == args.channel)
    others = np.flatnonzero(nearest != args.channel)
    if target.size == 0:
        print(f"no cell has electrode {args.channel} as its nearest; pick another --channel")
        return 2
    samples = int(round(args.duration))  # one current sample per ms, constant over the window

    def stimulus(currents):
        return env.cell_stimulus(jnp.broadcast_to(currents, (samples, channels)), dt=1.0)

    def rates(currents):
        """Rate of every cell (Hz) over the window, differentiable in the currents (surrogate)."""
        env.clear()
        return env.run(args.duration, stimulus=stimulus(currents)).spikes.rates()

    baseline = np.asarray(jax.jit(rates)(jnp.zeros(channels)))

    def loss(params):
        r = rates(params["current"])
        scale = args.target_rate**2
        on_target = losses.rate_loss(r[target], jnp.full(target.size, args.target_rate)) / scale
        off_target = losses.rate_loss(r[others], baseline[others]) / scale
        return on_target + off_target

    result = fit(loss, {"current": np.zeros(channels)},
                 transforms={"current": Bounded(-args.max_current, args.max_current)},
                 learning_rate=args.learning_rate, steps=args.steps, progress=True, log_every=10)
    learned = np.asarray(result.best_params["current"])

    def raster(currents, seed):
        """A plain (untraced) run: numpy currents, spikes as Events."""
        env.clear(seed=seed)
        stim = env.cell_stimulus(np.broadcast_to(currents, (samples, channels)), dt=1.0)
        run = env.run(args.duration, stimulus=stim)
        return np.asarray(run.spikes.ids), np.asarray(run.spikes.times)

    def group_rates(ids):
        r = np.bincount(ids, minlength=n) * 1000.0 / args.duration
        return r[target].mean(), r[others].mean()

    spikes_before, spikes_after = raster(np.zeros(channels), args.seed), raster(learned, args.seed)
    held_out = raster(learned, args.seed + 1000)
    held_out_base = raster(np.zeros(channels), args.seed + 1000)
    (t0, o0), (t1, o1) = group_rates(spikes_before[0]), group_rates(spikes_after[0])
    (th, oh), (tb, ob) = group_rates(held_out[0]), group_rates(held_out_base[0])
    closed = (t1 - t0) / (args.target_rate - t0) if args.target_rate != t0 else 1.0

    print(f"{args.system} on {env.backend_name} ({env.model.name}, surrogate beta={args.surrogate:g}/mV); "
          f"target: the {target.size} cells nearest electrode {args.channel}, others: {others.size} cells")
    print(f"fit: {result.steps} Adam steps in {result.wall_time:.1f} s; loss {result.losses[0]:.4g} -> "
          f"{result.best_loss:.4g} (best, step {result.best_step}); final {result.final_loss:.4g}")
    strongest = np.argsort(-np.abs(learned))[:4]
    print("learned currents (uA), largest: " + ", ".join(f"e{c} {learned[c]:+.4f}" for c in strongest))
    print(f"{'rate (Hz)':<30} {'before':>8} {'after':>8} {'target':>8}")
    print(f"{'target group':<30} {t0:>8.1f} {t1:>8.1f} {args.target_rate:>8.1f}")
    print(f"{'other cells':<30} {o0:>8.1f} {o1:>8.1f} {o0:>8.1f}")
    print(f"{'target group, new noise seed':<30} {tb:>8.1f} {th:>8.1f} {args.target_rate:>8.1f}")
    print(f"{'other cells, new noise seed':<30} {ob:>8.1f} {oh:>8.1f} {ob:>8.1f}")
    ok = closed >= args.margin and (t1 - t0) > (o1 - o0)
    print(f"the target group closed {100 * closed:.0f} % of the gap to {args.target_rate:g} Hz "
          f"(needed {100 * args.margin:.0f} %, and more than the others moved): {'PASS' if ok else 'FAIL'}")
    print(f"({time.perf_counter() - start:.1f} s wall)")
    if args.plot:
        try:
            plot(args.plot, result.losses, spikes_before, spikes_after, target, args.duration)
            print(f"saved figure to {args.plot}")
        except ImportError:
            print("matplotlib is not installed; no figure")
    env.close()
    return 0 if ok else 1


def plot(path, loss_curve, before, after, target, duration):
    """The loss curve, and the rasters before and after with the target group marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    axes[0].plot(loss_curve, marker=".")
    axes[0].set(title="loss", xlabel="step", ylabel="rate loss (relative)", yscale="log")
    for ax, (ids, times), title in ((axes[1], before, "no stimulation"), (axes[2], after, "learned currents")):
        chosen = np.isin(ids, target)
        ax.plot(times[~chosen], ids[~chosen], "|", color="0.4", markersize=4)
        ax.plot(times[chosen], ids[chosen], "|", color="C3", markersize=6, label="target group")
        ax.set(title=title, xlabel="time (ms)", ylabel="cell", xlim=(0, duration))
        ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
