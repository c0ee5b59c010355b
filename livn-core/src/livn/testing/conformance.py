"""The behaviour shared by all backends, as a pytest mixin (not collected on its own).

Every check can fail on a wrong backend: livn-core's tests run each one against a correct reference
backend and against a copy of it with one defect that the check must catch
(``livn-core/tests/test_conformance_teeth.py``). Checks that take a ``model`` argument run once per
model the backend implements (``Env.implementations()``), or per model in ``models``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

import livn
from livn import plugins
from livn.backends import resolve
from livn.decoding import LFP
from livn.errors import CapabilityError
from livn.factory import DEFAULT_RECORDING
from livn.plasticity import STDP, PlasticityError, TsodyksMarkram
from livn.run import Run
from livn.signals import SIGNALS
from livn.stimulus import Stimulus

__all__ = ["PLASTICITY_CHECKS", "BackendConformance", "without_plasticity"]

#: The plasticity checks a backend without plasticity rules fails (with CapabilityError, as it must).
PLASTICITY_CHECKS = (
    "test_stdp_pairing_follows_the_window",
    "test_stdp_bounds_are_hard",
    "test_tsodyks_markram_follows_the_recursion",
    "test_plastic_runs_continue_and_clear_restores",
    "test_weights_per_connection_and_recorded",
    "test_normalize_weights_scales_each_cells_inputs",
    "test_bad_plasticity_input_raises",
)


def without_plasticity(reason: str) -> dict[str, tuple[type[BaseException], str]]:
    """Known gaps (``BackendConformance.known_gaps``) of a backend that runs no plasticity rule."""
    return {name: (CapabilityError, reason) for name in PLASTICITY_CHECKS}


class BackendConformance:
    """Mix into a ``Test...`` class and set ``backend`` (a name or an Env subclass)."""

    #: Backend name or Env subclass under test (None: ``LIVN_BACKEND``, else livn's default).
    backend: ClassVar[Any] = None
    #: System used by the suite: small, with spontaneous activity under the model defaults, and
    #: cells within ``near_radius`` of an electrode.
    system: ClassVar[Any] = "EI1"
    #: Extra keyword arguments for ``livn.make``.
    make_kwargs: ClassVar[dict[str, Any]] = {}
    #: Models to run the per-model checks on; None means every model the backend implements.
    models: ClassVar[tuple[str, ...] | None] = None
    #: Models left out of the per-model checks (e.g. variants covered by the backend's own tests).
    skipped_models: ClassVar[tuple[str, ...]] = ()
    #: Run length (ms) of the suite's runs.
    duration: ClassVar[float] = 100.0
    #: Somatic current (nA) that clearly raises the firing of the cells it is given to.
    drive_current: ClassVar[float] = 0.2
    #: ``drive_current`` of the models whose rheobase lies above it, by model name (the GLIF
    #: defaults need 0.256 nA to fire at all).
    model_drive_current: ClassVar[dict[str, float]] = {f"glif{level}": 0.5 for level in range(1, 6)}
    #: Amplitude (uA) of the biphasic electrode pulses that fire the cells near the electrode.
    electrode_current: ClassVar[float] = 20.0
    #: Interval (ms) between those pulses.
    pulse_interval: ClassVar[float] = 10.0
    #: Cells within this planar distance (um) of the pulsed electrode count as near it.
    near_radius: ClassVar[float] = 100.0
    #: Largest STDP pairing error, in units of one pairing's change ``a_plus w_max`` (spike times on
    #: the step grid are exact; what remains is how the backend's traces decay between steps).
    stdp_tolerance: ClassVar[float] = 0.05
    #: Largest relative error of a Tsodyks-Markram release ratio (conductance peaks sampled every step).
    stp_tolerance: ClassVar[float] = 0.02
    #: ``{test name: (exception type, reason)}``: declared gaps, run as strict expected failures.
    #: A name is a check (``"test_x"``, every model) or one model's run of it (``"test_x[lif]"``).
    known_gaps: ClassVar[dict[str, tuple[type[BaseException], str]]] = {}

    # -- collection ----------------------------------------------------------------------------
    @classmethod
    def backend_class(cls) -> type[livn.Env]:
        """The Env subclass under test."""
        return resolve(cls.backend)

    @classmethod
    def models_under_test(cls) -> tuple[str, ...]:
        """The models the per-model checks run on: ``models``, else all the backend implements, less ``skipped_models``."""
        implemented = tuple(sorted(cls.backend_class().implementations()))
        models = implemented if cls.models is None else tuple(cls.models)
        models = tuple(m for m in models if m not in cls.skipped_models)
        if not models:
            raise ValueError(f"backend {cls.backend_class().label()!r} implements no model: nothing to check")
        return models

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run every check that takes ``model`` once per model under test."""
        if "model" in metafunc.fixturenames:
            models = self.models_under_test()
            metafunc.parametrize("model", models, ids=list(models))

    @pytest.fixture(autouse=True)
    def _declared_gaps(self, request: pytest.FixtureRequest) -> None:
        node = request.node
        original = getattr(node, "originalname", node.name)
        for name in (node.name, original):
            if name in self.known_gaps:
                exc, reason = self.known_gaps[name]
                request.applymarker(pytest.mark.xfail(raises=exc, strict=True, reason=reason))
                return

    # -- helpers ---------------------------------------------------------------------------------
    def make(self, model: str | None = None, seed: int = 123, **kwargs: Any) -> livn.Env:
        """A fresh env of the backend under test (its default model unless ``model`` is given)."""
        options = {**self.make_kwargs, **kwargs}
        if model is not None:
            options["model"] = model
        return livn.make(self.system, backend=self.backend, seed=seed, **options)

    @staticmethod
    def spike_set(run: Run) -> list[tuple[int, float]]:
        """Spikes as sorted (gid, time rounded to 1e-6 ms) pairs."""
        it, t = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
        return sorted(zip(it.astype(int).tolist(), np.round(t.astype(float), 6).tolist()))

    @staticmethod
    def spike_counts(env: livn.Env, run: Run) -> np.ndarray:
        """Spikes per cell, ``[num_neurons]``."""
        return np.bincount(np.asarray(run.spikes.ids).astype(int), minlength=env.system.num_neurons)

    @staticmethod
    def rows(series: Any, gids: np.ndarray) -> np.ndarray:
        """The rows of a voltage Series for ``gids``, in that order."""
        index = {int(g): k for k, g in enumerate(np.asarray(series.ids).tolist())}
        return np.asarray(series.values)[[index[int(g)] for g in gids]]

    def samples(self, dt: float, duration: float | None = None) -> int:
        """Samples of a recording every ``dt`` ms over ``duration`` (the suite's run length)."""
        return int(round((self.duration if duration is None else duration) / dt))

    def current_drive(self, env: livn.Env, gids: np.ndarray | None = None) -> Stimulus:
        """``drive_current`` nA (or the model's ``model_drive_current``) for the whole run to ``gids`` (every
        cell by default), sampled every 0.5 ms."""
        n = env.system.num_neurons if gids is None else len(gids)
        amplitude = self.model_drive_current.get(env.model.name, self.drive_current)
        values = np.full((self.samples(0.5), n), amplitude)
        return Stimulus(values, dt=0.5, gids=gids, input_mode="current")

    # -- making and running --------------------------------------------------------------------
    def test_make_builds_the_requested_model(self, model: str) -> None:
        env = self.make(model)
        assert isinstance(env, livn.Env) and isinstance(env, self.backend_class())
        assert env.initialized and not env.closed and env.t == 0.0
        assert env.model.name == model, f"asked for model {model!r}, the env runs {env.model.name!r}"
        assert env.system.num_neurons > 0

    def test_run_returns_the_default_recording(self, model: str) -> None:
        env = self.make(model)
        run = env.run(self.duration)
        assert isinstance(run, Run)
        assert run.t0 == 0.0 and run.duration == pytest.approx(self.duration)
        assert dict(run.population_ranges) == dict(env.system.population_ranges)
        it, t, iv, v, im, mp = run
        assert it is not None and t is not None
        assert np.ndim(it) == 1 and np.shape(it) == np.shape(t)
        assert np.issubdtype(np.asarray(it).dtype, np.integer), "spike ids are integer gids"
        assert iv is not None and v is not None and np.shape(v)[0] == len(iv)
        assert im is None and mp is None, "make() records spikes and voltage only"

    def test_spikes_occur_and_lie_in_the_run(self, model: str) -> None:
        env = self.make(model)
        first, second = env.run(self.duration), env.run(self.duration)
        assert second.t0 == pytest.approx(self.duration)
        assert len(first.spikes) > 0, "the suite's system should be spontaneously active under the model defaults"
        for run in (first, second):
            t, ids = np.asarray(run.spikes.times, dtype=float), np.asarray(run.spikes.ids)
            assert np.all((t >= 0.0) & (t < self.duration)), "spike times are ms after the run's start, inside it"
            assert np.all((ids >= 0) & (ids < env.system.num_neurons))

    def test_voltage_rows_and_length(self, model: str) -> None:
        env = self.make(model)
        run = env.run(self.duration)
        ids, values = np.asarray(run.voltage.ids), np.asarray(run.voltage.values)
        assert run.voltage.dt == pytest.approx(0.1), "make() records the voltage every 0.1 ms"
        assert sorted(ids.tolist()) == list(range(env.system.num_neurons)), "one row per cell"
        assert values.shape == (env.system.num_neurons, self.samples(run.voltage.dt)), "a sample every dt from t0"
        assert np.all(np.isfinite(values))
        assert -150.0 < values.min() and values.max() < 100.0, "membrane potentials in mV"

    def test_records_only_what_was_asked(self, model: str) -> None:
        env = self.make(model, record=("spikes",))
        run = env.run(self.duration)
        assert run.spikes is not None and run.voltage is None and run.current is None
        env.record_voltage(dt=0.5)
        run = env.run(self.duration)
        assert run.voltage is not None and run.voltage.dt == pytest.approx(0.5)
        assert np.shape(run.voltage.values) == (env.system.num_neurons, self.samples(0.5)), "not sampled every 0.5 ms"

    def test_population_recording(self, model: str) -> None:
        env = self.make(model, record=())
        population = env.system.populations[-1]
        start, count = env.system.population_ranges[population]
        gids = list(range(start, start + count))
        env.record_spikes(population=population)
        env.record_voltage(population=population)
        if "membrane_current" in env.signals:
            env.record_membrane_current(population=population)
        run = env.run(self.duration, stimulus=self.current_drive(env))
        assert sorted(np.asarray(run.voltage.ids).tolist()) == gids, f"voltage rows are not the {population} cells"
        assert np.shape(run.voltage.values)[0] == count
        spiking = set(np.asarray(run.spikes.ids).tolist())
        assert spiking, f"the driven {population} cells should fire"
        assert spiking <= set(gids), f"spikes of cells outside {population} were recorded"
        if run.current is not None:
            assert set(np.asarray(run.current.ids).tolist()) == set(gids), f"current rows are not the {population} cells"

    def test_voltage_of_chosen_gids(self, model: str) -> None:
        """``gids=`` records those cells only, sorted, with the values the whole recording has for them."""
        full = self.make(model, record=("voltage",)).run(self.duration)
        env = self.make(model, record=())
        n = env.system.num_neurons
        chosen = [n - 1, 0, n // 2]
        population = env.system.populations[-1]
        start, count = env.system.population_ranges[population]
        env.record_voltage(gids=chosen)
        picked = env.run(self.duration)
        ids = np.asarray(picked.voltage.ids).tolist()
        assert ids == sorted(chosen), "gids= rows come sorted"
        rows = [np.asarray(full.voltage.ids).tolist().index(g) for g in ids]
        np.testing.assert_array_equal(np.asarray(picked.voltage.values), np.asarray(full.voltage.values)[rows])
        env.record_voltage(population=population, gids=[start + count - 1])
        assert np.asarray(env.run(self.duration).voltage.ids).tolist() == [start + count - 1]
        for bad, match in (([n], "outside the system"), ([0, 0], "repeats"), ([], "non-empty"), ([0.5], "integer")):
            with pytest.raises(ValueError, match=match):
                env.record_voltage(gids=bad)
        if start > 0:
            with pytest.raises(ValueError, match=f"outside population {population!r}"):
                env.record_voltage(population=population, gids=[0])

    # -- reproducibility ---------------------------------------------------------------------------
    def test_same_seed_identical_spikes(self, model: str) -> None:
        a = self.make(model, seed=7).run(self.duration)
        b = self.make(model, seed=7).run(self.duration)
        assert self.spike_set(a) == self.spike_set(b), "two envs with one seed fired differently"
        np.testing.assert_allclose(a.voltage.values, b.voltage.values, rtol=0, atol=1e-9)

    def test_different_seeds_differ(self, model: str) -> None:
        a = self.make(model, seed=7).run(self.duration)
        b = self.make(model, seed=8).run(self.duration)
        assert self.spike_set(a) != self.spike_set(b), "seeds 7 and 8 fired identically: is the seed used?"

    def _split(self, model: str) -> tuple[Run, Run]:
        whole = self.make(model, seed=3).run(self.duration)
        env = self.make(model, seed=3)
        half = self.duration / 2
        first, second = env.run(half), env.run(half)
        assert env.t == pytest.approx(self.duration)
        assert second.t0 == pytest.approx(half)
        return whole, first.concat(second)

    def test_split_runs_equal_one_run(self, model: str) -> None:
        whole, joined = self._split(model)
        got, want = self.spike_set(joined), self.spike_set(whole)
        assert len(got) == len(want), f"two halves fired {len(got)} spikes, one run {len(want)}"
        assert [g for g, _ in got] == [g for g, _ in want], "two halves fired other cells than one run"
        np.testing.assert_allclose([t for _, t in got], [t for _, t in want], atol=1e-6)

    def test_split_runs_continue_the_voltage(self, model: str) -> None:
        whole, joined = self._split(model)
        assert np.shape(joined.voltage.values) == np.shape(whole.voltage.values)
        np.testing.assert_allclose(joined.voltage.values, whole.voltage.values, rtol=0, atol=1e-6)

    def test_clear_resets_time_and_state(self, model: str) -> None:
        env = self.make(model, seed=5)
        first = env.run(self.duration)
        assert env.clear() is env
        assert env.t == 0.0
        again = env.run(self.duration)
        assert again.t0 == 0.0
        assert self.spike_set(first) == self.spike_set(again), "a run after clear() differs from the first"
        np.testing.assert_allclose(first.voltage.values, again.voltage.values, rtol=0, atol=1e-9)

    def test_clear_with_seed_matches_fresh_env(self, model: str) -> None:
        env = self.make(model, seed=5)
        env.run(self.duration)
        env.clear(seed=6)
        assert env.seed == 6
        got = env.run(self.duration)
        fresh = self.make(model, seed=6).run(self.duration)
        assert self.spike_set(got) == self.spike_set(fresh), "clear(seed=6) does not start as a new env with seed 6"

    def test_envs_run_side_by_side(self, model: str) -> None:
        """Two envs alive at once run as each would alone (no state shared through the simulator)."""
        alone = [self.make(model, seed=seed).run(self.duration) for seed in (1, 2)]
        a, b = self.make(model, seed=1), self.make(model, seed=2)
        together = [a.run(self.duration), b.run(self.duration)]
        for seed, lone, run in zip((1, 2), alone, together):
            assert self.spike_set(run) == self.spike_set(lone), f"the env with seed {seed} fired differently beside another"

    # -- stimulus ----------------------------------------------------------------------------------
    def test_current_stimulus_drives_cells(self, model: str) -> None:
        env = self.make(model, seed=5)
        driven = np.arange(0, env.system.num_neurons, 2)
        others = np.arange(1, env.system.num_neurons, 2)
        quiet = self.spike_counts(env, env.run(self.duration))
        env.clear()
        counts = self.spike_counts(env, env.run(self.duration, stimulus=self.current_drive(env, driven)))
        gain, spill = (counts[c].sum() - quiet[c].sum() for c in (driven, others))
        assert gain >= driven.size, f"{self.drive_current} nA should add a spike per driven cell; added {gain}"
        assert gain > 2 * max(spill, 0), f"the current reached other cells: +{spill} there, +{gain} on the driven ones"

    def test_extracellular_stimulus_drives_cells_near_the_electrode(self, model: str) -> None:
        env = self.make(model, seed=5, record=("spikes",))
        distance = np.asarray(env.io.planar_distances(env.system.neuron_coordinates))
        channel = int(np.argmax((distance <= self.near_radius).sum(axis=1)))
        near = distance[channel] <= self.near_radius
        assert near.any(), f"no cell of {self.system!r} lies within {self.near_radius} um of an electrode"
        pulse_times = np.arange(self.pulse_interval / 2, self.duration - 1.0, self.pulse_interval)
        inputs = Stimulus.biphasic_pulse(
            distance.shape[0], channel, amplitude=self.electrode_current, pulse_times=pulse_times,
            dt=0.05, duration=self.duration,
        )
        stimulus = env.cell_stimulus(inputs, dt=0.05)
        assert stimulus.input_mode == "extracellular"
        baseline = self.spike_counts(env, env.run(self.duration))
        env.clear()
        driven = self.spike_counts(env, env.run(self.duration, stimulus=stimulus))
        gain = driven[near].sum() - baseline[near].sum()
        assert gain >= len(pulse_times), (
            f"{len(pulse_times)} pulses of {self.electrode_current} uA added {gain} spikes to the "
            f"{near.sum()} cells near electrode {channel}"
        )

    def test_stimulus_dt_mismatch_on_continued_run_raises(self) -> None:
        env = self.make()
        n = env.system.num_neurons
        env.run(10.0, stimulus=Stimulus(np.zeros((20, n)), dt=0.5, input_mode="current"))
        with pytest.raises(ValueError, match="clear"):
            env.run(10.0, stimulus=Stimulus(np.zeros((40, n)), dt=0.25, input_mode="current"))
        env.clear()
        env.run(10.0, stimulus=Stimulus(np.zeros((40, n)), dt=0.25, input_mode="current"))

    def test_wrong_stimulus_width_raises(self) -> None:
        env = self.make()
        with pytest.raises(ValueError, match="columns"):
            env.run(10.0, stimulus=Stimulus(np.zeros((20, env.system.num_neurons + 1)), dt=0.5, input_mode="current"))

    def test_nan_stimulus_raises(self) -> None:
        env = self.make()
        values = np.zeros((20, env.system.num_neurons))
        values[3, 0] = np.nan
        with pytest.raises(ValueError, match="NaN|finite"):
            env.run(10.0, stimulus=values)  # a plain array: the backend must not take it unchecked

    # -- parameters ---------------------------------------------------------------------------------
    def test_set_weights_changes_recurrent_drive(self, model: str) -> None:
        """Weights set after make() carry the driven cells' spikes to the others; zero weights carry none."""
        env = self.make(model, noise=plugins.models()[model].noise_off)
        defaults = dict(env.weights)
        driven = np.arange(0, env.system.num_neurons, 2)
        others = np.arange(1, env.system.num_neurons, 2)
        drive = self.current_drive(env, driven)
        connected = env.run(self.duration, stimulus=drive)
        assert np.isin(np.asarray(connected.spikes.ids), driven).any(), "the driven cells should fire"
        env.clear()
        assert env.set_weights(dict.fromkeys(env.weight_names, 0.0)) is env
        cut = env.run(self.duration, stimulus=drive)
        env.clear()
        alone = env.run(self.duration)
        env.clear()
        assert env.set_params({f"weight-{name}": value for name, value in defaults.items()}) is env
        restored = env.run(self.duration, stimulus=drive)
        v_connected, v_cut, v_alone, v_restored = (
            self.rows(run.voltage, others) for run in (connected, cut, alone, restored)
        )
        # noise is off: the runs are deterministic, so 0.01 mV is far above any rounding
        assert np.abs(v_connected - v_alone).max() > 0.01, "the driven cells' spikes should move the others' potential"
        np.testing.assert_allclose(v_cut, v_alone, rtol=0, atol=1e-6, err_msg="zero weights still carry spikes")
        np.testing.assert_allclose(v_restored, v_connected, rtol=0, atol=1e-9, err_msg="set_params did not restore")

    def test_set_noise_changes_spikes(self, model: str) -> None:
        env = self.make(model, seed=5)
        defaults = dict(env.noise)
        noisy = env.run(self.duration)
        assert len(noisy.spikes) > 0
        assert env.set_noise(env.model.noise_off) is env
        env.clear()
        assert len(env.run(self.duration).spikes) == 0, "without noise or stimulus, a culture at rest stays silent"
        assert env.set_params({f"noise-{name}": value for name, value in defaults.items()}) is env
        env.clear()
        assert self.spike_set(env.run(self.duration)) == self.spike_set(noisy), "set_params did not restore the noise"

    # -- bad input -----------------------------------------------------------------------------------
    @pytest.mark.parametrize("duration", [0, -5.0, float("nan"), float("inf")])
    def test_bad_duration_raises(self, duration: float) -> None:
        env = self.make()
        with pytest.raises(ValueError, match="duration"):
            env.run(duration)

    def test_unknown_signal_raises(self) -> None:
        env = self.make()
        with pytest.raises(CapabilityError, match="recordable"):
            env.record("telepathy")

    def test_unknown_record_option_raises(self) -> None:
        env = self.make()
        with pytest.raises(TypeError, match="unknown options"):
            env.record("spikes", colour="red")

    def test_unknown_population_raises(self) -> None:
        env = self.make()
        with pytest.raises(KeyError, match="populations"):
            env.record_spikes(population="NOPE")

    def test_unknown_parameters_raise(self) -> None:
        env = self.make()
        with pytest.raises(KeyError, match="valid"):
            env.set_weights({"NOPE-weight": 1.0})
        with pytest.raises(KeyError, match="valid"):
            env.set_noise({"nope": 1.0})
        with pytest.raises(KeyError, match="valid"):
            env.set_params({"nope": 1.0})

    # -- what the backend declares -------------------------------------------------------------------
    def test_recordable_is_what_the_backend_declares(self) -> None:
        env = self.make()
        names = env.recordable()
        assert names == list(type(env).signals)
        assert "spikes" in names and "voltage" in names, "every backend records spikes and the soma voltage"
        assert all(name in SIGNALS for name in names)
        assert set(env.recording) == {what for what in DEFAULT_RECORDING if what in names}

    def test_capabilities_are_declared(self) -> None:
        cls = self.backend_class()
        caps = cls.capabilities()
        assert caps["default_model"] in caps["models"], "the default model must be one the backend runs"
        assert set(self.models_under_test()) <= set(caps["models"])
        assert caps["signals"] == tuple(cls.signals)
        assert all(isinstance(caps[flag], bool) for flag in ("differentiable", "gpu", "mpi", "multicompartment"))
        assert self.make().model.name in caps["models"]

    def test_close_then_run_raises(self) -> None:
        env = self.make()
        with env:
            env.run(10.0)
        assert env.closed, "leaving the with block closes the env"
        with pytest.raises(RuntimeError, match="closed"):
            env.run(10.0)

    # -- membrane current and the field potential ------------------------------------------------------
    def test_membrane_current_recording(self, model: str) -> None:
        """Rows per cell and compartment, sampled as asked, in uA; refused where not declared."""
        env = self.make(model, record=("spikes",))
        if "membrane_current" not in env.signals:
            with pytest.raises(CapabilityError, match="membrane_current"):
                env.record_membrane_current()
            return
        env.record_membrane_current(dt=0.1)
        run = env.run(self.duration, stimulus=self.current_drive(env))
        current = run.current
        ids = np.asarray(current.ids).astype(int)
        assert current.dt == pytest.approx(0.1)
        assert set(ids.tolist()) == set(range(env.system.num_neurons)), "a row (or rows) for every cell"
        assert np.shape(current.values) == (len(ids), self.samples(0.1))
        if current.sites is None:
            assert len(set(ids.tolist())) == len(ids), "without sites, one row per cell"
        else:
            assert len(current.sites) == len(ids) and set(current.sites) <= set(env.model.sites)
            assert len(set(zip(ids.tolist(), current.sites))) == len(ids), "one row per cell and compartment"
        values = np.asarray(current.values)
        assert np.all(np.isfinite(values))
        # uA: a cell driven by a fraction of a nA passes a few nA at most, far below 0.1 uA
        assert np.abs(values).max() < 0.1, "membrane currents are in uA"

    def test_lfp_follows_activity(self, model: str) -> None:
        """The field potential (livn.decoding.LFP) of a driven culture is far larger than at rest."""
        env = self.make(model, record=("spikes",), noise=plugins.models()[model].noise_off)
        lfp = LFP(self.duration)
        if "membrane_current" not in env.signals:
            with pytest.raises(ValueError, match="membrane currents"):
                lfp(env, env.run(self.duration))
            return
        env.record_membrane_current(dt=0.1)
        rest = lfp(env, env.run(self.duration))["potential"]
        env.clear()
        run = env.run(self.duration, stimulus=self.current_drive(env))
        assert len(run.spikes) > 0
        driven = lfp(env, run)["potential"]
        channels = len(env.io.electrode_coordinates)
        assert driven.shape == rest.shape == (channels, self.samples(0.1))
        assert np.all(np.isfinite(driven))
        assert np.ptp(driven) > 0.0 and np.ptp(driven) > 10 * np.ptp(rest), "the LFP does not follow the spikes"

    # -- plasticity -------------------------------------------------------------------------------------
    def test_plasticity_is_declared(self) -> None:
        """A backend with rules records weights and conductances and takes weights per connection; one without refuses."""
        cls = self.backend_class()
        rules = cls.plasticity_implementations()
        assert cls.capabilities()["plasticity"] == tuple(sorted(rules))
        env = self.make()
        if not rules:
            with pytest.raises(CapabilityError, match="plasticity"):
                env.enable_plasticity({env.weight_names[0]: STDP()})
            return
        assert set(rules) <= set(plugins.plasticity_rules()), "implementations of rules nobody registered"
        assert cls.per_connection_weights, "plastic weights are per connection: set per_connection_weights"
        assert {"weights", "conductance"} <= set(cls.signals)

    # A backend without plasticity fails the checks below with CapabilityError: it declares them as
    # known gaps (test_plasticity_is_declared proves the refusal).
    def test_stdp_pairing_follows_the_window(self, model: str) -> None:
        """Pre-before-post potentiates, post-before-pre depresses, by the analytic window at the realised timing."""
        from livn.testing.plasticity import stdp_pairing

        result = stdp_pairing(self.backend, model, dts=(-10.0, 10.0), pairings=3, period=300.0)
        assert result.w_final[0].max() < result.w0 < result.w_final[1].min(), "depression at -10 ms, potentiation at +10 ms"
        assert result.error.max() < self.stdp_tolerance, f"weights {result.w_final} vs the window's {result.expected}"

    def test_stdp_bounds_are_hard(self, model: str) -> None:
        """Weights stop exactly at w_max and at 0."""
        from livn.testing.plasticity import stdp_pairing

        rule = STDP(w_max=0.1, a_plus=1.0, a_minus=1.0, pairing="nearest")
        result = stdp_pairing(self.backend, model, dts=(-10.0, 10.0), rule=rule, w0=0.09, pairings=3, period=300.0)
        np.testing.assert_array_equal(result.w_final[0], 0.0)
        np.testing.assert_array_equal(result.w_final[1], 0.1)

    @pytest.mark.parametrize(
        "rule",
        [TsodyksMarkram(U=0.5, tau_rec=800.0), TsodyksMarkram(U=0.1, tau_rec=100.0, tau_facil=500.0)],
        ids=["depressing", "facilitating"],
    )
    def test_tsodyks_markram_follows_the_recursion(self, model: str, rule: TsodyksMarkram) -> None:
        from livn.testing.plasticity import tsodyks_markram_train

        result = tsodyks_markram_train(self.backend, model, rule, spikes=5)
        np.testing.assert_allclose(result.measured, result.expected, rtol=self.stp_tolerance)

    def _learning_env(self, model: str, seed: int = 4) -> livn.Env:
        env = self.make(model, seed=seed)
        excitatory = [c for c in env.network.classes if c.receptor in ("AMPA", "NMDA")]
        env.enable_plasticity({c.weight_name: STDP(a_plus=0.05) for c in excitatory})
        return env

    def test_plastic_runs_continue_and_clear_restores(self, model: str) -> None:
        """Learning carries across run() calls (two halves equal one run) and clear() returns to the set weights."""
        env = self._learning_env(model)
        start = env.get_weights().values
        half = self.duration / 2
        drive = Stimulus(np.full((self.samples(0.5, half), env.system.num_neurons), self.drive_current), dt=0.5,
                         input_mode="current")  # the culture fires plenty, so synapses see pairs
        whole = env.run(self.duration, stimulus=Stimulus(np.concatenate([drive.array, drive.array]), dt=0.5, input_mode="current"))
        learned = env.get_weights().values
        assert len(whole.spikes) > 0 and not np.array_equal(learned, start), "the culture should fire and learn"
        env.clear()
        np.testing.assert_array_equal(env.get_weights().values, start, err_msg="clear() keeps learned weights")
        first, second = env.run(half, stimulus=drive), env.run(half, stimulus=drive)
        assert self.spike_set(first.concat(second)) == self.spike_set(whole)
        np.testing.assert_allclose(env.get_weights().values, learned, rtol=0, atol=1e-9)

    def test_weights_per_connection_and_recorded(self, model: str) -> None:
        """set_weights(array) round-trips; record_weights samples the rows asked for; disabling freezes them."""
        env = self._learning_env(model)
        weights = env.get_weights()
        assert len(weights) == env.network.num_rows
        np.testing.assert_array_equal(weights.pre, env.network.pre)
        values = np.linspace(0.5, 1.5, len(weights)) * weights.values  # within STDP's default w_max (twice the largest)
        env.set_weights(values)
        np.testing.assert_array_equal(env.get_weights().values, values)
        rows = np.arange(0, len(weights), max(1, len(weights) // 7))
        env.record_weights(dt=1.0, connections=rows)
        run = env.run(self.duration)
        assert np.asarray(run.weights.ids).tolist() == rows.tolist()
        assert np.shape(run.weights.values) == (len(rows), self.samples(1.0))
        np.testing.assert_allclose(np.asarray(run.weights.values)[:, 0], values[rows], rtol=0, atol=1e-12)
        env.disable_plasticity()
        frozen = env.get_weights().values
        env.run(self.duration)
        np.testing.assert_array_equal(env.get_weights().values, frozen, err_msg="disable_plasticity() should freeze weights")

    def test_normalize_weights_scales_each_cells_inputs(self, model: str) -> None:
        env = self.make(model)
        name = next(c.weight_name for c in env.network.classes if c.receptor == "AMPA")
        rows = env.network.synapse_class(name).rows
        env.set_weights({name: np.linspace(0.2, 2.0, rows.stop - rows.start)})
        env.normalize_weights(3.0, synapses=name)
        weights = env.get_weights()
        sums = np.bincount(weights.post[rows], weights=weights.values[rows])
        targets = np.unique(weights.post[rows])
        np.testing.assert_allclose(sums[targets], 3.0, rtol=1e-12)

    def test_bad_plasticity_input_raises(self) -> None:
        env = self.make()
        ampa = next(c.weight_name for c in env.network.classes if c.receptor == "AMPA")
        inhibitory = [c.weight_name for c in env.network.classes if c.receptor.startswith("GABA")]
        with pytest.raises(PlasticityError, match="unknown rule"):
            env.enable_plasticity({ampa: {"rule": "hebb"}})
        with pytest.raises(PlasticityError, match="no projection|unknown synapses"):
            env.enable_plasticity({"EXC->NOWHERE": STDP()})
        with pytest.raises(PlasticityError, match="tau_plus"):
            STDP(tau_plus=-1.0)
        with pytest.raises(PlasticityError, match="below the current weights"):
            env.enable_plasticity({ampa: STDP(w_max=0.5 * max(env.get_weights().of(ampa)))})
        if inhibitory:
            with pytest.raises(PlasticityError, match="AMPA, NMDA"):
                env.enable_plasticity({inhibitory[0]: STDP()})
        with pytest.raises(PlasticityError, match="two long-term"):
            env.enable_plasticity({ampa: [STDP(), STDP()]})
        assert env.plasticity == {}, "a refused configuration must change nothing"
