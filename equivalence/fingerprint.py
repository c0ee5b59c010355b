"""Same seed, same spikes: record (``--save``) or check (``--check``) EI2 spike trains on every backend.

For every installed backend and every model it runs, ``make("EI2", backend, model=..., seed=123)``
runs 1 s; the spike trains (gids and times) and the recorded soma voltages are written to one
``.npz`` per (backend, model). ``--check`` reruns and compares bit for bit, so a refactor that
must not change behaviour can prove it did not:

    python equivalence/fingerprint.py --save /tmp/before      # on the old code
    python equivalence/fingerprint.py --check /tmp/before     # on the new code
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def runs(system: str, duration: float, seed: int, backends: list[str]):
    from livn import make
    from livn.backends import available, load

    for backend in backends or available():
        cls = load(backend)
        for model in cls.capabilities()["models"]:
            env = make(system, backend=backend, model=model, seed=seed)
            run = env.run(duration)
            yield f"{backend}-{model}", {
                "spike_ids": np.asarray(run.spikes.ids),
                "spike_times": np.asarray(run.spikes.times),
                "voltage": np.asarray(run.voltage.values),
            }
            env.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path, help="directory to write the fingerprints to")
    group.add_argument("--check", type=Path, help="directory of fingerprints to compare against")
    parser.add_argument("--system", default="EI2")
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--backend", action="append", default=[], help="only this backend (repeatable)")
    args = parser.parse_args(argv)
    failures = 0
    for name, arrays in runs(args.system, args.duration, args.seed, args.backend):
        if args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            np.savez(args.save / f"{name}.npz", **arrays)
            print(f"{name}: saved {arrays['spike_ids'].size} spikes")
            continue
        path = args.check / f"{name}.npz"
        if not path.exists():
            print(f"{name}: no fingerprint in {args.check}")
            failures += 1
            continue
        before = np.load(path)
        same = {key: np.array_equal(before[key], value) for key, value in arrays.items()}
        status = "bit-identical" if all(same.values()) else "DIFFERENT: " + ", ".join(k for k, v in same.items() if not v)
        failures += not all(same.values())
        print(f"{name}: {arrays['spike_ids'].size} spikes (before {before['spike_ids'].size}), {status}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
