"""Stimulated target statistics on the selected backend: they are livn.recruitment's pulse protocols (EI2)."""

from __future__ import annotations

import math

import livn
import pytest
from livn import targets
from livn.backends import resolve
from livn.errors import CapabilityError
from livn.recruitment import recruitment_curve


def test_stimulated_statistics_measure_the_pulse_protocols(backend_name, monkeypatch):
    # a shorter protocol than the shipped one (1.5 s into the culture, 3 seeds), for time
    monkeypatch.setattr(targets, "EVOKED_SETTLE", 300.0)
    monkeypatch.setattr(targets, "EVOKED_TRIALS", 1)
    with livn.make("EI2", record=("spikes",)) as env:
        run = env.run(300.0)
        bands = {"mean_rate": [0.0, None], "recruitment_threshold": [1.0, 100.0], "evoked_far_fraction": [0.0, 1.0]}
        if "extracellular" not in resolve(backend_name).input_modes:  # no electrode pulses: a clear refusal
            with pytest.raises(CapabilityError, match="does not take 'extracellular' stimuli"):
                targets.evaluate(env, run, {"name": "pulses", "bands": bands}, warmup=100.0)
            return
        evaluation = targets.evaluate(env, run, {"name": "pulses", "bands": bands}, warmup=100.0)
        assert env.t == 0.0  # the protocol cleared the culture
        values = evaluation.values
        direct = recruitment_curve(env, near_radius=targets.RECRUITMENT_NEAR, far_radius=targets.RECRUITMENT_FAR,
                                   window=targets.RECRUITMENT_WINDOW)
        assert values["recruitment_threshold"] == direct.threshold(0.5)
        evoked = recruitment_curve(env, amplitudes=(targets.EVOKED_AMPLITUDE,), near_radius=targets.RECRUITMENT_NEAR,
                                   far_radius=targets.RECRUITMENT_FAR, window=targets.EVOKED_WINDOW, noise=True,
                                   settle=targets.EVOKED_SETTLE, trials=targets.EVOKED_TRIALS)
        assert values["evoked_far_fraction"] == float(evoked.far[0])
        assert math.isfinite(values["recruitment_threshold"]), direct  # EI2's near cells are recruited by 100 uA
        assert evaluation.passed, evaluation.table()
        # a band the threshold misses fails, scored in decades on the log scale
        low = targets.Band("recruitment_threshold", None, values["recruitment_threshold"] / 10.0)
        assert low.distance(values["recruitment_threshold"]) == pytest.approx(1.0)
