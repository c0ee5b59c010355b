"""The shared Env behaviour, with a minimal backend defined here (no simulator)."""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn.errors import CapabilityError
from livn.run import Events
from livn.stimulus import Stimulus


class Minimal(livn.Env):
    """The smallest backend: no dynamics, one spike per cell per run at the run's midpoint."""

    backend_name = "minimal"
    signals = ("spikes",)
    default_model = "lif"
    default_dt = 0.1

    @classmethod
    def implementations(cls):
        return {"lif": None, "rcsd": None}

    def _init(self):
        self.built = True
        self.stimuli = []

    def _run(self, duration, stimulus, dt):
        self.stimuli.append(stimulus)
        ids = np.arange(self.system.num_neurons)
        return {"spikes": Events(ids, np.full(ids.size, duration / 2))}


def test_make_with_env_class_and_system_forms():
    assert livn.make(5, backend=Minimal, record=("spikes",)).system.num_neurons == 5
    env = livn.make({"EXC": 3, "INH": 2}, backend=Minimal, record=("spikes",))
    assert env.system.population_ranges == {"EXC": (0, 3), "INH": (3, 2)}
    assert env.built and env.initialized
    with pytest.raises(TypeError, match="system"):
        Minimal(3.5)


def test_model_capability_error_names_backends():
    with pytest.raises(CapabilityError, match="brian2"):
        Minimal(4, model="izhikevich")
    with pytest.raises(KeyError, match="registered models"):
        Minimal(4, model="hodgkin")


def test_run_validates_before_the_backend_runs():
    env = livn.make(4, backend=Minimal, record=("spikes",))
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="duration"):
            env.run(bad)
    with pytest.raises(ValueError, match="dt"):
        env.run(10, dt=-0.1)
    with pytest.raises(ValueError, match="lasts"):
        env.run(10, stimulus=Stimulus(np.zeros((30, 4)), dt=0.5, input_mode="current"))
    assert env.stimuli == [] and env.t == 0.0


def test_time_advances_and_clear_resets():
    env = livn.make(4, backend=Minimal, record=("spikes",))
    assert env.run(10).t0 == 0.0
    assert env.run(10).t0 == 10.0 and env.t == 20.0
    env.clear()
    assert env.t == 0.0


def test_raw_array_stimulus_is_extracellular_at_run_dt():
    env = livn.make(4, backend=Minimal, record=("spikes",))
    env.run(1.0, stimulus=np.zeros((10, 4)), dt=0.1)
    stim = env.stimuli[-1]
    assert stim.input_mode == "extracellular" and stim.dt == pytest.approx(0.1)


def test_set_params_routes_by_prefix():
    env = livn.make("EI1", backend=Minimal, record=("spikes",))
    name = env.weight_names[0]
    env.set_params({f"weight-{name}": 0.5, "noise-std": 0.1})
    assert env.weights[name] == 0.5 and env.noise["std"] == 0.1
    env.set_params({name: 0.25})
    assert env.weights[name] == 0.25
    with pytest.raises(ValueError, match="finite"):
        env.set_weights({name: float("inf")})
    with pytest.raises(TypeError, match="number"):
        env.set_noise({"std": "loud"})


def test_record_requests_are_kept_with_defaults():
    env = Minimal(4)
    env.record("spikes")
    assert env.recording == {"spikes": {"population": None}}
    with pytest.raises(CapabilityError, match="'minimal' cannot record 'voltage'.*recordable: \\['spikes'\\]"):
        env.record("voltage")


def test_cell_stimulus_one_potential_per_compartment():
    env = livn.make("EI2", backend=Minimal, model="rcsd", record=("spikes",))
    channels = env.io.electrode_coordinates.shape[0]
    inputs = np.zeros((4, channels))
    inputs[:, 0] = 1.0
    stim = env.cell_stimulus(inputs, dt=0.05)
    assert stim.array.shape == (4, env.system.num_neurons, 2)
    assert stim.input_mode == "extracellular"
    point = livn.make("EI2", backend=Minimal, record=("spikes",)).cell_stimulus(inputs)
    assert point.array.shape == (4, env.system.num_neurons)
    # the soma potential is what the point model sees
    np.testing.assert_allclose(point.array, stim.array[..., 0])


class _Ranks:
    def __init__(self, size: int) -> None:
        self.size = size

    def Get_size(self) -> int:
        return self.size

    def Get_rank(self) -> int:
        return 0


def test_comm_requires_an_mpi_backend():
    with pytest.raises(CapabilityError, match="neuron"):
        Minimal(4, comm=_Ranks(2))
    with pytest.raises(TypeError, match="communicator"):
        Minimal(4, comm=object())
    assert Minimal(4, comm=_Ranks(1)).comm is not None, "one rank (a pool worker's) is a serial env"


def test_cell_parameters_are_reproducible_and_overridable():
    a = Minimal("EI1", model="rcsd")
    b = Minimal("EI1", model="rcsd")
    np.testing.assert_array_equal(a.cell_parameters("EXC")["gc"], b.cell_parameters("EXC")["gc"])
    env = Minimal("EI1", model="lif")
    env.set_cell_params({"EXC": {"tau_m": 20.0}})
    assert np.all(env.cell_parameters("EXC")["tau_m"] == 20.0)
    assert np.all(env.cell_parameters("INH")["tau_m"] == 10.0)
    with pytest.raises(KeyError, match="valid ones"):
        env.set_cell_params({"EXC": {"tau_x": 1.0}})
    with pytest.raises(ValueError, match="scalar or 8"):
        env.set_cell_params({"EXC": {"tau_m": [1.0, 2.0]}})
    env.init()
    with pytest.raises(RuntimeError, match="before"):
        env.set_cell_params({"EXC": {"tau_m": 5.0}})


