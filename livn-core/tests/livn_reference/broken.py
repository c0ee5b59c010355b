"""Deliberately broken backends: the reference backend with exactly one defect each.

Every class names the conformance check (``check``) that must fail on it, and the arguments to
call that check with (``call``: one dict per call; ``model`` defaults to the backend's default).
``raises`` is what the failing check raises: an assertion (``AssertionError``, or pytest's
``Failed`` when an expected error is not raised) unless the defect shows as another error.
``livn-core/tests/test_conformance_teeth.py`` runs each check on its breaker and on the reference.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest
from livn.plasticity import PlasticityError, TsodyksMarkram
from livn.run import Series
from livn.signals import SIGNALS
from livn.stimulus import Stimulus

from livn_reference.env import Env as Reference
from livn_reference.env import STDPRows, TsodyksMarkramRows

__all__ = ["BREAKERS", "Breaker"]

FAILED: tuple[type[BaseException], ...] = (AssertionError, pytest.fail.Exception)


class Breaker(Reference):
    """The reference with one defect; subclasses set ``check`` and document the defect."""

    check: ClassVar[str] = ""
    call: ClassVar[tuple[dict[str, Any], ...]] = ({},)
    raises: ClassVar[tuple[type[BaseException], ...]] = FAILED


# -- making and running ----------------------------------------------------------------------------
class IgnoresModel(Breaker):
    """Builds its default model whatever ``model=`` asks for."""

    check = "test_make_builds_the_requested_model"
    call = ({"model": "lif"},)

    def __init__(self, system: Any, model: Any = None, **kwargs: Any) -> None:
        super().__init__(system, model=None, **kwargs)


class RecordsCurrentUnasked(Breaker):
    """Records its membrane current as well, though make() asked for spikes and voltage only."""

    check = "test_run_returns_the_default_recording"

    def _init(self) -> None:
        super()._init()
        self.record("membrane_current")


class AbsoluteSpikeTimes(Breaker):
    """Stamps spikes with the time since t = 0 instead of the time since the run's start."""

    check = "test_spikes_occur_and_lie_in_the_run"

    def _run(self, duration: float, stimulus: Any, dt: float) -> dict:
        out = super()._run(duration, stimulus, dt)
        spikes = out["spikes"]
        out["spikes"] = type(spikes)(spikes.ids, np.asarray(spikes.times) + self.t)
        return out


class DropsLastVoltageSample(Breaker):
    """Returns one voltage sample too few per run."""

    check = "test_voltage_rows_and_length"

    def _run(self, duration: float, stimulus: Any, dt: float) -> dict:
        out = super()._run(duration, stimulus, dt)
        if "voltage" in out:
            v = out["voltage"]
            out["voltage"] = Series(v.ids, np.asarray(v.values)[:, :-1], v.dt)
        return out


class IgnoresVoltageGids(Breaker):
    """Records the voltage of every cell of the population whatever ``gids=`` asked for."""

    check = "test_voltage_of_chosen_gids"

    def recorded_gids(self, what: str) -> np.ndarray:
        return self._cells(self.recording[what]["population"])


class IgnoresVoltageDt(Breaker):
    """Samples the voltage every step whatever ``dt`` was asked for (and labels it with the asked dt)."""

    check = "test_records_only_what_was_asked"

    def _run(self, duration: float, stimulus: Any, dt: float) -> dict:
        request = self.recording.get("voltage")
        if request is None:
            return super()._run(duration, stimulus, dt)
        asked, request["dt"] = request["dt"], dt
        try:
            out = super()._run(duration, stimulus, dt)
        finally:
            request["dt"] = asked
        v = out["voltage"]
        out["voltage"] = Series(v.ids, v.values, asked)
        return out


class PopulationFromZero(Breaker):
    """Records a population's count of cells from gid 0 instead of from the population's start."""

    check = "test_population_recording"

    def _cells(self, population: str | None) -> np.ndarray:
        if population is None:
            return super()._cells(None)
        return np.arange(self.system.population_ranges[population][1])


# -- reproducibility ---------------------------------------------------------------------------------
class Unseeded(Breaker):
    """Draws its noise from fresh OS entropy instead of the seed."""

    check = "test_same_seed_identical_spikes"

    def _clear(self) -> None:
        super()._clear()
        self.rng = np.random.default_rng()


