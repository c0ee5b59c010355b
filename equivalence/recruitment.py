"""Recruitment curves per backend and model: what one biphasic electrode pulse fires, by amplitude.

For every installed backend and each model it runs (or ``--backend``/``--model``), measures
:func:`livn.recruitment.recruitment_curve` on ``--system`` (default EI3) with the background noise
off (and on, with ``--noise-trials N``), and prints the curve, the 50 % threshold amplitude of the
cells within 100 um and the fraction of cells beyond 400 um that fire at that amplitude's next
measured point. This is the measurement the stimulation calibration (issue 16) starts from:

    python equivalence/recruitment.py
    python equivalence/recruitment.py --backend brian2 --model lif --noise-trials 3
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import numpy as np

#: (backend, model) measured by the report's rows; NEURON's RCSD culture is the reference.
RECRUITMENT_REFERENCE = ("neuron", "rcsd")
RECRUITMENT_CASES = (RECRUITMENT_REFERENCE, ("diffrax", "rcsd"), ("brian2", "izhikevich"), ("brian2", "lif"),
                     ("brian2", "glif1"), ("diffrax", "izhikevich"), ("diffrax", "lif"), ("diffrax", "glif1"))
#: The curves measured with the noise on as well (figure only: see ``recruitment_rows``).
NOISY_CASES = {("diffrax", "rcsd"): 1, ("brian2", "izhikevich"): 2, ("brian2", "lif"): 2}
#: Each backend's 50 % threshold within this factor of the reference's ...
THRESHOLD_FACTOR = 1.5
#: ... and its selectivity within this one: a point neuron feels the potential at its soma, an RCSD cell
#: the difference along it, so the curves differ in shape (the point models spare far cells more:
#: 1.4-1.7 times the reference's selectivity when this was set), whatever the coupling's scale.
SELECTIVITY_FACTOR = 2.0
#: The pulse train rows: evoked spikes per near cell and pulse at least this, and near/far at least.
TRAIN_NEAR, TRAIN_RATIO = 0.3, 3.0
TRAIN_CASES = (RECRUITMENT_REFERENCE, ("diffrax", "rcsd"), ("brian2", "izhikevich"), ("brian2", "lif"),
               ("diffrax", "izhikevich"))


def _within(value: float, reference: float, factor: float) -> bool:
    return math.isfinite(value) and math.isfinite(reference) and reference / factor <= value <= reference * factor


def recruitment_rows(report: Any, system: str = "EI3") -> None:
    """The recruitment rows of the equivalence report (its ``report.add(section, check, figures, passed)``).

    Noise off, one biphasic pulse (0.2 ms phases) on the electrode with the most cells within 100 um:
    every (backend, model)'s 50 % threshold of the near cells and its selectivity (the amplitude at
    which 10 % of the cells beyond 400 um fire, over that threshold) within factors of 1.5 and 2 of
    NEURON's RCSD culture's; then a train of 10 pulses at the documented amplitude (50 ms apart, noise on as
    configured, from 200 ms on): at least 0.3 evoked spikes per near cell and pulse, and 3 times as
    many as per far cell.
    Curves with the noise on go to the figure only: with noise, the excess over a control run depends
    on the culture's spontaneous state as much as on the coupling.
    """
    import livn
    from livn.recruitment import recruitment_curve, train_response
    from livn.stimulus import DEFAULT_PULSE_AMPLITUDE

    curves, figure = {}, {}
    for backend, model in RECRUITMENT_CASES:
        env = livn.make(system, backend=backend, model=model)
        curves[backend, model] = curve = recruitment_curve(env)
        figure[f"{backend} {model}"] = (curve.amplitudes, curve.near, curve.far)
        if (backend, model) in NOISY_CASES:
            noisy = recruitment_curve(env, noise=True, trials=NOISY_CASES[backend, model])
            figure[f"{backend} {model}, noise on"] = (noisy.amplitudes, noisy.near, noisy.far)
        env.close()
    reference = curves[RECRUITMENT_REFERENCE]
    ref_threshold, ref_selectivity = reference.threshold(), reference.selectivity()
    for (backend, model), curve in curves.items():
        threshold, selectivity = curve.threshold(), curve.selectivity()
        figures = (f"50 % of {curve.near_cells} near cells at {threshold:.3g} uA, 10 % of {curve.far_cells} far cells at "
                   f"{curve.threshold(0.1, 'far'):.3g} uA: selectivity {selectivity:.2f}")
        if (backend, model) == RECRUITMENT_REFERENCE:
            report.add(f"{system} recruitment, one pulse", f"{backend}, {model} (the reference)", figures,
                       1.0 < threshold < 100.0 and selectivity > 1.0)
            continue
        figures += (f"; over the reference: threshold x{threshold / ref_threshold:.2f}, selectivity "
                    f"x{selectivity / ref_selectivity:.2f} (within x{THRESHOLD_FACTOR:g} and x{SELECTIVITY_FACTOR:g})")
        report.add(f"{system} recruitment, one pulse", f"{backend}, {model} vs {' '.join(RECRUITMENT_REFERENCE)}",
                   figures, _within(threshold, ref_threshold, THRESHOLD_FACTOR)
                   and _within(selectivity, ref_selectivity, SELECTIVITY_FACTOR))
    for backend, model in TRAIN_CASES:
        env = livn.make(system, backend=backend, model=model)
        response = train_response(env, amplitude=DEFAULT_PULSE_AMPLITUDE)
        env.close()
        figures = (f"evoked spikes per cell and pulse: near {response.near:.3f}, far {response.far:.4f} "
                   f"(near/far {response.ratio:.3g}); spontaneous {response.control_near:.3f} / {response.control_far:.3f}")
        report.add(f"{system} pulse train, {DEFAULT_PULSE_AMPLITUDE:g} uA", f"{backend}, {model}", figures,
                   response.near >= TRAIN_NEAR and response.ratio >= TRAIN_RATIO)
    report.figures["recruitment"] = figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="EI3")
    parser.add_argument("--backend", action="append", default=[], help="only this backend (repeatable)")
    parser.add_argument("--model", action="append", default=[], help="only this model (repeatable)")
    parser.add_argument("--noise-trials", type=int, default=0, help="also measure with noise on, over N seeds")
    args = parser.parse_args(argv)

    import livn
    from livn.backends import available, load
    from livn.recruitment import recruitment_curve

    for backend in args.backend or available():
        for model in args.model or load(backend).capabilities()["models"]:
            env = livn.make(args.system, backend=backend, model=model)
            settings = [(False, 1)] + ([(True, args.noise_trials)] if args.noise_trials else [])
            for noise, trials in settings:
                start = time.perf_counter()
                curve = recruitment_curve(env, noise=noise, trials=trials)
                threshold = curve.threshold()
                above = curve.amplitudes[curve.amplitudes >= threshold] if np.isfinite(threshold) else []
                far = curve.far_at(above[0]) if len(above) else float("nan")
                print(f"\n{args.system} {backend} {model}, noise {'on' if noise else 'off'} ({trials} trial(s), "
                      f"electrode {curve.channel}, {time.perf_counter() - start:.1f} s)")
                print(curve.table())
                print(f"threshold (50 % of near cells): {threshold:.3g} uA; far fraction at the next measured "
                      f"amplitude: {far:.3f}")
            env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
