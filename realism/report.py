"""Do livn's cultures behave like real ones? Each culture on each backend, every statistic against its band.

Usage: ``python realism/report.py [--out reports] [--quick] [--only PATTERN] [--duration MS] [--seed N] [--workers N]
[--coreneuron]``.

Each row makes a culture with its defaults (``livn.make(culture, backend=..., model=...)``), clears
it to the noise seed ``--seed`` (default 1; the cells are make()'s), runs it without stimulus for the
target set's warm-up plus ``--duration`` (default: the set's duration) and measures the run with
:func:`livn.targets.evaluate`. The E/I series (E, E5I, E3I, EI and their ``_b`` replicates) is held
to the ``bursting_in_vitro`` set, EI2 and EI3 to ``asynchronous`` (their documented behaviour).
Writes ``realism.md`` (the tables) and ``realism.png`` (a raster and the population rate of each row)
into ``--out``; exit status 1 when any row fails.

``--quick`` (the nox session ``realism``) runs the rows that take seconds: brian2 with each model on
the cultures it is tuned for (:data:`TUNED`; measured for :data:`QUICK_DURATION` ms) and EI2/EI3
with Izhikevich and LIF. The full report adds the replicates, the untuned model/culture pairs,
Izhikevich on diffrax and the RCSD rows on NEURON and diffrax, which take hours on a laptop. ``--only PATTERN`` keeps the rows
whose ``culture/backend/model`` matches the regular expression. ``--workers N`` measures N rows at once,
each in its own process (the rows are independent; the report keeps their order). ``--coreneuron``
runs the NEURON rows on CoreNEURON (``make(..., coreneuron=True)``; the same spike trains, as
``livn-neuron/tests/test_neuron_coreneuron.py`` checks).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

SERIES = ("E", "E5I", "E3I", "EI")
REPLICATES = tuple(f"{name}_b" for name in SERIES)
ASYNCHRONOUS = ("EI2", "EI3")
POINT = (("brian2", "izhikevich"), ("brian2", "lif"))
RCSD = (("neuron", "rcsd"), ("diffrax", "rcsd"))
#: The series cultures each model has tuned defaults for (livn.models); the others have generic ones.
TUNED = {"izhikevich": SERIES, "lif": SERIES}
#: Measured ms of a series row in --quick (the bursting set asks for 20 s).
QUICK_DURATION = 10_000.0


def rows(quick: bool) -> list[tuple[str, str, str, str]]:
    """``(culture, backend, model, target set)`` of every row.

    Quick: each model on the series cultures it is tuned for (:data:`TUNED`) on brian2, and EI2/EI3 with both
    point models. Full: every culture with every model on every backend that runs it, tuned or not
    (an untuned culture shows what its generic defaults do).
    """
    if quick:
        result = [(c, "brian2", m, "bursting_in_vitro") for m, cultures in TUNED.items() for c in cultures]
        return result + [(c, b, m, "asynchronous") for b, m in POINT for c in ASYNCHRONOUS]
    setups = POINT + (("diffrax", "izhikevich"),) + RCSD
    result = [(c, b, m, "bursting_in_vitro") for b, m in setups for c in SERIES + REPLICATES]
    return result + [(c, b, m, "asynchronous") for b, m in setups for c in ASYNCHRONOUS]


def measure(culture: str, backend: str, model: str, targets: str, duration: float | None, seed: int,
            coreneuron: bool = False):
    import livn
    from livn import targets as _targets

    target_set = _targets.target_set(targets)
    duration = target_set.duration if duration is None else duration
    started = time.perf_counter()
    options = {"coreneuron": True} if coreneuron and backend == "neuron" else {}
    with livn.make(culture, backend=backend, model=model, record=("spikes",), **options) as env:
        env.clear(seed=seed)  # the culture as make() builds it, the noise of this seed (as livn tune runs it)
        run = env.run(target_set.warmup + duration)
        evaluation = _targets.evaluate(env, run, target_set)
        n = int(env.system.num_neurons)
    return evaluation, run.slice(target_set.warmup, run.duration), n, time.perf_counter() - started


def table(results: list[tuple], target: str) -> list[str]:
    from livn import targets as _targets

    target_set = _targets.target_set(target)
    mine = [r for r in results if r[3] == target]
    if not mine:
        return []
    names = target_set.statistics
    lines = [
        f"## {target}",
        "",
        target_set.description,
        "",
        "Sources: " + " ".join(target_set.sources),
        "",
        "| culture | backend | model | " + " | ".join(names) + " | all |",
        "|---" * (len(names) + 4) + "|",
        "| band | | | " + " | ".join(target_set[n].describe() for n in names) + " | |",
    ]
    for culture, backend, model, _, evaluation, _, _, _ in mine:
        cells = []
        for row in evaluation.rows:
            value = "undefined" if math.isnan(row.value) else f"{row.value:.3g}"
            cells.append(value if row.passed else f"**{value}** FAIL")
        lines.append(
            f"| {culture} | {backend} | {model} | " + " | ".join(cells) + f" | {'pass' if evaluation.passed else 'FAIL'} |"
        )
    return lines + [""]


def figure(results: list[tuple], path: Path, window: float = 10_000.0) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 1.6 * len(results) + 0.5))
    axes = np.atleast_1d(fig.subplots(len(results), 1, squeeze=False)[:, 0])
    for ax, (culture, backend, model, target, evaluation, run, n, _) in zip(axes, results):
        ids = np.asarray(run.spikes.ids)
        times = np.asarray(run.spikes.times)
        keep = times < window  # the first 10 s after the warm-up
        ax.plot(times[keep], ids[keep], ",", color="black", rasterized=True)
        twin = ax.twinx()
        counts, edges = np.histogram(times[keep], bins=np.arange(0.0, window + 10.0, 10.0))
        twin.plot(edges[:-1], counts / (n * 0.01), color="tab:red", lw=0.8)
        twin.set_ylabel("Hz/cell", fontsize=7)
        ax.set_xlim(0, min(window, run.duration))
        ax.set_ylabel("gid", fontsize=7)
        verdict = "pass" if evaluation.passed else "fail: " + ", ".join(evaluation.failed)
        ax.set_title(f"{culture} on {backend} ({model}) vs {target}: {verdict}", fontsize=8)
    axes[-1].set_xlabel("ms after the warm-up")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--quick", action="store_true", help="the rows that take seconds (brian2)")
    parser.add_argument("--only", default=None, help="regular expression on culture/backend/model")
    parser.add_argument("--duration", type=float, default=None, help="measured ms per row (default: the set's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="rows measured at once, one process each")
    parser.add_argument("--coreneuron", action="store_true",
                        help="NEURON rows on CoreNEURON (the same spikes, about twice as fast)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    selected = rows(args.quick)
    if args.only:
        pattern = re.compile(args.only)
        selected = [r for r in selected if pattern.search("/".join(r[:3]))]
        if not selected:
            parser.error(f"--only {args.only!r} matches no row")
    durations = [
        QUICK_DURATION if args.duration is None and args.quick and target == "bursting_in_vitro" else args.duration
        for *_, target in selected
    ]
    results = []
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = [pool.submit(measure, *row, duration, args.seed, args.coreneuron) for row, duration in zip(selected, durations)]
        for (culture, backend, model, target), future in zip(selected, pending):
            evaluation, run, n, seconds = future.result()
            verdict = "pass" if evaluation.passed else "FAIL " + ", ".join(evaluation.failed)
            print(f"{culture}/{backend}/{model} vs {target}: {verdict} ({seconds:.0f} s)", flush=True)
            results.append((culture, backend, model, target, evaluation, run, n, seconds))
    args.out.mkdir(parents=True, exist_ok=True)
    passed = all(r[4].passed for r in results)
    lines = [
        "# Realism: livn's cultures against in vitro target statistics",
        "",
        "Written by `python realism/report.py" + (" --quick" if args.quick else "")
        + (f" --only '{args.only}'" if args.only else "") + (f" --duration {args.duration:g}" if args.duration else "")
        + (" --coreneuron" if args.coreneuron else "") + "`"
        + f" (noise seed {args.seed}). Each row is one spontaneous run of the culture with its defaults, measured "
        "after the set's warm-up with `livn.targets.evaluate`; a value in bold is outside its band. "
        f"Overall: {'every row passes' if passed else 'some rows FAIL'}.",
        "",
    ]
    for target in ("bursting_in_vitro", "asynchronous"):
        lines += table(results, target)
    lines += ["![rasters](realism.png)", ""]
    (args.out / "realism.md").write_text("\n".join(lines))
    figure(results, args.out / "realism.png")
    print(f"wrote {args.out / 'realism.md'} and {args.out / 'realism.png'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
