"""Fitting a model to recorded activity: recover hidden synaptic weights by gradient descent.

    python examples/parameter_fitting.py                     # diffrax backend, EI1, RCSD cells
    python examples/parameter_fitting.py --plot fitting.png
    python examples/parameter_fitting.py --steps 80          # more steps, a closer fit

1. "Record": simulate the culture with hidden values of two synaptic weights, the AMPA weight of
   the excitatory cells' synapses onto excitatory cells (``EXC_EXC-hillock-AMPA-weight``) and onto
   inhibitory cells (``INH_EXC-hillock-AMPA-weight``; names are ``POST_PRE-section-receptor``),
   while every cell in turn gets a short current pulse (``--pulse`` nA for 2 ms, one cell every
   4 ms, each again every 40 ms) so that every cell fires and every synapse carries spikes. The
   soma voltage of every cell is the recording.
2. Fit: start from wrong values (``--start`` times the first weight, ``1 / --start`` times the
   second) and minimise the mean squared error between the simulated and the recorded voltage with
   ``livn_diffrax.fit.fit`` (Adam, a decaying rate, weights kept positive by ``Positive("exp")``, so
   steps are relative). The simulations run inside ``jax.grad`` through the functional setter
   ``env.with_weights``; the gradient is pathwise (the spikes are held fixed, the default without
   a surrogate): a weight scales the postsynaptic potentials smoothly. The voltage is clipped at ``--clip`` mV before the comparison, so a spike
   that appears, disappears or moves by a step costs a bounded error rather than 100 mV squared.

The noise is the recording's own (the same seed), as if the background activity had been replayed.
It prints the loss curve's start and end and, for each weight, the true, starting and recovered
value with the relative error, and the spike counts of the recording and of the fitted model;
``--plot`` draws the loss curve and the path of both weights. The exit status is 0 when both
recovered weights (the parameters of the lowest loss) are within ``--tolerance`` of the truth.
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
#: The hidden weights.
HIDDEN = ("EXC_EXC-hillock-AMPA-weight", "INH_EXC-hillock-AMPA-weight")


def pulses(duration, n, amplitude, dt=0.5):
    """Current pulses ``[T, n]`` (nA, every ``dt`` ms): cell k at 5 + 4k ms, 2 ms long, every 40 ms."""
    values = np.zeros((int(round(duration / dt)), n))
    for cell in range(n):
        for onset in np.arange(5.0 + 4.0 * cell, duration - 2.0, 40.0):
            first = int(round(onset / dt))
            values[first:first + int(round(2.0 / dt)), cell] = amplitude
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", default="EI1")
    parser.add_argument("--backend", default=None, help="backend name (default: LIVN_BACKEND, else diffrax)")
    parser.add_argument("--duration", type=float, default=100.0, help="recording length, ms")
    parser.add_argument("--pulse", type=float, default=1.0, help="current pulse amplitude, nA")
    parser.add_argument("--start", type=float, default=0.4,
                        help="the fit starts at this times the first true weight and 1/this times the second")
    parser.add_argument("--clip", type=float, default=-50.0, help="voltages above this (mV) are compared as this")
    parser.add_argument("--steps", type=int, default=40, help="optimiser steps")
    parser.add_argument("--learning-rate", type=float, default=0.1,
                        help="Adam's initial rate (log units; it decays to a tenth over the steps)")
    parser.add_argument("--tolerance", type=float, default=0.1, help="allowed relative error of each weight")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="accepted for symmetry with the other examples: the defaults already take under a minute")
    parser.add_argument("--plot", default=None, help="write a figure here (needs matplotlib)")
    args = parser.parse_args(argv)

    backend = args.backend or config.requested_backend() or DEFAULT_BACKEND
    if not getattr(resolve(backend), "differentiable", False):
        print(f"the {backend} backend is not differentiable; this example needs the diffrax backend "
              "(--backend diffrax or LIVN_BACKEND=diffrax)")
        return 2

    import jax
    import jax.numpy as jnp
    import optax
    from livn.stimulus import Stimulus
    from livn_diffrax import losses
    from livn_diffrax.fit import Positive, fit

    start = time.perf_counter()
    env = livn.make(args.system, backend=backend, seed=args.seed, record=("spikes", "voltage"))
    missing = [name for name in HIDDEN if name not in env.weights]
    if missing:
        print(f"{args.system} with {env.model.name} has no weights {missing}; its weights: {sorted(env.weights)}")
        return 2
    n = env.system.num_neurons
    stimulus = Stimulus(jnp.asarray(pulses(args.duration, n, args.pulse)), dt=0.5, input_mode="current")

    def simulate(values):
        """The clipped soma voltages ``[cells, samples]`` and the spike count of a run with these values."""
        trial = env.with_weights(values)
        trial.clear()
        run = trial.run(args.duration, stimulus=stimulus)
        return jnp.minimum(run.voltage.values, args.clip), run.spikes.count

    truth = {name: float(env.weights[name]) for name in HIDDEN}
    recorded, recorded_spikes = jax.jit(simulate)(truth)
    initial = {HIDDEN[0]: truth[HIDDEN[0]] * args.start, HIDDEN[1]: truth[HIDDEN[1]] / args.start}
    path = []

    def remember(step, params, loss, aux):
        path.append([float(params[name]) for name in HIDDEN])

    populations = [env.network.population_gids(name) for name in env.system.populations]

    def loss(values):
        """The voltage error of each population, summed (the few INH cells count as much as the EXC ones)."""
        v = simulate(values)[0]
        return sum(losses.voltage_mse(v[rows], recorded[rows]) for rows in populations)

    result = fit(loss, initial,
                 transforms=Positive("exp"),
                 optimizer=optax.adam(optax.exponential_decay(args.learning_rate, max(args.steps, 1), 0.1)),
                 steps=args.steps, callback=remember, progress=True, log_every=10)
    recovered = {name: float(value) for name, value in result.best_params.items()}
    _, fitted_spikes = jax.jit(simulate)(recovered)

    print(f"{args.system} on {env.backend_name} ({env.model.name}), {args.duration:g} ms recorded "
          f"({int(recorded_spikes)} spikes); pathwise gradients of the voltage error (clipped at {args.clip:g} mV)")
    print(f"fit: {result.steps} Adam steps in {result.wall_time:.1f} s; loss {result.losses[0]:.4g} -> "
          f"{result.best_loss:.4g} mV^2 (best, step {result.best_step}); final {result.final_loss:.4g}")
    print(f"{'weight':<30} {'true':>10} {'start':>10} {'recovered':>10} {'error':>8}")
    errors = {}
    for name in HIDDEN:
        errors[name] = abs(recovered[name] - truth[name]) / truth[name]
        print(f"{name:<30} {truth[name]:>10.4g} {initial[name]:>10.4g} {recovered[name]:>10.4g} "
              f"{100 * errors[name]:>7.1f}%")
    print(f"spikes: recorded {int(recorded_spikes)}, fitted model {int(fitted_spikes)}")
    ok = all(error <= args.tolerance for error in errors.values())
    print(f"every weight within {100 * args.tolerance:g} % of the truth: {'PASS' if ok else 'FAIL'}")
    print(f"({time.perf_counter() - start:.1f} s wall)")
    if args.plot:
        try:
            plot(args.plot, result.losses, np.asarray(path), truth)
            print(f"saved figure to {args.plot}")
        except ImportError:
            print("matplotlib is not installed; no figure")
    env.close()
    return 0 if ok else 1


def plot(path, loss_curve, values, truth):
    """The loss curve, and each hidden value over the steps against the truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(HIDDEN), figsize=(4.5 * (1 + len(HIDDEN)), 3.6))
    axes[0].plot(loss_curve, marker=".")
    axes[0].set(title="loss", xlabel="step", ylabel="voltage MSE (mV$^2$)", yscale="log")
    for k, (ax, name) in enumerate(zip(axes[1:], HIDDEN)):
        ax.plot(values[:, k], marker=".", label="fit")
        ax.axhline(truth[name], color="k", linestyle="--", label="true")
        ax.set(title=name, xlabel="step", ylabel="weight (multiples of g_unit)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
