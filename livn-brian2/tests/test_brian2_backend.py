"""Behaviour of the brian2 backend beyond the shared conformance suite."""

from __future__ import annotations

import subprocess
import sys

import livn
import numpy as np
import pytest
from brian2_systems import AMPA, GABA_A, NMDA, WiredSystem, projection
from livn.errors import CapabilityError
from livn.models.lif import lif_isi
from livn.stimulus import Stimulus
from livn.system import ParallelSystem, Receptor
from livn_brian2 import config
from livn_brian2.functions import lif_step, mg_block
from livn_brian2.model import MG_CONCENTRATION, MG_SENSITIVITY, MG_VOLTAGE_SLOPE

QUIET = {"mean": 0.0, "std": 0.0, "tau": 5.0}


def spikes(run):
    return sorted(zip(np.asarray(run.spikes.ids).tolist(), np.round(np.asarray(run.spikes.times), 6).tolist()))


# -- packaging -----------------------------------------------------------------------------------------
def test_importing_the_package_does_not_import_brian2():
    code = "import sys, livn_brian2; assert 'brian2' not in sys.modules, 'brian2 imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_brian2_is_the_default_backend(monkeypatch):
    monkeypatch.delenv("LIVN_BACKEND", raising=False)
    env = livn.make("EI1")
    assert env.backend_name == "brian2"
    assert env.model.name == "izhikevich"


def test_rcsd_is_a_capability_error():
    with pytest.raises(CapabilityError, match="diffrax"):
        livn.make("EI1", backend="brian2", model="rcsd")


# -- models as plugins -------------------------------------------------------------------------------------------
def test_the_plugin_registers_izhikevich_and_lif_for_brian2_only():
    from livn.models import IZHIKEVICH, LIF
    from livn_brian2 import plugin
    from livn_brian2.env import Env
    from livn_brian2.models import Brian2Model

    implementations = Env.implementations()
    assert {IZHIKEVICH.name, LIF.name} <= set(implementations)
    assert all(isinstance(implementations[name], Brian2Model) for name in (IZHIKEVICH.name, LIF.name))
    assert implementations[LIF.name].name == LIF.name
    assert plugin.livn_model_implementations(backend="diffrax") == {}
    assert livn.make("EI1", backend="brian2", model="lif").implementation is implementations[LIF.name]


def test_a_model_from_another_plugin_runs_on_the_unchanged_backend():
    """A perfect integrator (C dv/dt = I, reset to 0 at 10 mV) from a plugin the backend never heard of."""
    from livn import plugins
    from livn.hookspecs import hookimpl
    from livn.models import ModelSpec, Parameter
    from livn.models.noise import POINT_NOISE
    from livn_brian2.models import Brian2Model

    parameters = (Parameter("C", 0.1, "nF", "capacitance"), Parameter("v_reset", 0.0, "mV", "reset"))
    spec = ModelSpec(
        name="brian2-test-integrator",
        description="perfect integrate-and-fire (a test of the plugin interface)",
        sites=("soma",),
        parameters={"EXC": parameters},
        cell_parameters=lambda kind, n, rng: {p.name: np.full(n, p.value) for p in parameters},
        noise_parameters=POINT_NOISE,
        constants={"v_th": 10.0},
        noise_off={"mean": 0.0, "std": 0.0},
    )
    implementation = Brian2Model(
        name=spec.name,
        variables=("C : 1 (constant)", "v_reset : 1 (constant)"),
        reset="v = int(v >= v_th) * v_reset + (1 - int(v >= v_th)) * v",
        update="v += (dt / ms) * (I_syn + I_noise + I_stim) / C\nv = v - int(v > v_th) * (v - v_th)",
        threshold="v >= v_th",
        constants=("v_th",),
        initial_state=lambda cells, constants: {"v": cells["v_reset"]},
    )

    class Plugin:
        @hookimpl
        def livn_models(self):
            return [spec]

        @hookimpl
        def livn_model_implementations(self, backend):
            return {spec.name: implementation} if backend == "brian2" else {}

    manager = plugins.get_plugin_manager()
    manager.register(Plugin(), name="brian2-test-integrator")
    try:
        env = livn.make({"EXC": 2}, backend="brian2", model=spec.name, record=("spikes", "voltage"), noise=QUIET)
        run = env.run(100, stimulus=Stimulus(np.array([[0.1, 0.05]]).repeat(1000, 0), dt=0.1, input_mode="current"))
    finally:
        manager.unregister(name="brian2-test-integrator")
    ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
    # 1 and 0.5 mV/ms from 0 to 10 mV: a spike every 10 (20) ms, to within a step
    assert np.diff(times[ids == 0]) == pytest.approx(10.0, abs=0.11)
    assert np.diff(times[ids == 1]) == pytest.approx(20.0, abs=0.11)
    assert (ids == 0).sum() == 9 and (ids == 1).sum() == 5
    assert np.asarray(run.voltage.values).max() == 10.0