class IgnoresSeed(Breaker):
    """Uses seed 0 for its cells and noise whatever the env's seed is."""

    check = "test_different_seeds_differ"

    def _clear(self) -> None:
        seed, self.seed = self.seed, 0
        try:
            super()._clear()
        finally:
            self.seed = seed


class ReseedsEveryRun(Breaker):
    """Restarts its noise stream at every run, so a run split in two repeats the first half's noise."""

    check = "test_split_runs_equal_one_run"

    def _run(self, duration: float, stimulus: Any, dt: float) -> dict:
        self.rng = np.random.default_rng(self.seed)
        return super()._run(duration, stimulus, dt)


class FirstSampleAtRest(Breaker):
    """Reports the initial potential as each run's first voltage sample, not the state the run starts from."""

    check = "test_split_runs_continue_the_voltage"

    def _run(self, duration: float, stimulus: Any, dt: float) -> dict:
        out = super()._run(duration, stimulus, dt)
        if "voltage" in out:
            v = out["voltage"]
            values = np.array(v.values)
            values[:, 0] = self.cells.initial()["v"][np.asarray(v.ids)]
            out["voltage"] = Series(v.ids, values, v.dt)
        return out


class IgnoresClear(Breaker):
    """``clear()`` resets the clock but not the simulation state."""

    check = "test_clear_resets_time_and_state"

    def _clear(self) -> None:
        if not hasattr(self, "state"):  # the first call, from _init, builds the state
            super()._clear()


class ClearKeepsFirstSeed(Breaker):
    """``clear(seed=...)`` restarts with the seed the env was made with, not the new one."""

    check = "test_clear_with_seed_matches_fresh_env"

    def _init(self) -> None:
        self.first_seed = self.seed
        super()._init()

    def _clear(self) -> None:
        seed, self.seed = self.seed, self.first_seed
        try:
            super()._clear()
        finally:
            self.seed = seed


class SharedGenerator(Breaker):
    """Keeps one noise generator per process, so a second env reseeds the first one's noise."""

    check = "test_envs_run_side_by_side"
    shared: ClassVar[Any] = None

    @property
    def rng(self) -> Any:
        return SharedGenerator.shared

    @rng.setter
    def rng(self, value: Any) -> None:
        SharedGenerator.shared = value


# -- stimulus ----------------------------------------------------------------------------------------
class DropsCurrentStimulus(Breaker):
    """Ignores current stimuli."""

    check = "test_current_stimulus_drives_cells"

    def stimulus_current(self, stimulus: Any, dt: float, steps: int) -> np.ndarray:
        if stimulus is not None and stimulus.input_mode == "current":
            stimulus = None
        return super().stimulus_current(stimulus, dt, steps)


class DropsExtracellularStimulus(Breaker):
    """Ignores extracellular stimuli."""

    check = "test_extracellular_stimulus_drives_cells_near_the_electrode"

    def stimulus_current(self, stimulus: Any, dt: float, steps: int) -> np.ndarray:
        if stimulus is not None and stimulus.input_mode == "extracellular":
            stimulus = None
        return super().stimulus_current(stimulus, dt, steps)


class ForgetsStimulusDt(Breaker):
    """Continues a run with a stimulus of another step, silently resampling it."""

    check = "test_stimulus_dt_mismatch_on_continued_run_raises"

    def run(self, duration: float, stimulus: Any = None, dt: float | None = None) -> Any:
        self._stimulus_dt = None
        return super().run(duration, stimulus=stimulus, dt=dt)


class TruncatesWideStimulus(Breaker):
    """Drops the columns of a stimulus that has more columns than cells."""

    check = "test_wrong_stimulus_width_raises"

    def _check_stimulus(self, stimulus: Any, duration: float, dt: float) -> Any:
        n = self.system.num_neurons
        if isinstance(stimulus, Stimulus) and stimulus.gids is None and stimulus.num_cells > n:
            stimulus = Stimulus(stimulus.array[:, :n], dt=stimulus.dt, input_mode=stimulus.input_mode)
        return super()._check_stimulus(stimulus, duration, dt)


