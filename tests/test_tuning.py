"""``livn tune`` on the selected backend: from mistuned weights back into a band it was pointed at (EI2)."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

AMPA = "EXC_EXC-hillock-AMPA-weight"

# Per model: the band, the box searched, and a mistuned start outside the band (measured on EI2,
# seed 1, 1 s after 200 ms: izhikevich 42 Hz at AMPA 1.5 and noise 0.04 nA; LIF 5.6 Hz on brian2 at
# AMPA 0.1 and noise mean 0.1 nA, and on the example backend 16.4 Hz at AMPA 0.05, its rate set by the
# noise mean (2.4 Hz at 0.05 nA); RCSD 8.6 Hz at AMPA 2, its default 0.5 giving 3.3 Hz).
CASES = {
    "izhikevich": (
        {"mean_rate": [2.0, 4.0], "max_cell_rate": [None, 30.0]},
        {AMPA: (0.01, 2.0, "log"), "noise-std": (0.002, 0.05, "log")},
        {AMPA: 1.5, "noise-std": 0.04},
    ),
    "lif": (
        {"mean_rate": [1.5, 3.5]},
        {AMPA: (0.005, 1.0, "log"), "noise-mean": (0.0, 0.2)},
        {AMPA: 0.05, "noise-mean": 0.1},
    ),
    "rcsd": ({"mean_rate": [2.5, 4.5]}, {AMPA: (0.05, 5.0, "log")}, {AMPA: 2.0}),
}


def _measure(env, kwargs: dict, target: dict) -> dict:
    """On a pool worker: the culture with ``kwargs`` applied, noise seed 1, measured against ``target``."""
    from livn import targets

    env.set_weights(kwargs.get("weights", {}))
    env.set_noise(kwargs.get("noise", {}))
    env.clear(seed=1)
    return targets.evaluate(env, env.run(1200.0), target, warmup=200.0).to_dict()


def test_tune_brings_a_mistuned_culture_into_band(backend_name):
    """On two worker processes (an EnvPool), so the simulations compile and run outside this process."""
    import livn
    from livn.distributed import EnvPool
    from livn.tuning import tune

    with livn.make("EI2", record=("spikes",)) as probe:
        model = probe.model.name
    if model not in CASES:
        pytest.fail(f"no tuning case for model {model!r} (the default of backend {backend_name!r}); add one to CASES")
    bands, space, start = CASES[model]
    target = {"name": "rate", "bands": bands, "duration": 1000.0, "warmup": 200.0}
    lines: list[str] = []
    result = tune("EI2", target, space, trials=25, workers=2, start=start, progress=lines.append)

    first = next(line for line in lines if "trial 1:" in line)
    assert "in band" not in first, first  # the mistuned start really is out of band
    assert result.passed, result.report()
    assert result.best_distance == 0.0 and result.trials <= 25 and result.backend == backend_name
    # the reported parameters give the reported statistic when applied anew
    with EnvPool("EI2", workers=1, record=("spikes",)) as pool:
        again = pool.submit(_measure, result.make_kwargs(), target).result()
    assert again["passed"], again
    assert again["statistics"]["mean_rate"]["value"] == pytest.approx(result.best_statistics["mean_rate"], rel=1e-9)