def test_make_applies_overrides_before_init():
    env = livn.make("EI1", backend=Minimal, model="lif", record=("spikes",),
                    noise={"std": 0.3}, cell_params={"INH": {"R": 50.0}},
                    weights={"EXC_INH-soma-GABA_A-weight": 3.0})
    assert env.noise["std"] == 0.3 and env.weights["EXC_INH-soma-GABA_A-weight"] == 3.0
    assert np.all(env.cell_parameters("INH")["R"] == 50.0)


def test_a_backend_that_declares_only_spikes_is_made_with_defaults():
    env = livn.make(4, backend=Minimal)
    assert env.recording == {"spikes": {"population": None}}
    assert Minimal.recordable() == ["spikes"]
    run = env.run(10)
    assert run.voltage is None and len(run.spikes) == 4
    with pytest.raises(CapabilityError, match="'minimal' cannot record 'voltage'"):
        livn.make(4, backend=Minimal, record=("spikes", "voltage"))


def test_run_is_assembled_in_core():
    env = livn.make({"EXC": 3, "INH": 1}, backend=Minimal)
    env.run(10)
    run = env.run(20)
    assert run.t0 == 10.0 and run.duration == 20.0
    assert run.population_ranges == {"EXC": (0, 3), "INH": (3, 1)}


def test_a_backend_returning_other_signals_than_recorded_is_a_bug_named_as_such():
    class Forgetful(Minimal):
        def _run(self, duration, stimulus, dt):
            return {}

    env = livn.make(4, backend=Forgetful)
    with pytest.raises(RuntimeError, match="missing \\['spikes'\\].*bug in the backend"):
        env.run(10)
    assert env.t == 0.0


def test_recording_interval_is_checked_before_the_backend_runs():
    class Sampled(Minimal):
        signals = ("spikes", "voltage")

    env = livn.make(4, backend=Sampled, record=())
    env.record_voltage(dt=0.25)
    with pytest.raises(ValueError, match="voltage recording samples every 0.25 ms.*dt=0.1"):
        env.run(10, dt=0.1)
    assert env.stimuli == []
    with pytest.raises(TypeError, match="unknown options \\['colour'\\]"):
        env.record("voltage", colour="red")


def test_default_voltage_recording_is_capped_at_scale(monkeypatch):
    class Sampled(Minimal):
        signals = ("spikes", "voltage")

    assert livn.factory.default_voltage_gids(livn.factory.DEFAULT_VOLTAGE_CELLS) is None
    np.testing.assert_array_equal(livn.factory.default_voltage_gids(10_000), np.arange(0, 10_000, 10))
    assert len(livn.factory.default_voltage_gids(2_500)) == 834  # every 3rd gid: never more than the cap
    monkeypatch.setattr(livn.factory, "DEFAULT_VOLTAGE_CELLS", 4)
    assert livn.make(4, backend=Sampled).recording["voltage"]["gids"] is None
    capped = livn.make(10, backend=Sampled).recording["voltage"]
    assert capped["gids"].tolist() == [0, 3, 6, 9] and capped["dt"] == 0.1
    # named explicitly, or recorded through the Env, the voltage is every cell's
    assert livn.make(10, backend=Sampled, record=("spikes", "voltage")).recording["voltage"]["gids"] is None


def test_declared_signals_must_be_known():
    with pytest.raises(TypeError, match="unknown signals \\['telepathy'\\]"):
        type("Bad", (Minimal,), {"signals": ("spikes", "telepathy")})


def test_env_is_an_abstract_base_class():
    class Incomplete(livn.Env):
        backend_name = "incomplete"

    with pytest.raises(TypeError, match="abstract"):
        Incomplete(4)
    assert issubclass(Minimal, livn.Env)


def test_errors_and_repr_name_the_backend_by_its_registered_name():
    class Unnamed(Minimal):
        backend_name = None

    assert Unnamed.label().endswith("Unnamed")
    env = livn.make(4, backend=Minimal)
    env.run(10)
    assert repr(env) == "<livn minimal env: parallel-4 (4 cells), model lif, t=10 ms>"
    with pytest.raises(CapabilityError, match="'minimal' does not run the model 'izhikevich'.*runs lif, rcsd"):
        Minimal(4, model="izhikevich")


def test_dt_is_the_step_the_env_runs_with():
    env = livn.make(4, backend=Minimal)
    assert env.dt == 0.1  # Minimal.default_dt, before any run
    env.run(1.0, dt=0.05)
    assert env.dt == 0.05
    env.clear()
    assert env.dt == 0.1


def test_tuned_plasticity_defaults_warn_on_a_backend_without_plasticity():
    import attrs
    import livn
    from livn.models.lif import LIF
    from livn_fake.env import Env as FakeEnv

    spec = attrs.evolve(LIF, default_plasticity={"EI2": {"EXC->EXC": {"rule": "tsodyks-markram", "U": 0.2}}})
    assert spec.plasticity_defaults("EI2") == {"EXC->EXC": {"rule": "tsodyks-markram", "U": 0.2}}
    assert spec.plasticity_defaults("EI3") == {} and spec.plasticity_defaults(None) == {}
    with pytest.warns(UserWarning, match=r"EI2's tuned defaults for model 'lif' include synaptic plasticity \(\['EXC->EXC'\]\)"):
        env = livn.make("EI2", backend=FakeEnv, model=spec, record=("spikes",))
    assert not env.plasticity
    env.close()