class ZeroesNaNStimulus(Breaker):
    """Takes a plain array stimulus with its NaN read as 0."""

    check = "test_nan_stimulus_raises"

    def _check_stimulus(self, stimulus: Any, duration: float, dt: float) -> Any:
        if isinstance(stimulus, np.ndarray):
            stimulus = np.nan_to_num(stimulus, nan=0.0, posinf=0.0, neginf=0.0)
        return super()._check_stimulus(stimulus, duration, dt)


# -- parameters ----------------------------------------------------------------------------------------
class WeightsFixedAtInit(Breaker):
    """Reads the weights once, when the network is built: ``set_weights`` after make() does nothing."""

    check = "test_set_weights_changes_recurrent_drive"

    def _weights_changed(self) -> None:
        pass


class NoiseFixedAtInit(Breaker):
    """Reads the noise once, when the network is built: ``set_noise`` after make() does nothing."""

    check = "test_set_noise_changes_spikes"

    def _init(self) -> None:
        super()._init()
        self.built_noise = super().noise_values()

    def noise_values(self) -> dict[str, float]:
        return self.built_noise


# -- bad input -----------------------------------------------------------------------------------------
class ClampsDuration(Breaker):
    """Runs one step when the duration is not a positive, finite number of ms."""

    check = "test_bad_duration_raises"
    call = tuple({"duration": d} for d in (0, -5.0, float("nan"), float("inf")))

    def run(self, duration: float, stimulus: Any = None, dt: float | None = None) -> Any:
        if not (math.isfinite(duration) and duration > 0):
            duration = 0.1
        return super().run(duration, stimulus=stimulus, dt=dt)


class IgnoresUnknownSignals(Breaker):
    """Silently records nothing when asked for a signal livn does not know."""

    check = "test_unknown_signal_raises"

    def record(self, what: str, population: str | None = None, **options: Any) -> Any:
        if what not in SIGNALS:
            return self
        return super().record(what, population, **options)


class DropsUnknownRecordOptions(Breaker):
    """Drops recording options it does not know instead of refusing them."""

    check = "test_unknown_record_option_raises"

    def record(self, what: str, population: str | None = None, **options: Any) -> Any:
        known = SIGNALS[what].options if what in SIGNALS else {}
        return super().record(what, population, **{k: v for k, v in options.items() if k in known})


class UnknownPopulationMeansAll(Breaker):
    """Records every cell when asked for a population the system does not have."""

    check = "test_unknown_population_raises"

    def record(self, what: str, population: str | None = None, **options: Any) -> Any:
        if population not in self.system.population_ranges:
            population = None
        return super().record(what, population, **options)


class IgnoresUnknownWeights(Breaker):
    """Drops weight names it does not know instead of refusing them."""

    check = "test_unknown_parameters_raise"

    def set_weights(self, weights: Any) -> Any:
        return super().set_weights({k: v for k, v in dict(weights).items() if k in self.weight_names})


# -- what the backend declares -------------------------------------------------------------------------
class DeclaresNoVoltage(Breaker):
    """Does not declare the soma voltage every livn backend records."""

    check = "test_recordable_is_what_the_backend_declares"
    signals = ("spikes", "membrane_current")


class DefaultModelNotImplemented(Breaker):
    """Declares a default model it does not implement."""

    check = "test_capabilities_are_declared"
    default_model = "rcsd"


class CloseKeepsRunning(Breaker):
    """``close()`` frees the simulation but leaves the env marked open, so it runs on."""

    check = "test_close_then_run_raises"

    def close(self) -> None:
        self._close()


# -- membrane current and the field potential ------------------------------------------------------------
class MembraneCurrentInNanoamps(Breaker):
    """Reports membrane currents in nA where livn expects uA."""

    check = "test_membrane_current_recording"

    def _run(self, duration: float, stimulus: Any, dt: float) -> dict:
        out = super()._run(duration, stimulus, dt)
        if "membrane_current" in out:
            i = out["membrane_current"]
            out["membrane_current"] = Series(i.ids, 1e3 * np.asarray(i.values), i.dt, i.sites)
        return out


