"""Training a culture with stimulation: repeated pulses at one electrode potentiate its outgoing pathway.

    python examples/stdp_training.py                          # default backend (brian2 when installed)
    python examples/stdp_training.py --backend neuron --plot training.png

1. Probe: ``--trials`` single biphasic pulses at electrode ``--channel``, each on a fresh noise seed;
   the cells that fire within 5 ms of the pulse in most trials are the *stimulated* cells, and the
   excitatory synapses they make are the *pathway*. The evoked response is the number of spikes
   of the other cells in the 50 ms after the pulse.
2. Train: STDP (livn.plasticity.STDP) on every excitatory synapse; ``--pulses`` pulses at
   ``--rate`` Hz at the same electrode. Stimulated cells fire first and their targets follow, so
   their synapses see pre-before-post pairs and strengthen; elsewhere pairs come in both orders.
3. Freeze the learned weights (disable_plasticity) and probe again on the same noise seeds.

It prints the mean pathway weight and the mean weight of the other excitatory synapses before and
after, and the evoked response before and after; ``--plot`` draws the weight distributions and the
responses. The exit status is 0 when the pathway gained relative to the rest.
"""

from __future__ import annotations

import argparse
import sys
import time

import livn
import numpy as np
from livn.encoding import BiphasicAmplitudes
from livn.plasticity import STDP

#: Spikes this soon after a pulse (ms) count as direct activation; the response window after it.
DIRECT_MS, WINDOW_MS = 5.0, 50.0
#: Amplitudes (uA) tried for the default, and the share of cells the pulse should activate directly.
LADDER = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
LOW, HIGH = 0.05, 0.5


def probe(env, encoding, action, trials, seed):
    """Spikes per cell in each trial's window, ``[trials, n]``, and the direct-activation counts ``[n]``."""
    n = env.system.num_neurons
    counts, direct = np.zeros((trials, n)), np.zeros(n)
    for trial in range(trials):
        env.clear(seed=seed + trial)
        run = env.run(WINDOW_MS, stimulus=encoding(env, action))
        ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
        counts[trial] = np.bincount(ids, minlength=n)
        direct += np.bincount(ids[times < DIRECT_MS], minlength=n) > 0
    return counts, direct


