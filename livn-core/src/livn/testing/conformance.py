"""The behaviour shared by all backends, as a pytest mixin (not collected on its own)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

import livn
from livn.errors import CapabilityError
from livn.factory import DEFAULT_RECORDING
from livn.run import Run
from livn.signals import SIGNALS
from livn.stimulus import Stimulus

__all__ = ["BackendConformance"]


class BackendConformance:
    """Mix into a ``Test...`` class and set ``backend`` (a name or an Env subclass)."""

    #: Backend name or Env subclass under test.
    backend: ClassVar[Any] = None
    #: System used by the suite: small, with spontaneous activity under the model defaults.
    system: ClassVar[Any] = "EI1"
    #: Extra keyword arguments for ``livn.make``.
    make_kwargs: ClassVar[dict[str, Any]] = {}
    #: Run length (ms) for the suite's runs.
    duration: ClassVar[float] = 100.0
    #: Somatic current (nA) that clearly raises firing in the suite's stimulus test.
    drive_current: ClassVar[float] = 0.2
    #: ``{test name: (exception type, reason)}``: declared gaps, run as strict expected failures.
    known_gaps: ClassVar[dict[str, tuple[type[BaseException], str]]] = {}

    @pytest.fixture(autouse=True)
    def _declared_gaps(self, request: pytest.FixtureRequest) -> None:
        name = request.node.originalname if hasattr(request.node, "originalname") else request.node.name
        if name in self.known_gaps:
            exc, reason = self.known_gaps[name]
            request.applymarker(pytest.mark.xfail(raises=exc, strict=True, reason=reason))

    def make(self, seed: int = 123, **kwargs: Any) -> livn.Env:
        """A fresh env of the backend under test."""
        options = {**self.make_kwargs, **kwargs}
        return livn.make(self.system, backend=self.backend, seed=seed, **options)

    @staticmethod
    def spike_set(run: Run) -> list[tuple[int, float]]:
        """Spikes as sorted (gid, time rounded to 1e-6 ms) pairs."""
        it, t = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
        return sorted(zip(it.astype(int).tolist(), np.round(t.astype(float), 6).tolist()))

    # -- making and running --------------------------------------------------------------------
    def test_make_returns_env(self) -> None:
        env = self.make()
        assert livn.Env in type(env).__mro__
        assert env.initialized and env.t == 0.0
        assert env.system.num_neurons > 0

    def test_run_unpacks_to_six(self) -> None:
        env = self.make()
        run = env.run(self.duration)
        assert isinstance(run, Run)
        it, t, iv, v, im, mp = run
        assert it is not None and t is not None and len(it) == len(t)
        assert np.shape(v) == (len(iv), np.shape(v)[1]) and np.shape(v)[1] > 0
        assert im is None and mp is None  # make() records spikes and voltage only

    def test_spikes_occur_and_lie_in_the_run(self) -> None:
        env = self.make()
        run = env.run(self.duration)
        t = np.asarray(run.spikes.times)
        assert t.size > 0, "the suite's system should be spontaneously active under the model defaults"
        assert np.all((t >= 0.0) & (t < self.duration))
        ids = np.asarray(run.spikes.ids)
        assert np.all((ids >= 0) & (ids < env.system.num_neurons))

    def test_voltage_rows_and_length(self) -> None:
        env = self.make()
        run = env.run(self.duration)
        assert np.shape(run.voltage.values)[0] == env.system.num_neurons
        expected = int(round(self.duration / run.voltage.dt))
        assert abs(np.shape(run.voltage.values)[1] - expected) <= 1
        assert np.all(np.isfinite(np.asarray(run.voltage.values)))

    def test_records_only_what_was_asked(self) -> None:
        env = livn.make(self.system, backend=self.backend, record=("spikes",), **self.make_kwargs)
        run = env.run(self.duration)
        assert run.spikes is not None and run.voltage is None and run.current is None
        env.record_voltage(dt=0.5)
        run = env.run(self.duration)
        assert run.voltage is not None and run.voltage.dt == pytest.approx(0.5)

    def test_population_recording(self) -> None:
        env = livn.make(self.system, backend=self.backend, record=(), **self.make_kwargs)
        population = env.system.populations[0]
        start, count = env.system.population_ranges[population]
        env.record_voltage(population=population)
        run = env.run(self.duration)
        assert sorted(np.asarray(run.voltage.ids).tolist()) == list(range(start, start + count))

    # -- reproducibility ---------------------------------------------------------------------------
    def test_same_seed_identical_spikes(self) -> None:
        a = self.make(seed=7).run(self.duration)
        b = self.make(seed=7).run(self.duration)
        assert self.spike_set(a) == self.spike_set(b)

    def test_different_seeds_differ(self) -> None:
        a = self.make(seed=7).run(self.duration)
        b = self.make(seed=8).run(self.duration)
        assert self.spike_set(a) != self.spike_set(b)

    def test_split_runs_equal_one_run(self) -> None:
        whole = self.make(seed=3).run(self.duration)
        env = self.make(seed=3)
        half = self.duration / 2
        first, second = env.run(half), env.run(half)
        assert env.t == pytest.approx(self.duration)
        assert second.t0 == pytest.approx(half)
        joined = first.concat(second)
        got, want = self.spike_set(joined), self.spike_set(whole)
        assert len(got) == len(want)
        assert [g for g, _ in got] == [g for g, _ in want]
        np.testing.assert_allclose([t for _, t in got], [t for _, t in want], atol=1e-6)

    def test_clear_resets_time_and_state(self) -> None:
        env = self.make(seed=5)
        first = env.run(self.duration)
        env.clear()
        assert env.t == 0.0
        again = env.run(self.duration)
        assert again.t0 == 0.0
        assert self.spike_set(first) == self.spike_set(again)

    def test_clear_with_seed_matches_fresh_env(self) -> None:
        env = self.make(seed=5)
        env.run(self.duration)
        env.clear(seed=6)
        assert env.seed == 6
        assert self.spike_set(env.run(self.duration)) == self.spike_set(self.make(seed=6).run(self.duration))

    # -- stimulus ----------------------------------------------------------------------------------
    def test_current_stimulus_drives_cells(self) -> None:
        env = self.make()
        n = env.system.num_neurons
        quiet = env.run(self.duration)
        env.clear()
        drive = Stimulus(np.full((int(self.duration / 0.5), n), self.drive_current), dt=0.5, input_mode="current")
        driven = env.run(self.duration, stimulus=drive)
        assert len(driven.spikes) > len(quiet.spikes)

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
            env.run(10.0, stimulus=Stimulus(values, dt=0.5, input_mode="current"))

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

    def test_setters_return_env(self) -> None:
        env = self.make()
        weights = dict.fromkeys(env.weight_names, 1.0)
        assert env.set_weights(weights) is env
        assert env.set_params({f"noise-{n}": env.noise[n] for n in env.noise_names}) is env

    def test_recordable_is_what_the_backend_declares(self) -> None:
        env = self.make()
        names = env.recordable()
        assert names == list(type(env).signals)
        assert "spikes" in names and "voltage" in names
        assert all(name in SIGNALS for name in names)
        assert set(env.recording) == {what for what in DEFAULT_RECORDING if what in names}

    def test_capabilities_are_declared(self) -> None:
        env = self.make()
        caps = type(env).capabilities()
        assert env.model.name in caps["models"]
        assert isinstance(caps["differentiable"], bool)

    def test_close_then_run_raises(self) -> None:
        env = self.make()
        with env:
            env.run(10.0)
        with pytest.raises(RuntimeError, match="closed"):
            env.run(10.0)
