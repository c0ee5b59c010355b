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
import sys
import time

import numpy as np


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