def choose_amplitude(env, channel):
    """The smallest amplitude of LADDER whose pulse directly activates at least LOW of the cells (2 trials)."""
    for amplitude in LADDER:
        action = np.zeros(env.io.num_channels)
        action[channel] = amplitude
        _, direct = probe(env, BiphasicAmplitudes(max_amplitude=amplitude), action, 2, seed=1000)
        share = float(np.mean(direct == 2))
        if share >= LOW:
            if share > HIGH:
                print(f"note: {amplitude:g} uA activates {100 * share:.0f} % of the cells directly; the pathway is most "
                      "of the culture (give a smaller --amplitude or a larger --system)")
            return amplitude
    return LADDER[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", default="EI2")
    parser.add_argument("--backend", default=None, help="backend name (default: LIVN_BACKEND, else brian2)")
    parser.add_argument("--channel", type=int, default=5, help="the electrode that trains the culture")
    parser.add_argument("--amplitude", type=float, default=None,
                        help=f"pulse amplitude, uA (default: the smallest of {', '.join(f'{a:g}' for a in LADDER)} "
                        f"that activates {100 * LOW:g} %% of the cells)")
    parser.add_argument("--trials", type=int, default=10, help="probe pulses before and after")
    parser.add_argument("--pulses", type=int, default=100, help="training pulses")
    parser.add_argument("--rate", type=float, default=5.0, help="training pulse rate, Hz")
    parser.add_argument("--a-plus", type=float, default=0.02, help="STDP step, a fraction of w_max")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plot", default=None, help="write a figure here (needs matplotlib)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    env = livn.make(args.system, backend=args.backend, seed=args.seed, record=("spikes",))
    if not env.plasticity_implementations():
        print(f"{env.backend_name} runs no plasticity rule; the brian2, diffrax and neuron backends do")
        return 2
    if args.amplitude is None:
        args.amplitude = choose_amplitude(env, args.channel)
    encoding = BiphasicAmplitudes(max_amplitude=args.amplitude)
    action = np.zeros(env.io.num_channels)
    action[args.channel] = args.amplitude
    before, direct = probe(env, encoding, action, args.trials, seed=1000)
    stimulated = np.flatnonzero(direct > args.trials / 2)
    if stimulated.size == 0:
        print(f"no cell fires within {DIRECT_MS} ms of a {args.amplitude} uA pulse at electrode {args.channel}: "
              "raise --amplitude or pick another --channel")
        return 2

    network = env.network
    excitatory = [c for c in network.classes if c.receptor in ("AMPA", "NMDA")]
    rows = np.concatenate([np.arange(c.rows.start, c.rows.stop) for c in excitatory])
    pathway = rows[np.isin(network.pre[rows], stimulated)]
    others = np.setdiff1d(rows, pathway)
    start_weights = env.get_weights().values
    env.enable_plasticity({c.weight_name: STDP(a_plus=args.a_plus) for c in excitatory})

    env.clear(seed=args.seed)
    period = 1000.0 / args.rate
    stimulus = encoding(env, action)
    for _ in range(args.pulses):
        env.run(period, stimulus=stimulus)
    env.disable_plasticity()  # the learned weights become the set ones: clear() keeps them
    learned = env.get_weights().values
    after, _ = probe(env, encoding, action, args.trials, seed=1000)

    responders = np.setdiff1d(np.arange(env.system.num_neurons), stimulated)
    evoked_before, evoked_after = before[:, responders].sum(1), after[:, responders].sum(1)
    gain_pathway = learned[pathway].mean() / start_weights[pathway].mean()
    gain_others = learned[others].mean() / start_weights[others].mean() if others.size else float("nan")
    print(f"{args.system} on {env.backend_name} ({env.model.name}); electrode {args.channel} at {args.amplitude:g} uA "
          f"stimulates {stimulated.size} cells, whose {pathway.size} excitatory synapses are the pathway "
          f"({others.size} others)")
    print(f"training: {args.pulses} pulses at {args.rate:g} Hz with STDP (a_plus={args.a_plus:g})")
    print(f"{'':<22} {'before':>10} {'after':>10} {'ratio':>8}")
    print(f"{'pathway weight':<22} {start_weights[pathway].mean():>10.4f} {learned[pathway].mean():>10.4f} {gain_pathway:>8.3f}")
    if others.size:
        print(f"{'other weights':<22} {start_weights[others].mean():>10.4f} {learned[others].mean():>10.4f} {gain_others:>8.3f}")
    print(f"{'evoked spikes/trial':<22} {evoked_before.mean():>10.1f} {evoked_after.mean():>10.1f} "
          f"{evoked_after.mean() / max(evoked_before.mean(), 1e-9):>8.3f}")
    print(f"({time.perf_counter() - start:.1f} s wall)")
    if args.plot:
        plot(args.plot, start_weights, learned, pathway, others, evoked_before, evoked_after)
        print(f"saved figure to {args.plot}")
    env.close()
    return 0 if gain_pathway > (gain_others if others.size else 1.0) else 1


def plot(path, start_weights, learned, pathway, others, evoked_before, evoked_after):
    """Weight distributions of the pathway and the rest before and after, and the evoked responses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, rows, title in ((axes[0], pathway, "pathway synapses"), (axes[1], others, "other excitatory synapses")):
        if rows.size:
            bins = np.linspace(0, max(learned[rows].max(), start_weights[rows].max()) * 1.05, 30)
            ax.hist(start_weights[rows], bins=bins, alpha=0.6, label="before")
            ax.hist(learned[rows], bins=bins, alpha=0.6, label="after")
        ax.set(title=title, xlabel="weight (multiples of g_unit)", ylabel="synapses")
        ax.legend()
    axes[2].bar(["before", "after"], [evoked_before.mean(), evoked_after.mean()],
                yerr=[evoked_before.std(), evoked_after.std()], color=["C0", "C1"])
    axes[2].set(title="evoked response", ylabel=f"spikes in {WINDOW_MS:g} ms (other cells)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