# -- codegen ---------------------------------------------------------------------------------------------
def test_codegen_setting_is_validated(monkeypatch):
    monkeypatch.setenv(config.LIVN_BRIAN2_CODEGEN, "fortran")
    with pytest.raises(ValueError, match="LIVN_BRIAN2_CODEGEN"):
        config.codegen_target()


def test_auto_falls_back_to_numpy_with_a_warning_and_explicit_cython_raises(monkeypatch):
    monkeypatch.setattr(config, "cython_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="numpy"):
        assert config.codegen_target("auto") == "numpy"
    with pytest.raises(RuntimeError, match="LIVN_BRIAN2_CODEGEN=numpy"):
        config.codegen_target("cython")


@pytest.mark.parametrize("model", ["izhikevich", "lif"])
def test_numpy_target_gives_the_cython_spikes(monkeypatch, model):
    if config.codegen_target("auto") != "cython":
        pytest.skip("no C++ compiler here: the cython target cannot be compared")
    compiled = livn.make("EI1", backend="brian2", model=model, seed=11)
    monkeypatch.setenv(config.LIVN_BRIAN2_CODEGEN, "numpy")
    interpreted = livn.make("EI1", backend="brian2", model=model, seed=11)
    assert (compiled.codegen, interpreted.codegen) == ("cython", "numpy")
    assert spikes(compiled.run(200)) == spikes(interpreted.run(200))


def test_a_second_make_compiles_nothing():
    if config.codegen_target("auto") != "cython":
        pytest.skip("no C++ compiler here: nothing is compiled")
    from brian2.codegen.runtime.cython_rt.extension_manager import cython_extension_manager

    stimulus = Stimulus(np.full((40, 10), 0.05), dt=0.5, input_mode="current")
    first = livn.make("EI1", backend="brian2")
    first.record_membrane_current(dt=0.5)
    first.run(20, stimulus=stimulus)
    modules = len(cython_extension_manager._code_cache)
    env = livn.make("EI1", backend="brian2", seed=99)
    env.record_membrane_current(dt=0.5)
    env.set_weights(dict.fromkeys(env.weight_names, 0.5))
    env.run(20, stimulus=stimulus)
    env.clear()
    env.run(20, stimulus=Stimulus(np.full((13, 10), 0.05), dt=1.5, input_mode="current"))
    assert len(cython_extension_manager._code_cache) == modules


# -- continuity and reproducibility ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["current", "extracellular"])
def test_split_runs_with_stimulus_equal_one_run(mode):
    rng = np.random.default_rng(0)
    scale = 0.05 if mode == "current" else 2.0
    values = rng.normal(0.0, scale, size=(400, 10))
    whole_env = livn.make("EI1", backend="brian2", seed=4)
    whole = whole_env.run(100, stimulus=Stimulus(values, dt=0.25, input_mode=mode))
    env = livn.make("EI1", backend="brian2", seed=4)
    first = env.run(50, stimulus=Stimulus(values[:200], dt=0.25, input_mode=mode))
    second = env.run(50, stimulus=Stimulus(values[200:], dt=0.25, input_mode=mode))
    joined = first.concat(second)
    assert len(whole.spikes) > 0
    assert spikes(joined) == spikes(whole)
    np.testing.assert_array_equal(joined.voltage.values, whole.voltage.values)


def test_reusing_code_objects_between_runs_changes_nothing():
    """Later runs reuse brian2's code objects; a run that regenerates them must give the same numbers."""

    def session(env):
        rng = np.random.default_rng(3)
        out = [env.run(20)]
        env.set_noise({"mean": 0.02, "std": 0.03, "tau": 4.0})
        out.append(env.run(20))
        for scale in (0.1, 0.2):
            values = rng.normal(0.0, scale, (40, 10))
            out.append(env.run(20, stimulus=Stimulus(values, dt=0.5, input_mode="current")))
        env.set_weights(dict.fromkeys(env.weight_names, 2.0))
        out += [env.run(20), env.run(30)]
        return out

    reused = livn.make("EI1", backend="brian2", seed=8)
    regenerated = livn.make("EI1", backend="brian2", seed=8)
    regenerated.simulation._layout = lambda: None  # never reuse: brian2's Network.run every time
    runs = session(reused)
    assert reused.simulation._reusable is not None
    for ours, theirs in zip(runs, session(regenerated), strict=True):
        assert spikes(ours) == spikes(theirs)
        np.testing.assert_array_equal(ours.voltage.values, theirs.voltage.values)
    assert sum(len(run.spikes) for run in runs) > 0


def test_stimulus_changes_spikes_and_ends_with_its_run():
    env = livn.make("EI1", backend="brian2", seed=4)
    quiet = env.run(50)
    env.clear()
    driven = env.run(50, stimulus=Stimulus(np.full((100, 10), 0.3), dt=0.5, input_mode="current"))
    assert len(driven.spikes) > 3 * max(1, len(quiet.spikes))
    after = env.run(50)
    env2 = livn.make("EI1", backend="brian2", seed=4)
    env2.run(50, stimulus=Stimulus(np.full((100, 10), 0.3), dt=0.5, input_mode="current"))
    assert spikes(env2.run(50)) == spikes(after)


def test_stimulus_finer_than_dt_is_averaged_over_each_step():
    values = np.random.default_rng(1).normal(0.0, 0.1, size=(1000, 10))
    fine = livn.make("EI1", backend="brian2", seed=6).run(
        50, stimulus=Stimulus(values, dt=0.05, input_mode="current"), dt=0.1
    )
    averaged = livn.make("EI1", backend="brian2", seed=6).run(
        50, stimulus=Stimulus(values.reshape(500, 2, 10).mean(axis=1), dt=0.1, input_mode="current"), dt=0.1
    )
    assert len(fine.spikes) > 0
    assert spikes(fine) == spikes(averaged)


def test_average_onto_steps_keeps_the_charge():
    from livn_brian2.network import average_onto_steps

    samples = np.random.default_rng(2).normal(size=(37, 3))
    steps = average_onto_steps(samples, 0.03, 0.1)
    assert steps.shape == (12, 3)
    np.testing.assert_allclose(steps.sum(axis=0) * 0.1, samples.sum(axis=0) * 0.03)
    np.testing.assert_allclose(steps[0], samples[:3].sum(axis=0) * 0.3 + samples[3] * 0.1)


def test_clear_gives_a_fresh_state_like_a_new_env():
    env = livn.make("EI2", backend="brian2", seed=21)
    env.run(30, stimulus=Stimulus(np.full((60, 100), 0.2), dt=0.5, input_mode="current"))
    env.clear()
    assert env.t == 0.0
    fresh = livn.make("EI2", backend="brian2", seed=21)
    assert spikes(env.run(100)) == spikes(fresh.run(100))


def test_clear_drops_spikes_still_in_flight():
    env = livn.make("EI1", backend="brian2", seed=2)
    weights = dict.fromkeys(env.weight_names, 3.0)
    env.set_weights(weights)
    kick = np.zeros((20, 10))
    kick[-2:] = 5.0  # every cell fires in the last ms: their spikes are still on their axons at t = 20 ms
    fired = env.run(20, stimulus=Stimulus(kick, dt=1.0, input_mode="current"))
    assert np.asarray(fired.spikes.times).max() > 19.0
    env.clear(seed=5)
    fresh = livn.make("EI1", backend="brian2", seed=5)
    fresh.set_weights(weights)
    ours, theirs = env.run(30), fresh.run(30)
    assert spikes(ours) == spikes(theirs)
    np.testing.assert_array_equal(ours.voltage.values, theirs.voltage.values)


@pytest.mark.parametrize("model", ["izhikevich", "lif"])
def test_clear_with_a_new_seed_draws_new_cells(model):
    env = livn.make("EI1", backend="brian2", model=model, seed=1)
    env.run(20)
    env.clear(seed=7)
    fresh = livn.make("EI1", backend="brian2", model=model, seed=7)
    ours, theirs = env.run(60), fresh.run(60)
    assert spikes(ours) == spikes(theirs)
    np.testing.assert_array_equal(ours.voltage.values, theirs.voltage.values)


def test_interleaved_envs_do_not_disturb_each_other():
    alone = livn.make("EI1", backend="brian2", seed=12).run(100)
    a = livn.make("EI1", backend="brian2", seed=12)
    b = livn.make("EI1", backend="brian2", seed=13)
    first = a.run(50)
    b.run(50)
    np.random.seed(0)  # the user's global random state plays no part either
    np.random.standard_normal(1000)
    second = a.run(50)
    assert spikes(first.concat(second)) == spikes(alone)


def test_seed_changes_cells_and_noise():
    a = livn.make("EI1", backend="brian2", seed=1)
    b = livn.make("EI1", backend="brian2", seed=2)
    assert not np.array_equal(a.simulation.neurons.c[:], b.simulation.neurons.c[:])
    assert spikes(a.run(200)) != spikes(b.run(200))


# -- single cells: units and integration -------------------------------------------------------------------
def reference_izhikevich(a, b, c, d, current_nA, dt, steps, C_m=0.01):
    """Forward Euler of the Izhikevich equations, written independently of the backend."""
    v, u = -65.0, b * -65.0
    fired = []
    for k in range(steps):
        drive = current_nA / C_m
        v, u = v + dt * (0.04 * v * v + 5.0 * v + 140.0 - u + drive), u + dt * a * (b * v - u)
        if v >= 30.0:
            fired.append(k)
            v, u = c, u + d
    return np.array(fired)


@pytest.mark.parametrize("current", [0.05, 0.1])
def test_izhikevich_cells_match_an_independent_euler_integration(current):
    env = livn.make(ParallelSystem({"EXC": 1, "INH": 1}), backend="brian2", record=("spikes", "voltage"))
    env.set_noise(QUIET)
    steps = 3000
    run = env.run(300, stimulus=Stimulus(np.full((steps, 2), current), dt=0.1, input_mode="current"))
    cells = env.simulation.neurons
    for gid in (0, 1):
        a, b, c, d = (float(getattr(cells, p)[gid]) for p in "abcd")
        want = reference_izhikevich(a, b, c, d, current, 0.1, steps)
        got = np.round(np.asarray(run.spikes.times)[np.asarray(run.spikes.ids) == gid] / 0.1).astype(int)
        assert len(want) > 3
        np.testing.assert_array_equal(got, want)
        trace = np.asarray(run.voltage.values)[gid]
        np.testing.assert_array_equal(trace[want + 1], 30.0)  # each spike is drawn at v_peak
        assert trace.max() == 30.0


def test_regular_spiking_adapts_and_fast_spiking_is_faster():
    env = livn.make(ParallelSystem({"EXC": 1, "INH": 1}), backend="brian2", record=("spikes",))
    env.set_noise(QUIET)
    run = env.run(500, stimulus=Stimulus(np.full((1000, 2), 0.1), dt=0.5, input_mode="current"))
    ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
    rs, fs = np.diff(times[ids == 0]), np.diff(times[ids == 1])
    assert rs[0] < 0.8 * rs[-1]  # spike-frequency adaptation (Izhikevich 2003, RS)
    assert fs.size > 1.5 * rs.size  # fast spiking fires clearly faster at the same drive


@pytest.mark.parametrize("current", [0.2, 0.3, 0.5])
def test_lif_interspike_interval_matches_the_formula(current):
    env = livn.make(ParallelSystem(1), backend="brian2", model="lif", record=("spikes",))
    env.set_noise(QUIET)
    dt = 0.01
    run = env.run(300, stimulus=Stimulus(np.full((300, 1), current), dt=1.0, input_mode="current"), dt=dt)
    isi = np.diff(np.asarray(run.spikes.times))
    assert isi.size > 5
    assert np.mean(isi) == pytest.approx(lif_isi(current), rel=0.01)


# -- synapses --------------------------------------------------------------------------------------------------
def drive_first_cell(system, weights, duration=40.0, dt=0.1):
    """Fire cell 0 once at ~1 ms; return the run and the env (noise off)."""
    env = livn.make(system, backend="brian2", record=("spikes",))
    env.set_noise(QUIET)
    env.set_weights(weights)
    env.record_voltage(dt=dt)
    env.record_membrane_current(dt=dt)
    pulse = np.zeros((int(duration / dt), 1))
    pulse[: int(round(0.3 / dt))] = 2.0
    run = env.run(duration, stimulus=Stimulus(pulse, dt=dt, gids=[0], input_mode="current"), dt=dt)
    return env, run


def conductance(run, gid, e_rev):
    """Synaptic conductance (uS) of ``gid`` from its membrane current (uA, outward) and voltage."""
    row = list(np.asarray(run.current.ids)).index(gid)
    i_m = np.asarray(run.current.values)[row] * 1000.0  # nA, outward
    v = np.asarray(run.voltage.values)[row]
    return i_m / (v - e_rev), v


def test_ampa_conductance_peaks_at_weight_times_g_unit_after_the_delay(pair_system):
    weight = 3.0
    names = {n: 0.0 for n in pair_system.weight_names}
    names["INH_EXC-soma-AMPA-weight"] = weight
    env, run = drive_first_cell(pair_system, names)
    ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
    assert (ids == 0).sum() == 1
    t_spike = times[ids == 0][0]
    g, _ = conductance(run, 1, AMPA.e_rev)
    t = np.arange(g.size) * 0.1
    assert g.max() == pytest.approx(weight * AMPA.g_unit, rel=0.02)
    onset = t[np.argmax(g > 1e-9)]
    assert t_spike + 2.0 <= onset <= t_spike + 2.0 + 0.2 + 1e-9  # 500 um at 250 um/ms
    t_peak = AMPA.tau_rise * AMPA.tau_decay / (AMPA.tau_decay - AMPA.tau_rise) * np.log(AMPA.tau_decay / AMPA.tau_rise)
    assert t[np.argmax(g)] == pytest.approx(t_spike + 2.0 + t_peak, abs=0.25)


def test_nmda_is_blocked_by_magnesium_at_rest(pair_system):
    names = {n: 0.0 for n in pair_system.weight_names}
    names["INH_EXC-soma-NMDA-weight"] = 1.0
    env, run = drive_first_cell(pair_system, names, duration=60.0)
    g, v = conductance(run, 1, NMDA.e_rev)
    block = 1.0 / (1.0 + MG_CONCENTRATION / MG_SENSITIVITY * np.exp(-MG_VOLTAGE_SLOPE * v))
    assert np.max(g / block) == pytest.approx(NMDA.g_unit, rel=0.02)
    assert g.max() < 0.2 * NMDA.g_unit


def test_mg_block_function_is_the_jahr_stevens_formula_to_rounding():
    v = np.linspace(-150.0, 80.0, 100_001)
    exact = 1.0 / (1.0 + MG_CONCENTRATION / MG_SENSITIVITY * np.exp(-MG_VOLTAGE_SLOPE * v))
    ours = mg_block(v, MG_CONCENTRATION, MG_SENSITIVITY, MG_VOLTAGE_SLOPE)
    assert np.max(np.abs(ours - exact) / exact) < 1e-14
    # a diverging membrane saturates the block instead of overflowing
    extreme = mg_block(np.array([-1e6, 1e6]), MG_CONCENTRATION, MG_SENSITIVITY, MG_VOLTAGE_SLOPE)
    assert 0.0 < extreme[0] < 1e-300 and extreme[1] == 1.0


def test_lif_step_function_is_the_exponential_euler_step_to_rounding():
    rng = np.random.default_rng(0)
    v, drive = rng.uniform(-80.0, -40.0, 1000), rng.uniform(-90.0, 60.0, 1000)
    g_rel, tau_m = rng.uniform(1.0, 20.0, 1000), rng.uniform(5.0, 40.0, 1000)
    v_inf = drive / g_rel
    exact = v_inf + (v - v_inf) * np.exp(-0.1 * g_rel / tau_m)
    np.testing.assert_allclose(lif_step(v, drive, g_rel, 0.1, tau_m), exact, rtol=1e-14, atol=1e-12)


def test_gaba_current_reverses_at_its_reversal_potential(pair_system):
    names = {n: 0.0 for n in pair_system.weight_names}
    names["EXC_INH-soma-GABA_A-weight"] = 1.0
    env = livn.make(pair_system, backend="brian2", record=("spikes",))
    env.set_noise(QUIET)
    env.set_weights(names)
    env.record_membrane_current()
    env.record_voltage()
    pulse = np.zeros((300, 1))
    pulse[:3] = 2.0
    run = env.run(30, stimulus=Stimulus(pulse, dt=0.1, gids=[1], input_mode="current"))
    assert np.sum(np.asarray(run.spikes.ids) == 1) == 1
    g, v = conductance(run, 0, GABA_A.e_rev)
    assert g.max() == pytest.approx(GABA_A.g_unit, rel=0.02)
    assert np.all(g >= -1e-12)


def test_one_receptor_with_different_kinetics_per_target_population():
    slow = Receptor(tau_rise=1.0, tau_decay=12.0, e_rev=-10.0, g_unit=0.002, weight=1.0)
    system = WiredSystem(
        {"EXC": 2, "INH": 1},
        {
            ("EXC", "EXC"): projection("EXC", "EXC", [(0, 1)], [500.0], {"AMPA": AMPA}),
            ("INH", "EXC"): projection("EXC", "INH", [(0, 2)], [500.0], {"AMPA": slow}),
        },
    )
    env, run = drive_first_cell(system, dict.fromkeys(system.weight_names, 1.0), duration=60.0)
    assert np.sum(np.asarray(run.spikes.ids) == 0) == 1
    fast_g, _ = conductance(run, 1, AMPA.e_rev)
    slow_g, _ = conductance(run, 2, slow.e_rev)
    assert fast_g.max() == pytest.approx(AMPA.g_unit, rel=0.02)
    assert slow_g.max() == pytest.approx(slow.g_unit, rel=0.02)
    # time above half of the peak grows with tau_decay
    assert np.sum(slow_g > slow_g.max() / 2) > 3 * np.sum(fast_g > fast_g.max() / 2)


def test_equal_rise_and_decay_take_the_alpha_function_limit():
    """The network table clamps tau_rise below tau_decay: the alpha function, still peaking at weight * g_unit."""
    alpha = Receptor(tau_rise=2.0, tau_decay=2.0, e_rev=0.0, g_unit=0.0005, weight=1.0)
    system = WiredSystem(
        {"EXC": 1, "INH": 1}, {("INH", "EXC"): projection("EXC", "INH", [(0, 1)], [500.0], {"AMPA": alpha})}
    )
    env, run = drive_first_cell(system, dict.fromkeys(system.weight_names, 2.0), dt=0.05)
    ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
    assert (ids == 0).sum() == 1
    g, _ = conductance(run, 1, alpha.e_rev)
    t = np.arange(g.size) * 0.05
    assert g.max() == pytest.approx(2.0 * alpha.g_unit, rel=0.01)
    assert t[np.argmax(g)] == pytest.approx(times[ids == 0][0] + 2.0 + alpha.tau_decay, abs=0.15)  # alpha peaks at tau


def test_weights_by_name_change_activity():
    env = livn.make("EI2", backend="brian2", seed=5, record=("spikes",))
    base = len(env.run(300).spikes)
    env.clear()
    env.set_params({"weight-EXC_EXC-hillock-AMPA-weight": 1.0, "EXC_EXC-hillock-NMDA-weight": 1.0})
    assert len(env.run(300).spikes) > 2 * base


def test_unknown_weight_name_raises():
    env = livn.make("EI1", backend="brian2")
    with pytest.raises(KeyError, match="EXC_EXC-hillock-AMPA-weight"):
        env.set_weights({"EXC_EXC-soma-AMPA-weight": 1.0})


# -- noise ------------------------------------------------------------------------------------------------
def test_ou_noise_has_the_requested_mean_std_and_correlation_time():
    env = livn.make(ParallelSystem(300), backend="brian2", record=())
    mean, std, tau = 0.01, 0.02, 5.0
    env.set_noise({"mean": mean, "std": std, "tau": tau})
    env.record_membrane_current(dt=0.5)
    run = env.run(400)
    noise = -np.asarray(run.current.values) * 1000.0  # no synapses: I_m = -I_noise (uA -> nA)
    assert noise.mean() == pytest.approx(mean, abs=0.1 * std)
    assert noise.std() == pytest.approx(std, rel=0.05)
    lag = int(tau / 0.5)
    centred = noise - noise.mean(axis=1, keepdims=True)
    corr = np.mean(centred[:, :-lag] * centred[:, lag:]) / np.mean(centred**2)
    assert corr == pytest.approx(np.exp(-1.0), abs=0.05)


def test_noise_changes_between_runs_take_effect():
    env = livn.make(ParallelSystem(50), backend="brian2", record=())
    env.set_noise({"mean": 0.0, "std": 0.02, "tau": 1.0})
    env.record_membrane_current(dt=0.5)
    noisy = -np.asarray(env.run(20).current.values) * 1000.0
    env.set_noise({"mean": 0.05, "std": 0.0})
    settled = -np.asarray(env.run(40).current.values)[:, 40:] * 1000.0  # after 20 tau
    assert noisy.std() > 0.01
    np.testing.assert_allclose(settled, 0.05, atol=1e-6)


def test_bad_noise_parameters_raise():
    env = livn.make("EI1", backend="brian2")
    with pytest.raises(ValueError, match="tau"):
        env.set_noise({"tau": 0.0})
    with pytest.raises(ValueError, match="std"):
        env.set_noise({"std": -1.0})
    assert env.noise["tau"] > 0 and env.noise["std"] >= 0  # the env keeps the noise that runs
    with pytest.raises(ValueError, match=">= 0"):
        env.set_weights({env.weight_names[0]: -1.0})
    assert env.weights[env.weight_names[0]] >= 0
    env.run(10)


# -- extracellular stimulation ---------------------------------------------------------------------------------
def test_biphasic_pulses_on_one_electrode_drive_near_cells_far_more_than_far_ones():
    env = livn.make("EI2", backend="brian2", seed=8, record=("spikes",))
    electrodes = np.asarray(env.io.electrode_coordinates)
    centre = np.asarray(env.system.neuron_coordinates)[:, 1:3].mean(axis=0)
    channel = int(np.argmin(np.linalg.norm(electrodes[:, 1:3] - centre, axis=1)))
    inputs = Stimulus.biphasic_pulse(
        electrodes.shape[0], channel, amplitude=30.0, pulse_times=np.arange(5.0, 400.0, 20.0), dt=0.05, duration=400.0
    )
    stimulus = env.cell_stimulus(inputs, dt=0.05)
    baseline = env.spike_counts(env.run(400, dt=0.05))
    env.clear()
    driven = env.spike_counts(env.run(400, stimulus=stimulus, dt=0.05))
    distance = np.linalg.norm(np.asarray(env.system.neuron_coordinates)[:, 1:3] - electrodes[channel, 1:3], axis=1)
    near, far = distance < 75.0, distance > 250.0
    assert near.sum() >= 3 and far.sum() >= 10
    gain_near = np.mean(driven[near] - baseline[near])
    gain_far = np.mean(driven[far] - baseline[far])
    assert gain_near > 10  # at least half of the 20 pulses fire a near cell
    assert gain_near > 5 * max(gain_far, 1.0)


@pytest.mark.parametrize("model", ["izhikevich", "lif"])
def test_one_biphasic_pulse_fires_cells_near_the_electrode_only(model):
    from livn.io import MEA

    distance = np.arange(0.0, 400.0, 10.0)
    coordinates = np.stack([distance, np.zeros_like(distance), np.zeros_like(distance)], axis=1)
    env = livn.make(
        ParallelSystem(distance.size, coordinates=coordinates),
        backend="brian2",
        model=model,
        io=MEA(np.array([[0, 0.0, 0.0, 0.0]])),
        record=("spikes",),
    )
    env.set_noise(QUIET)
    pulse = Stimulus.biphasic_pulse(1, 0, amplitude=35.0, pulse_times=[1.0], dt=0.05, duration=20.0)
    run = env.run(20, stimulus=env.cell_stimulus(pulse, dt=0.05), dt=0.05)
    fired = np.zeros(distance.size, dtype=bool)
    fired[np.asarray(run.spikes.ids)] = True
    assert fired[distance <= 100.0].all()
    assert not fired[distance >= 250.0].any()
    anodic = env.cell_stimulus(-pulse, dt=0.05)  # anodic first: the same charge hyperpolarises first
    env.clear()
    assert len(env.run(20, stimulus=anodic, dt=0.05).spikes) < fired.sum()


# -- recording -----------------------------------------------------------------------------------------------
def test_membrane_current_per_population():
    env = livn.make("EI2", backend="brian2", record=())
    start, count = env.system.population_ranges["INH"]
    env.record_membrane_current(population="INH", dt=0.5)
    env.record_spikes(population="INH")
    run = env.run(50)
    assert np.asarray(run.current.ids).tolist() == list(range(start, start + count))
    assert np.shape(run.current.values) == (count, 100)
    assert run.current.dt == 0.5
    assert np.all((np.asarray(run.spikes.ids) >= start) & (np.asarray(run.spikes.ids) < start + count))
    assert np.all(np.isfinite(run.current.values)) and np.any(np.asarray(run.current.values) != 0)


def test_voltage_sample_zero_is_the_state_the_run_starts_from():
    env = livn.make("EI1", backend="brian2")
    first = env.run(20)
    second = env.run(20)
    assert np.all(np.asarray(first.voltage.values)[:, 0] == -65.0)
    assert not np.array_equal(np.asarray(second.voltage.values)[:, 0], np.asarray(first.voltage.values)[:, 0])


def test_voltage_recording_follows_a_new_step_after_clear():
    env = livn.make("EI1", backend="brian2")
    coarse = env.run(10)
    env.clear()
    fine = env.run(10, dt=0.05)
    assert np.shape(coarse.voltage.values) == np.shape(fine.voltage.values) == (10, 100)
    assert np.all(np.asarray(fine.voltage.values)[:, 0] == -65.0)
    np.testing.assert_allclose(fine.voltage.values[:, :5], coarse.voltage.values[:, :5], atol=2.0)


# -- bad input ------------------------------------------------------------------------------------------------
def test_duration_must_be_whole_steps():
    env = livn.make("EI1", backend="brian2")
    with pytest.raises(ValueError, match="whole number of steps"):
        env.run(10.05)


def test_recording_dt_must_be_a_multiple_of_dt():
    env = livn.make("EI1", backend="brian2", record=())
    env.record_voltage(dt=0.15)
    with pytest.raises(ValueError, match="multiple"):
        env.run(10)
    assert env.t == 0.0


def test_stimulus_gid_outside_the_system_raises():
    env = livn.make("EI1", backend="brian2")
    with pytest.raises(ValueError, match="gids"):
        env.run(10, stimulus=Stimulus(np.zeros((20, 1)), dt=0.5, gids=[10], input_mode="current"))


# -- spontaneous activity under the tuned defaults ------------------------------------------------------------
@pytest.mark.parametrize("name", ["EI1", "EI2"])
def test_predefined_cultures_are_spontaneously_active(name):
    env = livn.make(name, backend="brian2", record=("spikes",))
    run = env.run(2000)
    counts = env.spike_counts(run)
    rate = counts / 2.0
    assert 0.5 <= rate.mean() <= 20.0
    assert np.mean(counts > 0) >= 0.8
    times = np.asarray(run.spikes.times)
    early, late = np.sum(times < 1000), np.sum(times >= 1000)
    assert late < 2 * early  # no runaway


def test_uncaught_errors_print_as_themselves_not_as_brian2_bugs(tmp_path):
    """brian2 installs its own sys.excepthook at import; livn puts the user's back."""
    import os
    import subprocess
    import sys

    code = "import livn\nenv = livn.make('EI1', backend='brian2')\nenv.run(-5)\n"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1
    assert "ValueError: duration must be > 0 ms, got -5.0" in result.stderr
    assert "Brian 2 encountered an unexpected error" not in result.stderr
    assert not list(tmp_path.glob("brian_*")), "brian2 left its debug files in the temp directory"


def test_the_bursting_series_comes_with_its_tuned_depression():
    """make() gives the E/I series its tuned weights, noise and EXC->EXC short-term depression."""
    from livn.models.izhikevich import IZHIKEVICH
    from livn.plasticity import TsodyksMarkram

    env = livn.make("EI_b", backend="brian2", record=("spikes",))
    assert env.weights["EXC_INH-soma-GABA_A-weight"] == IZHIKEVICH.weight_defaults("EI")["EXC_INH-soma-GABA_A-weight"]
    assert env.weights["INH_INH-soma-GABA_A-weight"] == 1.0  # not tuned: the system's own
    assert env.noise["std"] == IZHIKEVICH.noise_defaults("EI")["std"]
    learning = IZHIKEVICH.plasticity_defaults("EI")["EXC->EXC"]
    assert set(env.plasticity) == {"EXC_EXC-hillock-AMPA-weight", "EXC_EXC-hillock-NMDA-weight"}
    for rules in env.plasticity.values():
        assert rules == (TsodyksMarkram(U=learning["U"], tau_rec=learning["tau_rec"]),)
    env.close()


def test_the_bursting_series_has_tuned_lif_defaults():
    """LIF on the series: the tuned weights, OU noise (mean 0) and EXC->EXC depression of its culture."""
    from livn.models.lif import LIF
    from livn.plasticity import TsodyksMarkram

    env = livn.make("E_b", backend="brian2", model="lif", record=("spikes",))
    assert env.weights == LIF.weight_defaults("E")
    assert env.noise["mean"] == 0.0 and env.noise["std"] == LIF.noise_defaults("E")["std"]
    learning = LIF.plasticity_defaults("E")["EXC->EXC"]
    for rules in env.plasticity.values():
        assert rules == (TsodyksMarkram(U=learning["U"], tau_rec=learning["tau_rec"]),)
    assert set(env.plasticity) == {"EXC_EXC-hillock-AMPA-weight", "EXC_EXC-hillock-NMDA-weight"}
    env.close()