class FlatMembraneCurrent(Breaker):
    """Records membrane current rows that are all zero."""

    check = "test_lfp_follows_activity"

    def _run(self, duration: float, stimulus: Any, dt: float) -> dict:
        out = super()._run(duration, stimulus, dt)
        if "membrane_current" in out:
            i = out["membrane_current"]
            out["membrane_current"] = Series(i.ids, np.zeros(np.shape(i.values)), i.dt, i.sites)
        return out


# -- plasticity ------------------------------------------------------------------------------------------
class SilentOnWeights(Breaker):
    """Runs plasticity rules but does not declare the weights signal."""

    check = "test_plasticity_is_declared"
    signals = ("spikes", "voltage", "membrane_current", "conductance")


class _FastTraces(STDPRows):
    def decay(self, dt: float) -> None:
        self.x_pre *= np.exp(-2.0 * dt / self.rule.tau_plus)
        self.x_post *= np.exp(-2.0 * dt / self.rule.tau_minus)


class HalvesTheWindow(Breaker):
    """Its STDP traces decay twice as fast as tau_plus/tau_minus say."""

    check = "test_stdp_pairing_follows_the_window"

    @classmethod
    def plasticity_implementations(cls) -> dict[str, type]:
        return {**super().plasticity_implementations(), "stdp": _FastTraces}


class _NoCeiling(STDPRows):
    def fire(self, w: np.ndarray, fired: np.ndarray) -> None:
        hit = fired[self.post[self.rows]]
        self.x_post[fired] = 1.0 if self.nearest else self.x_post[fired] + 1.0
        w[self.rows[hit]] = np.maximum(w[self.rows[hit]] + self.rule.a_plus * self.rule.w_max * self.x_pre[hit], 0.0)


class NoUpperBound(Breaker):
    """Potentiation is not clipped at w_max."""

    check = "test_stdp_bounds_are_hard"

    @classmethod
    def plasticity_implementations(cls) -> dict[str, type]:
        return {**super().plasticity_implementations(), "stdp": _NoCeiling}


class _SlowRecovery(TsodyksMarkramRows):
    def decay(self, dt: float) -> None:
        facil = self.rule.tau_facil
        self.u *= np.exp(-dt / facil) if facil > 0 else 0.0
        self.r = 1.0 + (self.r - 1.0) * np.exp(-dt / (2.0 * self.rule.tau_rec))


class SlowRecovery(Breaker):
    """Synaptic resources recover with twice tau_rec."""

    check = "test_tsodyks_markram_follows_the_recursion"
    call = tuple(
        {"rule": rule}
        for rule in (TsodyksMarkram(U=0.5, tau_rec=800.0), TsodyksMarkram(U=0.1, tau_rec=100.0, tau_facil=500.0))
    )

    @classmethod
    def plasticity_implementations(cls) -> dict[str, type]:
        return {**super().plasticity_implementations(), "tsodyks-markram": _SlowRecovery}


class ClearKeepsLearnedWeights(Breaker):
    """clear() resets the cells but keeps the weights learned so far."""

    check = "test_plastic_runs_continue_and_clear_restores"

    def _clear(self) -> None:
        learned = getattr(self, "w", None)
        super()._clear()
        if learned is not None:
            self.w = learned


class RecordsWeightsReversed(Breaker):
    """Records the asked-for weight rows in reverse order."""

    check = "test_weights_per_connection_and_recorded"

    def _sample(self, what: str, rows: np.ndarray, *args: Any) -> np.ndarray:
        sample = super()._sample(what, rows, *args)
        return sample[::-1] if what == "weights" else sample


class WeightsPerClassOnly(Breaker):
    """Applies the weights per synapse class: values set per connection are dropped."""

    check = "test_normalize_weights_scales_each_cells_inputs"

    def _weights_changed(self) -> None:
        self.w = self.network.row_weights(self.weights)


class SwallowsPlasticityErrors(Breaker):
    """Ignores a plasticity configuration it cannot run instead of raising."""

    check = "test_bad_plasticity_input_raises"

    def enable_plasticity(self, config: Any) -> Any:
        try:
            return super().enable_plasticity(config)
        except PlasticityError:
            return self


#: Every broken backend, in the order of the suite's checks.
BREAKERS: tuple[type[Breaker], ...] = tuple(
    cls for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, Breaker) and cls is not Breaker
)
