"""Plasticity protocols shared by the backends' tests and the equivalence report.

Both run on hand-made circuits (:func:`livn.system.write_circuit`) of noiseless cells whose spikes
are forced by brief somatic current pulses, and compare what a backend did with the analytic
reference of the rule (:meth:`livn.plasticity.STDP.pairing_protocol`,
:meth:`livn.plasticity.TsodyksMarkram.ratios`) evaluated at the spike times the backend produced.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import attrs
import numpy as np

import livn
from livn.plasticity import STDP, TsodyksMarkram
from livn.stimulus import Stimulus
from livn.system import CONDUCTION_VELOCITY, write_circuit
from livn.testing.single_cell import noise_off

__all__ = ["PULSE_AMPLITUDE", "PairingResult", "TrainResult", "stdp_pairing", "tsodyks_markram_train"]

#: A 1 ms somatic pulse (nA) that makes one spike in a resting cell of each built-in model.
PULSE_AMPLITUDE = {"izhikevich": 0.5, "lif": 2.0, "rcsd": 2.0, **{f"glif{level}": 2.5 for level in range(1, 6)}}
#: Cell parameters of the protocols' cells, where a model's cells vary (Izhikevich: regular spiking).
CELL_PARAMS = {"izhikevich": {"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0}}
#: Pulse length (ms) and the stimulus sampling interval (ms).
PULSE_WIDTH = 1.0
STIMULUS_DT = 0.1
#: Distance (um) between the cells of a pair: an axonal delay of 1 ms.
PAIR_DISTANCE = 1.0 * CONDUCTION_VELOCITY


@attrs.frozen
class PairingResult:
    """What a pairing protocol did, per pair: realised ``t_post - t_arrival`` (ms) of every pairing, weights."""

    target: np.ndarray  # [pairs] the asked-for dt (ms)
    realised: np.ndarray  # [pairs, pairings] ms
    w0: float
    w_final: np.ndarray  # [pairs, receptors] learned weights (AMPA, NMDA rows)
    expected: np.ndarray  # [pairs] the analytic weight after the realised pairings
    rule: STDP

    @property
    def error(self) -> np.ndarray:
        """``|w_final - expected|`` over one pairing's largest change ``a_plus w_max``, ``[pairs, receptors]``."""
        return np.abs(self.w_final - self.expected[:, None]) / (self.rule.a_plus * self.rule.w_max)


@attrs.frozen
class TrainResult:
    """A presynaptic train through a short-term plastic synapse: conductance peaks against the recursion."""

    spike_times: np.ndarray  # presynaptic spikes (ms)
    peaks: np.ndarray  # peak conductance after each arrival (uS)
    measured: np.ndarray  # peaks / peaks[0]
    expected: np.ndarray  # TsodyksMarkram.ratios at the realised intervals


def _pairs_circuit(directory: Path, pairs: int) -> livn.system.System:
    pre = np.arange(pairs, dtype=np.int64) * 2
    return write_circuit(
        directory, {"EXC": 2 * pairs}, {("EXC", "EXC"): (pre, pre + 1, np.full(pairs, PAIR_DISTANCE))},
        coordinates=np.stack([np.arange(2 * pairs) * 400.0, np.zeros(2 * pairs), np.zeros(2 * pairs)], axis=1),
        name=f"pairs-{pairs}",
    )


def _pulses(onsets: dict[int, list[float]], columns: int, duration: float, amplitude: float) -> np.ndarray:
    values = np.zeros((int(round(duration / STIMULUS_DT)), columns))
    for column, times in onsets.items():
        for onset in times:
            first = int(round(onset / STIMULUS_DT))
            values[first : first + int(round(PULSE_WIDTH / STIMULUS_DT)), column] = amplitude
    return values


def _make(system: Any, backend: str, model: str, seed: int) -> livn.Env:
    params = CELL_PARAMS.get(model)
    return livn.make(
        system, backend=backend, model=model, seed=seed, record=("spikes",), noise=noise_off(model),
        cell_params={"EXC": params} if params else None,
    )


