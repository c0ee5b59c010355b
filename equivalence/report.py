"""Same model, same answer: compare backends on single cells and on networks, write a report.

Usage: ``python equivalence/report.py [--out reports] [--seeds 10] [--duration 2000]``.
Exit status 1 when any comparison fails. Rows:

- LIF f-I against the analytic interval ``tau ln((RI + E_L - v_reset)/(RI + E_L - v_th))`` (1 %).
- Izhikevich RS and FS cells: brian2 and diffrax spike times within 3 dt over 1 s (same dt, Euler).
- RCSD single cell: diffrax and NEURON spike times within 1 % and mean |V difference| < 0.5 mV over
  200 ms at dt 0.025 ms; their f-I curves.
- EI2 networks, N seeds each: mean rate, ISI CV and active fraction. Two backends agree on a statistic
  when the difference of their means across seeds is no larger than the larger of their standard
  deviations across seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import livn
import numpy as np
from livn.backends import available
from livn.models.lif import lif_isi
from livn.testing.single_cell import current_step, interspike_intervals, spike_times

REGULAR_SPIKING = {"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0}
FAST_SPIKING = {"a": 0.1, "b": 0.2, "c": -65.0, "d": 2.0}


class Report:
    """Rows of (section, check, figures, passed)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, bool]] = []
        self.figures: dict[str, dict] = {}

    def add(self, section: str, check: str, figures: str, passed: bool) -> None:
        self.rows.append((section, check, figures, bool(passed)))
        print(f"[{'PASS' if passed else 'FAIL'}] {section}: {check}: {figures}", flush=True)

    @property
    def passed(self) -> bool:
        return all(row[3] for row in self.rows)

    def markdown(self, header: str) -> str:
        lines = [header, "", "| section | check | figures | result |", "|---|---|---|---|"]
        for section, check, figures, passed in self.rows:
            lines.append(f"| {section} | {check} | {figures} | {'pass' if passed else '**FAIL**'} |")
        n_pass = sum(r[3] for r in self.rows)
        lines += ["", f"{n_pass} passed, {len(self.rows) - n_pass} failed"]
        return "\n".join(lines) + "\n"


def lif_rows(report: Report, backends: list[str]) -> None:
    currents = [0.16, 0.2, 0.3, 0.5, 0.8]
    for backend in backends:
        measured = []
        for current in currents:
            isi = interspike_intervals(current_step(backend, "lif", "EXC", current, duration=400.0, dt=0.01))
            expected = lif_isi(current)
            got = float(np.mean(isi)) if isi.size else float("inf")
            rel = abs(got - expected) / expected
            measured.append(1000.0 / got if np.isfinite(got) else 0.0)
            report.add("LIF f-I", f"{backend}, {current} nA", f"ISI {got:.3f} ms vs analytic {expected:.3f} ms ({rel:.2%})", rel <= 0.01)
        report.figures.setdefault("lif", {})[backend] = (currents, measured)
    report.figures.setdefault("lif", {})["analytic"] = (currents, [1000.0 / lif_isi(c) for c in currents])


def izhikevich_rows(report: Report, pair: tuple[str, str]) -> None:
    dt = 0.1
    for label, kind, params in (("RS", "EXC", REGULAR_SPIKING), ("FS", "INH", FAST_SPIKING)):
        for current in (0.05, 0.1, 0.2):
            a, b = (spike_times(current_step(be, "izhikevich", kind, current, duration=1000.0, dt=dt, cell_params=params)) for be in pair)
            same_count = a.size == b.size
            worst = float(np.max(np.abs(a - b))) if same_count and a.size else (0.0 if same_count else float("inf"))
            report.add(
                "Izhikevich single cell",
                f"{label}, {current} nA: {pair[0]} vs {pair[1]}",
                f"{a.size} vs {b.size} spikes, max |dt_spike| {worst:.3f} ms (tolerance {3 * dt:.1f} ms)",
                same_count and worst <= 3 * dt,
            )


def rcsd_rows(report: Report, pair: tuple[str, str]) -> None:
    dt = 0.025
    fi: dict[str, list[float]] = {be: [] for be in pair}
    currents = [0.02, 0.03, 0.05, 0.08]
    for current in currents:
        runs = {be: current_step(be, "rcsd", "EXC", current, duration=1000.0, dt=dt, onset=100.0, voltage_dt=dt) for be in pair}
        times = {be: spike_times(r) for be, r in runs.items()}
        for be in pair:
            fi[be].append(times[be].size)
        a, b = (times[be] for be in pair)
        if a.size == b.size and a.size:
            rel = float(np.max(np.abs(a - b) / np.maximum(a, 1e-9)))
            ok = rel <= 0.01
            figures = f"{a.size} spikes each, max relative spike-time difference {rel:.3%}"
        else:
            ok = False
            figures = f"{a.size} vs {b.size} spikes"
        report.add("RCSD single cell", f"{current * 1000:.0f} pA step: {pair[0]} vs {pair[1]}", figures, ok)
        va, vb = (np.asarray(runs[be].voltage.values)[0] for be in pair)
        n = min(va.size, vb.size, int(round(200.0 / dt)))
        mean_diff = float(np.mean(np.abs(va[:n] - vb[:n])))
        report.add("RCSD single cell", f"{current * 1000:.0f} pA: mean |V diff| over 200 ms", f"{mean_diff:.4f} mV (tolerance 0.5 mV)", mean_diff < 0.5)
    report.figures["rcsd_fi"] = (currents, fi)


