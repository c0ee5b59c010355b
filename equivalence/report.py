"""Same model, same answer: every backend against references no backend wrote, and backends against each other.

Usage: ``python equivalence/report.py [--out reports] [--seeds 10] [--duration 2000] [--plastic-seeds 4] [--plastic-rcsd-seeds 2] [--check-committed] [--only PATTERN]``.
``--only PATTERN`` runs the row groups whose name matches the regular expression (names: ``lif``,
``izhikevich``, ``glif``, ``rcsd``, ``izhikevich-network``, ``rcsd-network``, ``rcsd-series``, ``stdp-window``, ``stp``,
``stdp-network``, ``optogenetics``, ``optogenetics-network``, ``recruitment``), prints their rows and writes no report.
Exit status 1 when any row fails, or (with ``--check-committed``) when the rows differ from those of
the report committed in ``--out`` (then the new report is written for you to commit). Rows, with the
rule each one applies (also written in the report's header):

- LIF single cell, each backend against the analytic interval: at least 3 spikes, and every
  interval within one step (0.01 ms) of ``tau ln((RI + E_L - v_reset)/(RI + E_L - v_th))``.
- GLIF single cells (levels 1-5, 0.35 and 0.6 nA, dt 0.01 ms), each backend against scipy's integration
  of the continuous equations (:func:`livn.models.glif.glif_reference_spike_times`, exact crossings):
  at least 5 spikes, the first within one step, every interval within one step, the spike count within
  one (the fixed-step lag of up to a step per interval may push the last spike out); brian2 and diffrax
  against each other spike for spike (the same exact step, times within half a step); and the diffrax
  event-driven spike times (:mod:`livn_diffrax.event_driven`) against scipy within 1e-6 ms.
- Izhikevich single cells, each backend against a plain-Python reference of the scheme
  (:func:`livn.testing.single_cell.izhikevich_reference`): the same number of spikes (at least 3), and
  every spike within 3 steps where the train is well-conditioned (a 1e-12 change of the initial state
  moves no reference spike by more); else the mean interval within 1 %.
- RCSD single cells, each backend against the NEURON vectors of RCSD.md 7.3
  (:mod:`livn.testing.rcsd_vectors`), and diffrax against NEURON spike by spike (ms) and in voltage
  (mean and max |difference| while the current step is on).
- EI2 RCSD networks: diffrax and NEURON draw the same noise for a seed, so their spikes must be the
  same, seed by seed (same gids, times within half a step).
- The E culture with its RCSD defaults (strong excitation, EXC->EXC depression), 1 s, seed 0: the
  same network bursts (:mod:`livn.targets`' detection: at least one, the same onsets, spike counts
  within 1 %), and at least 99.9 % of each backend's spikes have a partner in the other's (same gid)
  within 1 ms. Not identical: thousands of cells fire within a few ms in a burst, and roundoff moves
  some spikes by a step or two from there on (the row prints where the trains first differ).
- EI2 Izhikevich networks: brian2 and diffrax draw independent noise, so statistics of N seeds are
  compared by an equivalence test (two one-sided Welch t-tests, 90 % confidence interval of the
  difference inside the stated margin): mean rate, spread of per-cell rates, ISI CV, pairwise
  correlation of cells. A control row shows the test has power: it must find brian2 with its excitatory
  weights raised by 20 % *not* equivalent to brian2 at the defaults.
- STDP window, each backend and model against the analytic window (:mod:`livn.testing.plasticity`):
  60 pairings at 1 Hz per timing, t_post - t_arrival from -50 to +50 ms; the learned weight of every
  pair within 5 % of one pairing's change of the analytic weight after the realised pairings (both
  receptors), potentiation for every positive and depression for every negative timing.
- Tsodyks-Markram, each backend and model: a 20 Hz train of 10 spikes through a depressing
  (U 0.5, tau_rec 800 ms) and a facilitating (U 0.1, tau_rec 100 ms, tau_facil 500 ms) synapse; every
  conductance peak over the first within 2 % of the analytic recursion.
- EI2 with STDP on every excitatory synapse for 10 s (a_plus 0.01), backends against each other
  (Izhikevich: brian2 and diffrax, 4 seeds; RCSD: diffrax and NEURON, 2 seeds): the mean and the
  10th, 50th and 90th percentiles of the final excitatory weights over their initial ones, averaged
  over seeds, differ between backends by less than twice the seed-to-seed standard deviation (pooled).
- Opsin photocurrents, each backend and model, ChR2 and GtACR2 (:mod:`livn.testing.optogenetics`): one
  noiseless cell under a 1 s step of 5 mW/mm2 of 473 nm light; the recorded photocurrent's peak and
  its steady state (end of the step) each within 2 % of scipy's integration of the four-state model
  (:mod:`livn.optogenetics.reference`, Radau, rtol 1e-10) along the cell's voltage.
- EI2 under light, each backend's default model, seeds 1 and 3: the opsin in the EXC cells, 0.5 mW
  from each fibre of a 100 um grid under the culture; the EXC cells fire on their own before the light
  (above 1 Hz in 50-150 ms), and their mean rate under light (150-300 ms) over that rate is above 2
  for ChR2 and below 0.5 for GtACR2, every seed.
- EI3 recruitment (:mod:`livn.recruitment`, ``equivalence/recruitment.py``), noise off: one biphasic
  pulse (0.2 ms phases, cathodic first) of 1-100 uA (9 log-spaced amplitudes) on the electrode with the
  most cells within 100 um; NEURON's RCSD culture is the reference (its 50 % threshold of the near
  cells between 1 and 100 uA), and every other backend and model has its 50 % threshold within a
  factor of 1.5 of the reference's and its selectivity (the amplitude firing 10 % of the cells beyond
  400 um, over that threshold) within a factor of 2 (a point neuron feels the potential at its soma,
  an RCSD cell the difference along it: the curves differ in shape whatever the coupling's scale). Then a train of 10 pulses at the documented 30 uA, 50 ms apart
  from 200 ms on, noise on: at least 0.3 spikes per near cell and pulse within 10 ms, beyond a control
  run of the same seed, and at least 3 times the far cells' figure. The figure also shows curves with the noise on
  (200 ms after the start, the excess over a control run of the same seed).
"""

