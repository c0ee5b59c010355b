"""A fake, fast, deterministic backend for tests of encodings, decodings, gym and datasets.

Not a neuron model: each cell spikes in each step of ``dt`` ms with probability
``BASE_RATE * dt / 1000 + GAIN * max(0, drive)``, where the drive is ``-V_e`` (mV, the soma's
extracellular potential; a cathodic electrode current makes it negative) or the injected current
(nA). Every spike puts ``SPIKE_CURRENT`` uA on the cell's membrane-current row at that sample; the rows
also carry a small Gaussian noise. The random stream continues across runs and restarts from
``self.seed`` on ``clear()``.
"""

from __future__ import annotations

import livn
import numpy as np
from livn import plugins
from livn.run import Events, Series

__all__ = ["Env"]
__version__ = "0.0.1"

BASE_RATE = 5.0  # Hz
GAIN = 0.005  # spike probability per step per mV (or nA) of drive
SPIKE_CURRENT = -1e-3  # uA
CURRENT_NOISE = 1e-5  # uA


class Env(livn.Env):
    """Fake backend (name ``fake``) that takes extracellular and current stimuli."""

    backend_name = "fake"
    signals = ("spikes", "membrane_current")
    default_model = "lif"
    default_dt = 0.1

    @classmethod
    def implementations(cls) -> dict:
        """Every registered model: the fake dynamics ignore the model."""
        return dict.fromkeys(plugins.models())

    def _init(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def _cells(self, population):
        if population is None:
            return np.arange(self.system.num_neurons)
        start, count = self.system.population_ranges[population]
        return np.arange(start, start + count)

    def _run(self, duration, stimulus, dt) -> dict:
        n = self.system.num_neurons
        steps = int(round(duration / dt))
        drive = np.zeros((steps, n))
        if stimulus is not None:
            index = np.floor(np.arange(steps) * dt / stimulus.dt + 1e-9).astype(np.int64)
            inside = index < stimulus.num_samples
            values = np.asarray(stimulus.site(0))[index[inside]]
            values = -values if stimulus.input_mode == "extracellular" else values
            cols = np.arange(n) if stimulus.gids is None else np.asarray(stimulus.gids)
            drive[np.ix_(np.flatnonzero(inside), cols)] = np.maximum(values, 0.0)
        probability = np.clip(BASE_RATE * dt / 1000.0 + GAIN * drive, 0.0, 1.0)
        fired = self._rng.random((steps, n)) < probability
        noise = self._rng.normal(0.0, CURRENT_NOISE, size=(n, steps))
        step, cell = np.nonzero(fired)
        recorded = {}
        if "spikes" in self.recording:
            keep = np.isin(cell, self._cells(self.recording["spikes"]["population"]))
            recorded["spikes"] = Events(cell[keep].astype(np.int64), step[keep] * dt)
        request = self.recording.get("membrane_current")
        if request is not None:
            every = int(round(request["dt"] / dt))
            rows = self._cells(request["population"])
            trace = noise + SPIKE_CURRENT * fired.T
            recorded["membrane_current"] = Series(rows, trace[rows][:, ::every], float(request["dt"]))
        return recorded