def stdp_pairing(
    backend: str,
    model: str,
    dts: Any = (-50, -30, -20, -10, -5, -2, 2, 5, 10, 20, 30, 50),
    *,
    rule: STDP | None = None,
    w0: float = 0.1,
    pairings: int = 60,
    period: float = 1000.0,
    dt: float | None = None,
    seed: int = 1,
    directory: str | Path | None = None,
) -> PairingResult:
    """The STDP window by a pairing protocol: ``pairings`` pre/post pairs at ``1000 / period`` Hz, one circuit pair per ``dt``.

    Pair ``k`` is cell ``2k`` onto cell ``2k + 1`` (1 ms axonal delay); each period the presynaptic
    cell gets a pulse at 100 ms and the postsynaptic one at ``100 + 1 + dts[k]`` ms, so that the
    postsynaptic spike follows the arrival by about ``dts[k]`` ms (``t_post - t_arrival``). Every
    pulse must make exactly one spike (else ValueError). Both receptors of the connection learn with
    ``rule`` (default ``STDP(w_max=2 w0)``, all-to-all) from ``w0``.
    """
    dts = np.asarray(dts, dtype=float)
    rule = rule if rule is not None else STDP(w_max=2.0 * w0)
    pairs = len(dts)
    with tempfile.TemporaryDirectory() as scratch:
        system = _pairs_circuit(Path(directory or scratch) / f"pairs-{pairs}", pairs)
        env = _make(system, backend, model, seed)
        try:
            env.set_weights({name: w0 for name in env.weight_names})
            env.enable_plasticity({"EXC->EXC": rule})
            bound = env.plasticity[env.weight_names[0]][0]
            onsets: dict[int, list[float]] = {}
            for k, delta in enumerate(dts):
                onsets[2 * k] = [100.0]
                onsets[2 * k + 1] = [100.0 + 1.0 + delta]
            stimulus = Stimulus(_pulses(onsets, 2 * pairs, period, PULSE_AMPLITUDE[model]), dt=STIMULUS_DT, input_mode="current")
            realised = np.zeros((pairs, pairings))
            delay = float(env.network.connections.delays(env.dt if dt is None else dt)[0])
            for p in range(pairings):
                run = env.run(period, stimulus=stimulus, dt=dt)
                ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
                counts = np.bincount(ids, minlength=2 * pairs)
                if np.any(counts != 1):
                    raise ValueError(
                        f"pairing {p}: every pulse should make one spike, got counts {counts.tolist()} on {backend}/{model}"
                    )
                order = np.argsort(ids)
                t = times[order]
                realised[:, p] = t[1::2] - (t[0::2] + delay)
            weights = env.get_weights()
            w_final = np.stack([weights.of(name) for name in env.weight_names], axis=1)
        finally:
            env.close()
    expected = np.array([bound.pairing_protocol(w0, realised[k]) for k in range(pairs)])
    return PairingResult(dts, realised, float(w0), w_final, expected, bound)


def tsodyks_markram_train(
    backend: str,
    model: str,
    rule: TsodyksMarkram,
    *,
    rate: float = 20.0,
    spikes: int = 10,
    weight: float = 0.1,
    dt: float | None = None,
    seed: int = 1,
    directory: str | Path | None = None,
) -> TrainResult:
    """A ``rate`` Hz train of ``spikes`` presynaptic spikes through one AMPA synapse with ``rule``.

    Returns the peak AMPA conductance onto the postsynaptic cell after each arrival (recorded every
    step), as ratios to the first, against :meth:`TsodyksMarkram.ratios` at the realised intervals.
    """
    period = 1000.0 / rate
    duration = 50.0 + spikes * period
    with tempfile.TemporaryDirectory() as scratch:
        system = _pairs_circuit(Path(directory or scratch) / "pairs-1", 1)
        env = _make(system, backend, model, seed)
        try:
            ampa = next(name for name in env.weight_names if "-AMPA-" in name)
            env.set_weights({name: weight for name in env.weight_names})
            env.enable_plasticity({ampa: rule})
            step = env.dt if dt is None else dt
            env.record_conductance(ampa, dt=step)
            stimulus = Stimulus(
                _pulses({0: [20.0 + n * period for n in range(spikes)]}, 2, duration, PULSE_AMPLITUDE[model]),
                dt=STIMULUS_DT,
                input_mode="current",
            )
            run = env.run(duration, stimulus=stimulus, dt=dt)
            delay = float(env.network.connections.delays(step)[0])
        finally:
            env.close()
    ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
    pre = np.sort(times[ids == 0])
    if len(pre) != spikes or np.any(ids == 1):
        raise ValueError(f"expected {spikes} presynaptic and no postsynaptic spikes, got {np.bincount(ids, minlength=2).tolist()}")
    g = np.asarray(run.conductance.values)[list(np.asarray(run.conductance.ids)).index(1)]  # onto the postsynaptic cell
    sample = np.arange(g.shape[0]) * run.conductance.dt
    peaks = []
    for k, t in enumerate(pre):
        end = pre[k + 1] + delay if k + 1 < len(pre) else duration
        window = (sample >= t + delay) & (sample < end)
        peaks.append(g[window].max())
    peaks = np.asarray(peaks)
    return TrainResult(pre, peaks, peaks / peaks[0], rule.ratios(np.diff(pre)))