from __future__ import annotations

import argparse
import datetime
import math
import multiprocessing
import os
import platform
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

import livn
import numpy as np
from livn import targets
from livn.backends import available
from livn.decoding import ISICV
from livn.models.glif import GLIF_LEVELS, glif_reference_spike_times
from livn.models.lif import lif_isi
from livn.plasticity import STDP, TsodyksMarkram
from livn.testing import rcsd_vectors
from livn.testing.optogenetics import network_light_rates, photocurrent_step
from livn.testing.plasticity import stdp_pairing, tsodyks_markram_train
from livn.testing.single_cell import current_step, interspike_intervals, izhikevich_reference, spike_times
from recruitment import recruitment_rows  # equivalence/recruitment.py, beside this script
from scipy import stats

REGULAR_SPIKING = {"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0}
FAST_SPIKING = {"a": 0.1, "b": 0.2, "c": -65.0, "d": 2.0}
#: Distributions whose versions the header names.
VERSIONED = ("livn-core", "livn-brian2", "livn-diffrax", "livn-neuron", "brian2", "jax", "jaxlib", "diffrax",
             "equinox", "NEURON", "numpy", "scipy")


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

    def table(self) -> list[str]:
        """The result table's lines (what ``--check-committed`` compares)."""
        lines = ["| section | check | figures | result |", "|---|---|---|---|"]
        for section, check, figures, passed in self.rows:
            # "|x|" in the figures would split the table's cells
            cells = (text.replace("|", "\\|") for text in (section, check, figures))
            lines.append(f"| {' | '.join(cells)} | {'pass' if passed else '**FAIL**'} |")
        n_pass = sum(r[3] for r in self.rows)
        return [*lines, "", f"{n_pass} passed, {len(self.rows) - n_pass} failed"]

    def markdown(self, header: str) -> str:
        return "\n".join([header, "", TABLE_START, *self.table()]) + "\n"


TABLE_START = "<!-- results: regenerated by `nox -s equivalence`, which fails when they change -->"


# -- single cells against references ------------------------------------------------------------


#: Differences below this (ms, or relative) print as "< 1e-09": they are rounding noise (a 4e-12 ms
#: spike-time difference, a 4e-14 relative error), whose digits differ between CPUs, and the committed
#: report must regenerate to the same text on any machine. Pass or fail is decided on the exact values.
NOISE_FLOOR = 1e-9


def above(value: float, spec: str, floor: float = NOISE_FLOOR) -> str:
    """``value`` formatted with ``spec``, or ``< floor`` when it is smaller (:data:`NOISE_FLOOR`)."""
    return f"< {floor:.0e}" if abs(value) < floor else format(value, spec)


def train_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest spike-time difference (ms) of two trains; inf when their spike counts differ."""
    if a.size != b.size:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def lif_rows(report: Report, backends: list[str]) -> None:
    currents = [0.16, 0.2, 0.3, 0.5, 0.8]
    dt = 0.01
    for backend in backends:
        measured = []
        for current in currents:
            isi = interspike_intervals(current_step(backend, "lif", "EXC", current, duration=400.0, dt=dt))
            expected = lif_isi(current)
            worst = float(np.max(np.abs(isi - expected))) if isi.size else float("inf")
            measured.append(1000.0 / float(np.mean(isi)) if isi.size else 0.0)
            report.add(
                "LIF single cell vs analytic",
                f"{backend}, {current} nA",
                f"{isi.size + 1 if isi.size else 0} spikes; max |ISI - analytic {expected:.3f} ms| {worst:.4f} ms "
                f"(tolerance one step, {dt} ms)",
                isi.size >= 2 and worst <= dt + 1e-9,
            )
        report.figures.setdefault("lif", {})[backend] = (currents, measured)
    report.figures.setdefault("lif", {})["analytic"] = (currents, [1000.0 / lif_isi(c) for c in currents])


GLIF_CURRENTS = (0.35, 0.6)  # nA: 1.4x and 2.3x the rheobase of the defaults (0.256 nA)
GLIF_DT = 0.01  # ms
GLIF_DURATION = 300.0  # ms
GLIF_EXACT_TOLERANCE = 1e-6  # ms: event-driven vs scipy (measured ~1e-10)


def glif_rows(report: Report, backends: list[str]) -> None:
    """GLIF levels 1-5 on each backend against scipy, and backends against each other (module docstring)."""
    dt, duration = GLIF_DT, GLIF_DURATION
    for level in GLIF_LEVELS:
        for current in GLIF_CURRENTS:
            reference = glif_reference_spike_times(level, current, duration)
            trains = {}
            for backend in backends:
                got = spike_times(current_step(backend, f"glif{level}", "EXC", current, duration=duration, dt=dt))
                trains[backend] = got
                n = min(got.size, reference.size)
                first = abs(float(got[0] - reference[0])) if n else float("inf")
                worst = float(np.max(np.abs(np.diff(got[:n]) - np.diff(reference[:n])))) if n > 1 else float("inf")
                report.add(
                    "GLIF single cell vs scipy",
                    f"{backend}, glif{level}, {current} nA",
                    f"{got.size} spikes (reference {reference.size}); |first - ref| {first:.4f} ms, "
                    f"max |ISI - ref ISI| {worst:.4f} ms (tolerance one step, {dt} ms)",
                    reference.size >= 5 and abs(got.size - reference.size) <= 1 and first <= dt + 1e-9
                    and worst <= dt + 1e-9,
                )
            if len(backends) >= 2:
                a, b = backends[:2]
                distance = train_distance(trains[a], trains[b])
                report.add(
                    "GLIF single cell, backends",
                    f"{a} vs {b}, glif{level}, {current} nA",
                    f"{trains[a].size} and {trains[b].size} spikes, max |t_{a} - t_{b}| {above(distance, '.2e')} ms "
                    f"(tolerance half a step, {dt / 2} ms)",
                    distance <= dt / 2,
                )
            if "diffrax" in backends:
                from livn_diffrax.event_driven import spike_times as exact_spike_times

                train = exact_spike_times({}, current, duration, level=level, max_spikes=reference.size + 8)
                exact = np.asarray(train.times)[: int(train.count)]
                distance = train_distance(exact, reference)
                report.add(
                    "GLIF single cell, event-driven vs scipy",
                    f"diffrax event-driven, glif{level}, {current} nA",
                    f"{exact.size} spikes (reference {reference.size}), max |t - t_ref| {above(distance, '.1e')} ms "
                    f"(tolerance {GLIF_EXACT_TOLERANCE:.0e} ms)",
                    reference.size >= 5 and distance <= GLIF_EXACT_TOLERANCE,
                )


def izhikevich_rows(report: Report, backends: list[str]) -> None:
    """Each backend against the plain-Python reference of the scheme (see the module docstring)."""
    dt, duration = 0.1, 1000.0
    tolerance = 3 * dt
    for label, kind, params in (("RS", "EXC", REGULAR_SPIKING), ("FS", "INH", FAST_SPIKING)):
        for current in (0.05, 0.1, 0.2):
            reference = izhikevich_reference(params, current, duration, dt)
            shifts = [
                train_distance(reference, izhikevich_reference(params, current, duration, dt, dv0=dv0, du0=du0))
                for dv0, du0 in ((1e-12, 0.0), (-1e-12, 0.0), (0.0, 1e-12), (0.0, -1e-12))
            ]
            conditioned = max(shifts) <= tolerance
            for backend in backends:
                run = current_step(backend, "izhikevich", kind, current, duration=duration, dt=dt, cell_params=params)
                got = spike_times(run)
                figures = f"{got.size} spikes (reference {reference.size})"
                enough = reference.size >= 3 and got.size == reference.size
                if conditioned:
                    worst = train_distance(got, reference)
                    figures += f", max |t - t_ref| {worst:.3f} ms (tolerance 3 dt = {tolerance:.1f} ms)"
                    passed = enough and worst <= tolerance
                else:
                    mean_got = float(np.mean(np.diff(got))) if got.size > 1 else float("nan")
                    mean_ref = float(np.mean(np.diff(reference)))
                    rel = abs(mean_got - mean_ref) / mean_ref
                    figures += (
                        f"; ill-conditioned (a 1e-12 change of v0/u0 moves a reference spike {max(shifts):.2f} ms), "
                        f"so mean ISI {mean_got:.3f} vs {mean_ref:.3f} ms ({rel:.2%}, tolerance 1 %)"
                    )
                    passed = enough and rel <= 0.01
                report.add("Izhikevich single cell vs reference", f"{backend}, {label}, {current} nA", figures, passed)


def upward_crossings(values: np.ndarray, dt: float, threshold: float) -> np.ndarray:
    """Times (ms) where a trace sampled every ``dt`` ms crosses ``threshold`` upwards, linearly interpolated."""
    below, above = values[:-1] < threshold, values[1:] >= threshold
    k = np.flatnonzero(below & above)
    fraction = (threshold - values[k]) / (values[k + 1] - values[k])
    return (k + fraction) * dt


#: RCSD single-cell tolerances against the RCSD.md vectors, as in the backends' vector tests (reasons there).
RCSD_REST_TOLERANCE = 2e-4  # mV: twice the spec's own agreement on this relaxation (measured 7.6e-5 at dt 0.025)
RCSD_RENSHAW_REST_TOLERANCE = 1e-4  # mV: the vector has 4 decimals (measured 4.2e-5)
RCSD_STEP_TOLERANCE = 0.1  # ms: one sample of the vector's 0.1 ms trace (measured 0.075 ms at dt 0.025)
RCSD_RENSHAW_TOLERANCE = 0.15  # ms at the vector's dt 0.001: its 0.1 ms sampling plus 0.05 (measured 0.083)
#: diffrax against NEURON, same scheme and step: rounding-level agreement (measured 0 ms, 0.0000 / 0.0046 mV)
RCSD_PAIR_SPIKE_TOLERANCE = 0.001  # ms
RCSD_PAIR_VOLTAGE_TOLERANCE = (0.001, 0.05)  # mV: mean and max |V difference| while the step is on


def rcsd_rows(report: Report, pair: tuple[str, str]) -> None:
    dt = 0.025
    rest, step, renshaw = rcsd_vectors.MN_REST, rcsd_vectors.MN_STEP, rcsd_vectors.RENSHAW_STEP
    traces: dict[str, np.ndarray] = {}
    for backend in pair:
        run = current_step(backend, "rcsd", "EXC", 0.0, duration=500.0, dt=dt, voltage_dt=dt)
        v = np.asarray(run.voltage.values)[0]
        worst = max(abs(v[int(round(t / dt))] - value) for t, value in rest.items())
        report.add("RCSD single cell vs RCSD.md 7.3", f"{backend}, MN at rest: V_s at {', '.join(f'{t:g}' for t in rest)} ms",
                   f"max |V - vector| {worst:.1e} mV (tolerance {RCSD_REST_TOLERANCE:g} mV)", worst <= RCSD_REST_TOLERANCE)

        run = current_step(backend, "rcsd", "EXC", step["amplitude"], duration=1200.0, dt=dt, onset=step["onset"],
                           offset=step["offset"], voltage_dt=dt)
        v = np.asarray(run.voltage.values)[0]
        traces[backend] = v
        crossings = upward_crossings(v, dt, -37.0)
        expected = step["dt_0.025"]
        if crossings.size == len(step["fine"]):
            worst = max(abs(crossings[i] - t) for i, t in expected.items())
            figures = f"{crossings.size} spikes (vector 9); spikes 1, 2, 3, 9 within {worst:.3f} ms"
        else:
            worst = float("inf")
            figures = f"{crossings.size} spikes (vector 9)"
        report.add("RCSD single cell vs RCSD.md 7.3", f"{backend}, MN +50 pA step at dt {dt}: crossings of -37 mV",
                   f"{figures} (tolerance {RCSD_STEP_TOLERANCE} ms)", worst <= RCSD_STEP_TOLERANCE)

        fine_dt = 0.001  # the vector's own step: at 0.005 the scheme's drift alone reaches ~1 ms by the 8th spike
        run = current_step(backend, "rcsd", "INH", renshaw["amplitude"], duration=700.0, dt=fine_dt,
                           onset=renshaw["onset"], offset=renshaw["offset"], voltage_dt=fine_dt)
        v = np.asarray(run.voltage.values)[0]
        crossings = upward_crossings(v, fine_dt, -20.0)
        rest_error = abs(v[int(round(99.0 / fine_dt))] - rcsd_vectors.RENSHAW_REST_99MS)
        n = len(renshaw["fine"])
        worst = float(np.max(np.abs(crossings[:n] - renshaw["fine"]))) if crossings.size == renshaw["count"] else float("inf")
        report.add(
            "RCSD single cell vs RCSD.md 7.3",
            f"{backend}, Renshaw +30 pA step at dt {fine_dt}: crossings of -20 mV, rest at 99 ms",
            f"{crossings.size} spikes (vector {renshaw['count']}); first {n} within {worst:.3f} ms "
            f"(tolerance {RCSD_RENSHAW_TOLERANCE} ms); |V(99 ms) - vector| {rest_error:.1e} mV "
            f"(tolerance {RCSD_RENSHAW_REST_TOLERANCE:g} mV)",
            worst <= RCSD_RENSHAW_TOLERANCE and rest_error <= RCSD_RENSHAW_REST_TOLERANCE,
        )

    a, b = (upward_crossings(traces[be], dt, -37.0) for be in pair)
    worst = train_distance(a, b)
    report.add("RCSD single cell, backends", f"MN +50 pA: {pair[0]} vs {pair[1]} spike by spike",
               f"{a.size} vs {b.size} spikes, max |dt| {worst:.4f} ms (tolerance {RCSD_PAIR_SPIKE_TOLERANCE} ms)",
               a.size > 0 and worst <= RCSD_PAIR_SPIKE_TOLERANCE)
    on = slice(int(step["onset"] / dt), int(step["offset"] / dt))
    diff = np.abs(traces[pair[0]][on] - traces[pair[1]][on])
    mean_tol, max_tol = RCSD_PAIR_VOLTAGE_TOLERANCE
    report.add("RCSD single cell, backends", f"MN +50 pA: {pair[0]} vs {pair[1]} soma voltage while the step is on",
               f"mean |dV| {diff.mean():.4f} mV (tolerance {mean_tol}), max |dV| {diff.max():.4f} mV (tolerance {max_tol})",
               diff.mean() <= mean_tol and diff.max() <= max_tol)
    report.figures["rcsd_traces"] = {be: traces[be] for be in pair}


# -- networks -------------------------------------------------------------------------------------


def rcsd_network_rows(report: Report, pair: tuple[str, str], seeds: int, duration: float) -> None:
    """Same noise, same spikes: seed by seed."""
    dt = 0.025
    identical, worst_dt, counts, rates = 0, 0.0, [], {be: [] for be in pair}
    for seed in range(seeds):
        trains = {}
        for be in pair:
            start = time.perf_counter()
            env = livn.make("EI2", backend=be, model="rcsd", seed=seed, record=("spikes",))
            run = env.run(duration)
            trains[be] = (np.asarray(run.spikes.ids), np.asarray(run.spikes.times))
            rates[be].append(len(run.spikes) / (env.system.num_neurons * duration / 1000.0))
            env.close()
            print(f"  rcsd EI2 {be} seed {seed}: {len(run.spikes)} spikes ({time.perf_counter() - start:.1f} s)", flush=True)
        (ia, ta), (ib, tb) = (trains[be] for be in pair)
        oa, ob = np.lexsort((ta, ia)), np.lexsort((tb, ib))
        same = ia.size == ib.size and np.array_equal(ia[oa], ib[ob])
        shift = float(np.max(np.abs(ta[oa] - tb[ob]))) if same and ia.size else (0.0 if same else float("inf"))
        identical += same and shift <= dt / 2
        worst_dt = max(worst_dt, shift)
        counts.append(f"{ia.size}/{ib.size}")
    report.add(
        "EI2 network, RCSD, shared noise",
        f"{pair[0]} vs {pair[1]}: identical spikes seed by seed ({seeds} seeds, {duration:g} ms)",
        f"{identical}/{seeds} seeds identical (same gids, times within dt/2 = {dt / 2} ms; worst {above(worst_dt, '.2g', 1e-6)} ms); "
        f"spikes per seed {', '.join(counts)}",
        identical == seeds,
    )
    report.figures.setdefault("rates", {})["rcsd"] = rates


#: The series culture row: E with its RCSD defaults for SERIES_DURATION ms, noise seed SERIES_SEED; the
#: share of each backend's spikes that must have a partner in the other's (same gid, within
#: SERIES_TOLERANCE ms), and how close the network bursts' spike counts must be.
SERIES_DURATION = 1000.0
SERIES_SEED = 0
SERIES_MATCHED = 0.999
SERIES_TOLERANCE = 1.0
SERIES_BURST_SPIKES = 0.01


def matched_share(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], tolerance: float) -> float:
    """The share of the spikes of ``b`` (ids, times) that have a spike of the same cell in ``a`` within ``tolerance`` ms."""
    (ia, ta), (ib, tb) = a, b
    if tb.size == 0:
        return 1.0
    if ta.size == 0:
        return 0.0
    span = float(max(ta.max(), tb.max())) + 2 * tolerance + 1.0  # keys gid * span + t never overlap between cells
    keys = np.sort(ia.astype(np.float64) * span + ta)
    wanted = ib.astype(np.float64) * span + tb
    at = np.searchsorted(keys, wanted)
    nearest = np.minimum(np.abs(keys[np.clip(at, 0, keys.size - 1)] - wanted),
                         np.abs(keys[np.clip(at - 1, 0, keys.size - 1)] - wanted))
    return float(np.mean(nearest <= tolerance))


def first_divergence(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], tolerance: float) -> float:
    """The time (ms) of the first spike, in time order, where two trains differ (gid, or time by more than ``tolerance``)."""
    (ia, ta), (ib, tb) = a, b
    oa, ob = np.lexsort((ia, ta)), np.lexsort((ib, tb))
    n = min(ia.size, ib.size)
    differs = (ia[oa][:n] != ib[ob][:n]) | (np.abs(ta[oa][:n] - tb[ob][:n]) > tolerance)
    if differs.any():
        return float(min(ta[oa][np.argmax(differs)], tb[ob][np.argmax(differs)]))
    return math.inf if ia.size == ib.size else float(min(ta[oa][n:].min(initial=math.inf), tb[ob][n:].min(initial=math.inf)))


def rcsd_series_rows(report: Report, pair: tuple[str, str]) -> None:
    """The E culture with its bursting RCSD defaults: the same bursts on both backends, spikes within a millisecond."""
    dt = 0.025
    trains, bursts = {}, []
    for be in pair:
        start = time.perf_counter()
        with livn.make("E", backend=be, model="rcsd", seed=SERIES_SEED, record=("spikes",)) as env:
            run = env.run(SERIES_DURATION)
            trains[be] = (np.asarray(run.spikes.ids), np.asarray(run.spikes.times))
            bursts.append(targets.Measurement(env, run).bursts)
        print(f"  rcsd E {be}: {len(run.spikes)} spikes ({time.perf_counter() - start:.1f} s)", flush=True)
    a, b = (trains[be] for be in pair)
    exact = min(matched_share(b, a, dt / 2), matched_share(a, b, dt / 2))
    close = min(matched_share(b, a, SERIES_TOLERANCE), matched_share(a, b, SERIES_TOLERANCE))
    first = first_divergence(a, b, dt / 2)
    (onsets_a, spikes_a), (onsets_b, spikes_b) = ((x["onsets"], x["spikes"]) for x in bursts)
    same_bursts = (
        onsets_a.size >= 1 and np.array_equal(onsets_a, onsets_b)
        and bool(np.all(np.abs(spikes_a - spikes_b) <= SERIES_BURST_SPIKES * np.maximum(spikes_a, spikes_b)))
    )
    report.add(
        "E culture, RCSD with its bursting defaults, shared noise",
        f"{pair[0]} vs {pair[1]}: the same network bursts, spikes within {SERIES_TOLERANCE:g} ms "
        f"({SERIES_DURATION:g} ms, seed {SERIES_SEED})",
        f"spikes {a[0].size}/{b[0].size}, identical until {first:.1f} ms; with a partner in the other (same gid) within "
        f"{SERIES_TOLERANCE:g} ms: {close:.3%} (wanted >= {SERIES_MATCHED:.1%}), within dt/2: {exact:.2%}; bursts at "
        f"{', '.join(f'{t:g}' for t in onsets_a)} / {', '.join(f'{t:g}' for t in onsets_b)} ms of "
        f"{', '.join(f'{n:g}' for n in spikes_a)} / {', '.join(f'{n:g}' for n in spikes_b)} spikes "
        f"(wanted: at least one, the same onsets, spikes within {SERIES_BURST_SPIKES:.0%})",
        close >= SERIES_MATCHED and same_bursts,
    )


def network_statistics(env: livn.Env, run: livn.Run, duration: float) -> dict[str, float]:
    n = env.system.num_neurons
    ids = np.asarray(run.spikes.ids, dtype=np.int64)
    per_cell = np.bincount(ids, minlength=n) / (duration / 1000.0)
    return {
        "rate": float(per_cell.mean()),
        "rate_spread": float(per_cell.std()),
        "cv": float(ISICV(duration)(env, run)[0]),
        "correlation": pairwise_correlation(ids, np.asarray(run.spikes.times), n, duration, bin_size=10.0),
    }


def pairwise_correlation(ids: np.ndarray, times: np.ndarray, n: int, duration: float, bin_size: float) -> float:
    """Mean Pearson correlation of the binned spike counts over all pairs of cells that spiked."""
    counts = np.zeros((n, int(duration // bin_size)))
    inside = times < counts.shape[1] * bin_size
    np.add.at(counts, (ids[inside], (times[inside] // bin_size).astype(np.int64)), 1.0)
    varying = counts[counts.std(axis=1) > 0]
    upper = np.triu_indices(varying.shape[0], 1)
    return float(np.corrcoef(varying)[upper].mean())


#: Equivalence margins of the independent-noise network rows: a difference a user would care about.
MARGINS = {
    "rate": ("mean rate (Hz)", "relative", 0.05),
    "rate_spread": ("std of per-cell rates (Hz)", "relative", 0.10),
    "cv": ("ISI CV", "absolute", 0.05),
    "correlation": ("mean pairwise correlation of cells (10 ms bins)", "absolute", 0.015),
}


def equivalence_test(a: np.ndarray, b: np.ndarray, margin: float) -> tuple[float, float, float, bool]:
    """Two one-sided Welch t-tests at 5 %: ``(difference, ci_low, ci_high, equivalent)`` (90 % CI inside ±margin)."""
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(np.sqrt(va + vb))
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if se > 0 else float(a.size + b.size - 2)
    half = float(stats.t.ppf(0.95, dof)) * se
    return diff, diff - half, diff + half, bool(-margin < diff - half and diff + half < margin)


def izhikevich_network_rows(report: Report, pair: tuple[str, str], seeds: int, duration: float) -> None:
    samples: dict[str, list[dict[str, float]]] = {}
    variants = {pair[0]: (pair[0], 1.0), pair[1]: (pair[1], 1.0), "control": (pair[0], 1.2)}
    for label, (be, scale) in variants.items():
        samples[label] = []
        for seed in range(seeds):
            env = livn.make("EI2", backend=be, model="izhikevich", seed=seed, record=("spikes",))
            if scale != 1.0:
                excitatory = {n: env.weights[n] * scale for n in env.weight_names if "AMPA" in n or "NMDA" in n}
                env.set_weights(excitatory)
            run = env.run(duration)
            samples[label].append(network_statistics(env, run, duration))
            env.close()
        print(f"  izhikevich EI2 {label}: {samples[label][0]} (seed 0)", flush=True)
    for key, (label, kind, size) in MARGINS.items():
        a, b = (np.array([s[key] for s in samples[be]]) for be in pair)
        margin = size * (a.mean() + b.mean()) / 2 if kind == "relative" else size
        diff, low, high, equivalent = equivalence_test(a, b, margin)
        report.add(
            "EI2 network, Izhikevich, independent noise",
            f"{label}: {pair[0]} vs {pair[1]} ({seeds} seeds, {duration:g} ms)",
            f"{a.mean():.3f} ± {a.std(ddof=1):.3f} vs {b.mean():.3f} ± {b.std(ddof=1):.3f}; difference {diff:+.3f}, "
            f"90 % CI [{low:+.3f}, {high:+.3f}] within ±{margin:.3f} ({size:g}{' of the mean' if kind == 'relative' else ''})",
            equivalent,
        )
    base = np.array([s["rate"] for s in samples[pair[0]]])
    control = np.array([s["rate"] for s in samples["control"]])
    margin = MARGINS["rate"][2] * (base.mean() + control.mean()) / 2
    diff, low, high, equivalent = equivalence_test(control, base, margin)
    report.add(
        "EI2 network, Izhikevich, independent noise",
        f"control: the mean-rate test finds {pair[0]} with excitatory weights x1.2 not equivalent to the defaults",
        f"{control.mean():.3f} vs {base.mean():.3f} Hz; difference {diff:+.3f}, 90 % CI [{low:+.3f}, {high:+.3f}] vs ±{margin:.3f}",
        not equivalent,
    )
    report.figures.setdefault("rates", {})["izhikevich"] = {be: [s["rate"] for s in samples[be]] for be in pair}


# -- plasticity ---------------------------------------------------------------------------------------

STDP_TIMINGS = (-50.0, -30.0, -20.0, -10.0, -5.0, -2.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0)


def stdp_window_rows(report: Report, cases: list[tuple[str, str]]) -> None:
    """Each (backend, model) against the analytic window, 60 pairings per timing."""
    for backend, model in cases:
        result = stdp_pairing(backend, model, STDP_TIMINGS, pairings=60, period=1000.0)
        error = float(result.error.max())
        signs = np.sign(result.w_final - result.w0)
        right_sign = bool(np.all(signs[result.target > 0] > 0) and np.all(signs[result.target < 0] < 0))
        report.add(
            "STDP window vs analytic",
            f"{backend}, {model}: 60 pairings at 1 Hz, {len(STDP_TIMINGS)} timings from -50 to +50 ms",
            f"max |w - analytic| {above(error, '.1e')} of one pairing's change (tolerance 0.05); realised timing off target by "
            f"up to {np.abs(result.realised - result.target[:, None]).max():.2f} ms; "
            f"w from {result.w0:g} to [{result.w_final.min():.4f}, {result.w_final.max():.4f}]",
            error < 0.05 and right_sign,
        )
        report.figures.setdefault("stdp", {})[f"{backend} {model}"] = (result.realised.mean(1), result.w_final[:, 0] - result.w0)
        report.figures["stdp"]["analytic"] = (np.linspace(-50, 50, 201), 60 * result.rule.window(np.linspace(-50, 50, 201)))


def stp_rows(report: Report, cases: list[tuple[str, str]]) -> None:
    """Each (backend, model) against the Tsodyks-Markram recursion, a depressing and a facilitating synapse."""
    rules = {"depressing": TsodyksMarkram(U=0.5, tau_rec=800.0),
             "facilitating": TsodyksMarkram(U=0.1, tau_rec=100.0, tau_facil=500.0)}
    for backend, model in cases:
        for label, rule in rules.items():
            result = tsodyks_markram_train(backend, model, rule, rate=20.0, spikes=10)
            error = float(np.max(np.abs(result.measured / result.expected - 1.0)))
            report.add(
                "Tsodyks-Markram vs analytic",
                f"{backend}, {model}: {label} (U {rule.U:g}, tau_rec {rule.tau_rec:g} ms, tau_facil {rule.tau_facil:g} ms), "
                "10 spikes at 20 Hz",
                f"peak ratios {result.measured[1]:.3f}, ..., {result.measured[-1]:.3f} vs analytic {result.expected[1]:.3f}, "
                f"..., {result.expected[-1]:.3f}; max relative error {error:.1e} (tolerance 0.02)",
                error < 0.02,
            )


def learned_weights(backend: str, model: str, seed: int, duration: float) -> np.ndarray:
    """The final excitatory weights of EI2 after ``duration`` ms with STDP on every excitatory synapse."""
    env = livn.make("EI2", backend=backend, model=model, seed=seed, record=("spikes",))
    excitatory = [c for c in env.network.classes if c.receptor in ("AMPA", "NMDA")]
    env.enable_plasticity({c.weight_name: STDP(a_plus=0.01) for c in excitatory})
    for _ in range(int(duration // 1000.0)):
        env.run(1000.0)
    rows = np.concatenate([np.arange(c.rows.start, c.rows.stop) for c in excitatory])
    weights = env.get_weights().values[rows] / env.row_weights()[rows]  # relative to the start
    env.close()
    return weights


def stdp_network_rows(report: Report, model: str, pair: tuple[str, str], seeds: int, duration: float) -> None:
    """The distribution of learned weights across backends, against the spread across seeds."""
    summaries: dict[str, np.ndarray] = {}
    for be in pair:
        rows = []
        for seed in range(seeds):
            start = time.perf_counter()
            weights = learned_weights(be, model, seed, duration)
            rows.append([weights.mean(), *np.percentile(weights, [10, 50, 90])])
            print(f"  STDP EI2 {model} {be} seed {seed}: mean {weights.mean():.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
        summaries[be] = np.array(rows)
    a, b = (summaries[be] for be in pair)
    spread = np.sqrt((a.var(axis=0, ddof=1) + b.var(axis=0, ddof=1)) / 2)
    diff = a.mean(axis=0) - b.mean(axis=0)
    ok = bool(np.all(np.abs(diff) < 2 * spread))
    names = ("mean", "p10", "p50", "p90")
    report.add(
        f"EI2 network with STDP, {model}",
        f"{pair[0]} vs {pair[1]}: final excitatory weights / initial ({seeds} seeds, {duration / 1000:g} s, a_plus 0.01)",
        "; ".join(f"{n} {x:.4f} vs {y:.4f} (|diff| {abs(d):.4f} < 2 x {s:.4f})"
                  for n, x, y, d, s in zip(names, a.mean(0), b.mean(0), diff, spread)),
        ok,
    )


# -- the report -------------------------------------------------------------------------------------


def plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(22, 4))
    for name, (currents, rates) in report.figures.get("lif", {}).items():
        axes[0].plot(currents, rates, "o-" if name != "analytic" else "k--", label=name)
    axes[0].set(title="LIF f-I", xlabel="current (nA)", ylabel="rate (Hz)")
    axes[0].legend()
    for be, trace in report.figures.get("rcsd_traces", {}).items():
        t = np.arange(trace.size) * 0.025
        axes[1].plot(t, trace, lw=0.8, label=be)
    axes[1].set(title="RCSD MN, +50 pA step (100-1100 ms)", xlabel="time (ms)", ylabel="V soma (mV)")
    axes[1].legend()
    positions, labels = [], []
    for k, (model, by_backend) in enumerate(report.figures.get("rates", {}).items()):
        for j, (be, rates) in enumerate(by_backend.items()):
            axes[2].boxplot(rates, positions=[3 * k + j])
            positions.append(3 * k + j)
            labels.append(f"{model}\n{be}")
    axes[2].set_xticks(positions, labels)
    axes[2].set(title="EI2 mean rate across seeds", ylabel="rate (Hz)")
    for name, (timing, change) in report.figures.get("stdp", {}).items():
        axes[3].plot(timing, change, "k--" if name == "analytic" else "o", label=name, ms=4)
    axes[3].set(title="STDP window, 60 pairings", xlabel="t_post - t_arrival (ms)", ylabel="weight change")
    axes[3].legend(fontsize=7)
    for name, (amplitudes, near, far) in report.figures.get("recruitment", {}).items():
        style = "--" if "noise on" in name else "-"
        line, = axes[4].semilogx(amplitudes, near, style, marker="o", ms=3, label=name)
        axes[4].semilogx(amplitudes, far, style, color=line.get_color(), marker="x", ms=3, alpha=0.5)
    axes[4].set(title="EI3 recruitment (o near <= 100 um, x far > 400 um)", xlabel="pulse amplitude (uA)",
                ylabel="fraction of cells firing")
    axes[4].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def provenance() -> str:
    """Commit, date, machine and versions: what this report was run on."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git checkout)"
    versions = []
    for name in VERSIONED:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (
        f"- commit: `{commit}`\n"
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- machine: {platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} CPUs; Python {platform.python_version()}\n"
        f"- versions: {', '.join(versions)}"
    )


def committed_table(path: Path) -> list[str] | None:
    """The result table of a committed report, or None when there is none (or it predates the marker)."""
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    if TABLE_START not in lines:
        return None
    return lines[lines.index(TABLE_START) + 1:]


#: The row groups the main process computes, in the report's order (the rest: :func:`second_process_rows`).
FIRST_PROCESS_GROUPS = (
    "lif", "izhikevich", "glif", "rcsd", "izhikevich-network", "rcsd-network", "rcsd-series", "stdp-window", "stp",
    "optogenetics", "optogenetics-network",
)


def timed(name: str, compute, *args):
    """``compute(*args)``, printing how long it took (the session log shows where the time goes)."""
    start = time.perf_counter()
    result = compute(*args)
    print(f"  [{name}: {time.perf_counter() - start:.0f} s]", flush=True)
    return result


def other_rows(report: Report, args: argparse.Namespace) -> None:
    """Every row but the recruitment and plastic network ones (:func:`second_process_rows`), in the report's order."""
    groups = row_groups(args)
    for name in FIRST_PROCESS_GROUPS:
        timed(name, groups[name], report)


def optogenetics_rows(report: Report, cases: list[tuple[str, str]]) -> None:
    """Each (backend, model) and opsin: the photocurrent of a 1 s light step against scipy (module docstring)."""
    for backend, model in cases:
        for opsin in ("chr2", "gtacr2"):
            result = photocurrent_step(backend, opsin, model=model)
            errors = {
                what: abs(result[what] - result[f"{what}_reference"]) / abs(result[f"{what}_reference"])
                for what in ("peak", "steady")
            }
            figures = (
                f"peak {result['peak']:.6g} nA (scipy {result['peak_reference']:.6g}, {above(errors['peak'], '.2e')}), "
                f"steady {result['steady']:.6g} nA (scipy {result['steady_reference']:.6g}, {above(errors['steady'], '.2e')}); "
                "tolerance 2 %"
            )
            report.add(
                "Opsin photocurrent vs scipy",
                f"{backend}, {model}, {opsin}",
                figures,
                max(errors.values()) <= 0.02,
            )


def optogenetics_network_rows(report: Report, backends: list[str], seeds: tuple[int, ...] = (1, 3)) -> None:
    """EI2 under blue light with ChR2 or GtACR2 in its EXC cells, each backend's default model (module docstring)."""
    for backend in backends:
        for opsin, wanted in (("chr2", "> 2"), ("gtacr2", "< 0.5")):
            rates = [network_light_rates(backend, opsin, seed=seed) for seed in seeds]
            ratios = [lit / dark if dark > 0 else float("inf") for dark, lit in rates]
            moved = all(r > 2.0 for r in ratios) if opsin == "chr2" else all(r < 0.5 for r in ratios)
            passed = moved and all(dark > 1.0 for dark, _ in rates)
            figures = "EXC rate before -> under light, per seed: " + ", ".join(
                f"{dark:.1f} -> {lit:.1f} Hz ({lit / dark if dark > 0 else float('inf'):.2f}x)" for dark, lit in rates
            )
            report.add("EI2 under light", f"{backend}, {opsin} in EXC", f"{figures} (wanted {wanted})", passed)


#: The opsin rows' (backend, model) cases.
OPTOGENETIC_CASES = [("brian2", "izhikevich"), ("diffrax", "izhikevich"), ("diffrax", "rcsd"), ("neuron", "rcsd")]


def row_groups(args: argparse.Namespace) -> dict[str, object]:
    """Every row group by name, as ``--only`` selects them (each a function of a Report)."""
    plastic = [("brian2", "izhikevich"), ("diffrax", "izhikevich"), ("diffrax", "rcsd"), ("neuron", "rcsd")]
    return {
        "lif": lambda r: lif_rows(r, ["brian2", "diffrax"]),
        "izhikevich": lambda r: izhikevich_rows(r, ["brian2", "diffrax"]),
        "glif": lambda r: glif_rows(r, ["brian2", "diffrax"]),
        "rcsd": lambda r: rcsd_rows(r, ("diffrax", "neuron")),
        "izhikevich-network": lambda r: izhikevich_network_rows(r, ("brian2", "diffrax"), args.seeds, args.duration),
        "rcsd-network": lambda r: rcsd_network_rows(r, ("diffrax", "neuron"), args.seeds, args.duration),
        "rcsd-series": lambda r: rcsd_series_rows(r, ("diffrax", "neuron")),
        "stdp-window": lambda r: stdp_window_rows(r, plastic),
        "stp": lambda r: stp_rows(r, plastic),
        "stdp-network": lambda r: r.rows.extend(plastic_network_rows(args.plastic_seeds, args.plastic_rcsd_seeds)[0]),
        "optogenetics": lambda r: optogenetics_rows(r, OPTOGENETIC_CASES),
        "optogenetics-network": lambda r: optogenetics_network_rows(r, ["brian2", "diffrax", "neuron"]),
        "recruitment": recruitment_rows,
    }


def plastic_network_rows(plastic_seeds: int, rcsd_seeds: int) -> tuple[list, dict]:
    """The rows (and figures) of the EI2 networks learning with STDP for 10 s: Izhikevich, then RCSD."""
    report = Report()
    stdp_network_rows(report, "izhikevich", ("brian2", "diffrax"), plastic_seeds, 10_000.0)
    stdp_network_rows(report, "rcsd", ("diffrax", "neuron"), rcsd_seeds, 10_000.0)
    return report.rows, report.figures


def second_process_rows(plastic_seeds: int, rcsd_seeds: int) -> tuple[list, list, dict]:
    """What the second process computes: the plastic network rows, then the recruitment rows;
    returns (recruitment rows, plastic network rows, their figures)."""
    rows, figures = timed("stdp-network", plastic_network_rows, plastic_seeds, rcsd_seeds)
    recruitment = Report()
    timed("recruitment", recruitment_rows, recruitment)
    return recruitment.rows, rows, {**figures, **recruitment.figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--duration", type=float, default=2000.0)
    parser.add_argument("--plastic-seeds", type=int, default=4, help="seeds of the EI2 Izhikevich STDP row (10 s each)")
    parser.add_argument("--plastic-rcsd-seeds", type=int, default=2, help="seeds of the EI2 RCSD STDP row (10 s each)")
    parser.add_argument("--check-committed", action="store_true",
                        help="fail when the results differ from those of the report already in --out")
    parser.add_argument("--only", metavar="PATTERN",
                        help="run only the row groups whose name matches this regular expression; write no report")
    args = parser.parse_args(argv)
    installed = available()
    needed = {"brian2", "diffrax", "neuron"}
    if not needed <= set(installed):
        print(f"equivalence needs the backends {sorted(needed)}; installed: {installed}", file=sys.stderr)
        return 2
    if args.only is not None:
        groups = {name: run for name, run in row_groups(args).items() if re.search(args.only, name)}
        if not groups:
            print(f"--only {args.only!r} matches no row group; groups: {sorted(row_groups(args))}", file=sys.stderr)
            return 2
        report = Report()
        for run in groups.values():
            run(report)
        print("\n".join(report.table()))
        return 0 if report.passed else 1
    report_path = args.out / "equivalence.md"
    committed = committed_table(report_path)
    report = Report()
    start = time.perf_counter()
    # the 10 s plastic network rows and the recruitment rows take about half the time: they run in a
    # second process (this machine has two cores) while this one computes the rest; their rows are
    # appended last (recruitment, then the plastic networks), as if computed here
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        second = pool.submit(second_process_rows, args.plastic_seeds, args.plastic_rcsd_seeds)
        other_rows(report, args)
        recruitment, plastic, figures = second.result()
    report.rows.extend(recruitment + plastic)
    report.figures.update(figures)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(report, args.out / "equivalence.png")
    rules = __doc__[__doc__.index("- LIF single cell"):].strip()  # the rules as the module docstring states them
    header = (
        "# Cross-backend equivalence\n\n"
        f"Generated by `nox -s equivalence` in {time.perf_counter() - start:.0f} s on:\n\n{provenance()}\n\n"
        f"Rules:\n\n{rules}\n\n![f-I curves, RCSD traces, rate distributions and the STDP window](equivalence.png)"
    )
    report_path.write_text(report.markdown(header))
    print(f"wrote {report_path}")
    status = 0 if report.passed else 1
    if args.check_committed:
        if committed is None:
            print(f"no committed report with results in {report_path} to compare with; commit the one just written",
                  file=sys.stderr)
            status = 1
        elif committed != report.table():
            changed = [line for line in report.table() if line not in committed]
            print("the committed report's results differ from those regenerated at this commit; commit the new "
                  f"{report_path}. Rows that changed:\n" + "\n".join(changed), file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