def network_statistics(run: livn.Run, n: int, duration: float) -> dict[str, float]:
    ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
    rate = ids.size / (n * duration / 1000.0)
    active = np.unique(ids).size / n
    cvs = []
    for gid in np.unique(ids):
        isi = np.diff(np.sort(times[ids == gid]))
        if isi.size >= 2 and isi.mean() > 0:
            cvs.append(isi.std() / isi.mean())
    return {"rate": rate, "cv": float(np.mean(cvs)) if cvs else 0.0, "active": active}


def network_rows(report: Report, model: str, pair: tuple[str, str], seeds: int, duration: float) -> None:
    stats: dict[str, list[dict[str, float]]] = {be: [] for be in pair}
    for be in pair:
        for seed in range(seeds):
            start = time.perf_counter()
            env = livn.make("EI2", backend=be, model=model, seed=seed, record=("spikes",))
            run = env.run(duration)
            stats[be].append(network_statistics(run, env.system.num_neurons, duration))
            env.close()
            print(f"  {model} EI2 {be} seed {seed}: {stats[be][-1]} ({time.perf_counter() - start:.1f} s)", flush=True)
    for key, label in (("rate", "mean rate (Hz)"), ("cv", "ISI CV"), ("active", "active fraction")):
        a = np.array([s[key] for s in stats[pair[0]]])
        b = np.array([s[key] for s in stats[pair[1]]])
        diff = abs(a.mean() - b.mean())
        spread = max(a.std(ddof=1), b.std(ddof=1)) if seeds > 1 else 0.0
        report.add(
            f"EI2 network, {model}",
            f"{label}: {pair[0]} vs {pair[1]} ({seeds} seeds, {duration:g} ms)",
            f"{a.mean():.3f} ± {a.std(ddof=1):.3f} vs {b.mean():.3f} ± {b.std(ddof=1):.3f}; |diff| {diff:.3f} vs spread {spread:.3f}",
            diff <= spread,
        )
    report.figures.setdefault("rates", {})[model] = {be: [s["rate"] for s in stats[be]] for be in pair}


def plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for name, (currents, rates) in report.figures.get("lif", {}).items():
        axes[0].plot(currents, rates, "o-" if name != "analytic" else "k--", label=name)
    axes[0].set(title="LIF f-I", xlabel="current (nA)", ylabel="rate (Hz)")
    axes[0].legend()
    if "rcsd_fi" in report.figures:
        currents, fi = report.figures["rcsd_fi"]
        for be, counts in fi.items():
            axes[1].plot(np.asarray(currents) * 1000, counts, "o-", label=be)
        axes[1].set(title="RCSD f-I (1 s steps)", xlabel="current (pA)", ylabel="rate (Hz)")
        axes[1].legend()
    positions, labels = [], []
    for k, (model, by_backend) in enumerate(report.figures.get("rates", {}).items()):
        for j, (be, rates) in enumerate(by_backend.items()):
            axes[2].boxplot(rates, positions=[3 * k + j])
            positions.append(3 * k + j)
            labels.append(f"{model}\n{be}")
    axes[2].set_xticks(positions, labels)
    axes[2].set(title="EI2 mean rate across seeds", ylabel="rate (Hz)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--duration", type=float, default=2000.0)
    args = parser.parse_args(argv)
    installed = available()
    needed = {"brian2", "diffrax", "neuron"}
    if not needed <= set(installed):
        print(f"equivalence needs the backends {sorted(needed)}; installed: {installed}", file=sys.stderr)
        return 2
    report = Report()
    start = time.perf_counter()
    lif_rows(report, ["brian2", "diffrax"])
    izhikevich_rows(report, ("brian2", "diffrax"))
    rcsd_rows(report, ("diffrax", "neuron"))
    network_rows(report, "izhikevich", ("brian2", "diffrax"), args.seeds, args.duration)
    network_rows(report, "rcsd", ("diffrax", "neuron"), args.seeds, args.duration)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(report, args.out / "equivalence.png")
    header = (
        "# Cross-backend equivalence\n\n"
        f"Generated by `nox -s equivalence` in {time.perf_counter() - start:.0f} s. "
        "Tolerances: LIF interval 1 % of the analytic value; Izhikevich spike times 3 dt (0.3 ms); "
        "RCSD spike times 1 % and mean |V difference| 0.5 mV over 200 ms at dt 0.025 ms; networks: "
        "|difference of means across seeds| <= the larger standard deviation across seeds.\n\n"
        "![f-I curves and rate distributions](equivalence.png)"
    )
    (args.out / "equivalence.md").write_text(report.markdown(header))
    print(f"wrote {args.out / 'equivalence.md'}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
