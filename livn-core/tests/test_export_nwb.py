"""NWB export of EI2 runs: every cell a unit, the MEA, LFP and stimulus; the NWB Inspector; the round trip."""

from __future__ import annotations

import livn
import numpy as np
import pytest
from livn.run import Events, Run, Series
from livn.stimulus import Stimulus
from livn_fake.env import Env as FakeEnv

pynwb = pytest.importorskip("pynwb")

from livn.export import from_nwb, read_nwb, to_nwb  # noqa: E402

#: Inspector importances that count as errors here: none may be reported.
ERRORS = {"ERROR", "PYNWB_VALIDATION", "CRITICAL"}


def _inspect(path, validate: bool = True) -> list:
    """The inspector's messages; ``validate=False`` skips the pynwb schema validation (1 s a file)."""
    nwbinspector = pytest.importorskip("nwbinspector")
    return list(nwbinspector.inspect_nwbfile(nwbfile_path=str(path), skip_validate=not validate))


def _by_importance(messages) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for m in messages:
        found.setdefault(m.importance.name, []).append(m.check_function_name)
    return found


@pytest.fixture(scope="module")
def env():
    with livn.make("EI2", backend=FakeEnv, record=("spikes", "membrane_current")) as made:
        yield made


@pytest.fixture(scope="module")
def stimulated(env):
    """A 200 ms EI2 run after 50 ms of warm-up (t0 = 50), with membrane currents and a pulse stimulus."""
    env.clear()
    env.run(50.0)
    inputs = Stimulus.biphasic_pulse(
        env.io.num_channels, [3, 9], amplitude=5.0, pulse_times=[10, 60], dt=0.05, duration=100.0
    )
    stimulus = env.cell_stimulus(inputs, dt=0.05)
    run = env.run(200.0, stimulus=stimulus)
    return run, stimulus, inputs


@pytest.fixture(scope="module")
def written(env, stimulated, tmp_path_factory):
    run, stimulus, inputs = stimulated
    path = tmp_path_factory.mktemp("nwb") / "ei2.nwb"
    return to_nwb(run, path, env, stimulus=stimulus, channel_inputs=inputs)


def test_ei2_file_passes_the_nwb_inspector(written):
    found = _by_importance(_inspect(written))
    assert not ERRORS & set(found), found
    # what is left needs facts livn does not have: the species, experimenter and institution
    assert found.get("BEST_PRACTICE_VIOLATION", []) == ["check_subject_species_exists"], found
    assert set(found.get("BEST_PRACTICE_SUGGESTION", [])) <= {"check_experimenter_exists", "check_institution"}


def test_with_the_users_metadata_the_inspector_has_nothing_to_say(env, stimulated, tmp_path):
    run, stimulus, _ = stimulated
    path = to_nwb(
        run,
        tmp_path / "full.nwb",
        env,
        stimulus=stimulus,
        subject={"species": "Rattus norvegicus"},
        experimenter=["Doe, Jane"],
        institution="A lab",
    )
    assert _inspect(path) == []
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        subject = io.read().subject
        assert (subject.subject_id, subject.species, subject.sex) == ("EI2", "Rattus norvegicus", "U")


def test_every_cell_is_a_unit_with_population_position_and_exact_spike_times(env, stimulated, written):
    run = stimulated[0]
    system = env.system
    spiking = np.unique(run.spikes.ids)
    assert 0 < spiking.size < system.num_neurons  # silent cells exist: they must still be units
    with pynwb.NWBHDF5IO(str(written), "r") as io:
        units = io.read().units
        assert units.id[:].tolist() == list(range(system.num_neurons))
        assert units.resolution == pytest.approx(1e-4)  # the fake backend's dt, 0.1 ms
        ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
        for row in range(len(units)):
            gid = int(units.id[row])
            expected = (np.sort(times[ids == gid]) + run.t0) / 1000.0
            np.testing.assert_array_equal(np.asarray(units["spike_times"][row]), expected)  # as written, bit for bit
            assert units["population"][row] == system.population_of([gid])[0]
            position = [units[a][row] for a in "xyz"]
            np.testing.assert_array_equal(position, system.neuron_coordinates[gid, 1:4])
            np.testing.assert_allclose(units["obs_intervals"][row], [[0.05, 0.25]])


def test_round_trip_with_read_nwb(env, stimulated, written):
    run, stimulus, inputs = stimulated
    contents = read_nwb(written)
    back = contents.run
    assert (back.t0, back.duration) == (run.t0, run.duration) == (50.0, 200.0)
    assert back.population_ranges == {"EXC": (0, 80), "INH": (80, 20)}
    order = np.lexsort((run.spikes.ids, run.spikes.times))
    np.testing.assert_array_equal(back.spikes.ids, np.asarray(run.spikes.ids)[order])
    np.testing.assert_allclose(back.spikes.times, np.asarray(run.spikes.times)[order], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(back.current.values, run.current.values)
    np.testing.assert_array_equal(contents.gids, np.arange(100))
    assert contents.population.tolist() == env.system.population_of(np.arange(100)).tolist()
    np.testing.assert_array_equal(contents.positions, env.system.neuron_coordinates[:, 1:4])
    assert contents.spikes_recorded.all()
    # the MEA, and each electrode's spikes as env.channel_recording assigns them
    np.testing.assert_array_equal(contents.electrode_ids, env.io.channel_ids)
    np.testing.assert_allclose(contents.electrode_positions, env.io.electrode_coordinates[:, 1:4])
    got_ids, got_times = contents.channel_recording()
    want_ids, want_times = env.channel_recording(back.spikes.ids, back.spikes.times)
    for channel in want_ids:
        np.testing.assert_array_equal(got_ids[channel], want_ids[channel])
        np.testing.assert_array_equal(got_times[channel], want_times[channel])
    # the LFP is what livn.decoding.LFP computes
    from livn.decoding import LFP

    np.testing.assert_allclose(contents.field_potential, LFP(200.0)(env, run)["potential"], rtol=1e-12)
    assert contents.field_dt == pytest.approx(0.1)
    # the stimulus and the electrode currents that made it
    np.testing.assert_array_equal(contents.stimulus.array, stimulus.array)
    assert (contents.stimulus.dt, contents.stimulus.input_mode) == (0.05, "extracellular")
    np.testing.assert_array_equal(contents.stimulus.gids, np.arange(100))
    np.testing.assert_array_equal(contents.channel_inputs, inputs)
    assert contents.channel_dt == pytest.approx(0.05)
    meta = contents.metadata
    assert {k: meta[k] for k in ("system", "backend", "model", "seed", "livn_version")} == {
        "system": "EI2",
        "backend": "fake",
        "model": env.model.name,
        "seed": env.seed,
        "livn_version": livn.__version__,
    }
    assert from_nwb(written).population_ranges == back.population_ranges


def test_units_and_stimulus_carry_si_conversions(written):
    with pynwb.NWBHDF5IO(str(written), "r") as io:
        nwbfile = io.read()
        lfp = nwbfile.processing["ecephys"]["LFP"]["field_potential"]
        assert lfp.conversion == 1e-6 and lfp.unit == "volts" and lfp.data.shape == (2000, 16)
        assert lfp.starting_time == pytest.approx(0.05) and lfp.rate == pytest.approx(10_000.0)
        assert len(lfp.electrodes) == 16 and lfp.electrodes.table is nwbfile.electrodes
        stim = nwbfile.stimulus["cell_stimulus"]
        assert (stim.unit, stim.conversion, stim.starting_time) == ("volts", 1e-3, pytest.approx(0.05))
        currents = nwbfile.stimulus["electrode_currents"]
        assert (currents.unit, currents.conversion, currents.data.shape) == ("amperes", 1e-6, (2000, 16))
        assert "EI2" in nwbfile.experiment_description and "fake" in nwbfile.keywords[:]
        assert nwbfile.devices["MEA"].description.startswith("simulated planar multi-electrode array (livn)")


def test_real_ei2_system_and_io_without_an_env(tmp_path):
    """EI2's system (by name) and its MEA, a hand-made run with voltage traces and a current stimulus."""
    system = livn.system.load("EI2")
    io = system.default_io()
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 100, size=60)
    times = np.round(rng.uniform(0, 100, size=60), 1)
    voltage = Series(np.array([0, 85]), -65.0 + rng.normal(size=(2, 1000)), 0.1)
    current = Series(np.arange(100), 1e-4 * rng.normal(size=(100, 1000)), 0.1)
    run = Run(
        spikes=Events(ids, times),
        voltage=voltage,
        current=current,
        duration=100.0,
        population_ranges=dict(system.population_ranges),
    )
    stimulus = Stimulus(np.full((400, 2), 0.2), dt=0.25, gids=[3, 90], input_mode="current")
    path = to_nwb(run, tmp_path / "ei2.nwb", system="EI2", io=io, stimulus=stimulus, dt=0.1)
    found = _by_importance(_inspect(path))
    assert not ERRORS & set(found), found
    contents = read_nwb(path)
    assert contents.gids.size == 100 and contents.metadata["system"] == "EI2"
    np.testing.assert_array_equal(contents.positions, system.neuron_coordinates[:, 1:4])
    np.testing.assert_allclose(
        contents.field_potential, io.potential_recording(io.distances(system.neuron_coordinates), current.values)
    )
    np.testing.assert_array_equal(contents.run.voltage.values, voltage.values)
    assert (contents.stimulus.input_mode, contents.stimulus.gids.tolist()) == ("current", [3, 90])
    with pynwb.NWBHDF5IO(str(path), "r") as nwb_io:
        nwbfile = nwb_io.read()
        assert nwbfile.stimulus["cell_stimulus"].conversion == 1e-9  # nA
        assert list(nwbfile.stimulus["cell_stimulus_cells"]["population"][:]) == ["EXC", "INH"]


def test_spikes_of_one_population_leave_the_others_unobserved(tmp_path):
    with livn.make("EI2", backend=FakeEnv, record=()) as env:
        env.record_spikes(population="INH")
        run = env.run(100.0)
        path = to_nwb(run, tmp_path / "inh.nwb", env)
    assert not ERRORS & set(_by_importance(_inspect(path, validate=False)))
    contents = read_nwb(path)
    assert contents.gids.size == 100
    assert contents.spikes_recorded.tolist() == [False] * 80 + [True] * 20


def test_run_without_a_system_writes_the_cells_it_knows(tmp_path):
    run = Run(
        spikes=Events(np.array([1, 4]), np.array([2.5, 7.25])),
        duration=10.0,
        population_ranges={"A": (0, 3), "B": (3, 3)},
    )
    path = to_nwb(run, tmp_path / "bare.nwb")
    assert not ERRORS & set(_by_importance(_inspect(path, validate=False)))
    contents = read_nwb(path)
    assert contents.gids.tolist() == list(range(6))
    assert contents.population.tolist() == ["A"] * 3 + ["B"] * 3
    assert contents.positions is None and contents.electrode_ids is None


def test_a_silent_run_still_writes_every_cell(tmp_path):
    run = Run(spikes=Events(np.zeros(0, np.int64), np.zeros(0)), duration=10.0)
    path = to_nwb(run, tmp_path / "silent.nwb", system="EI2", dt=0.1)
    found = _inspect(path, validate=False)
    assert not {"CRITICAL", "PYNWB_VALIDATION"} & set(_by_importance(found))
    # nwbinspector 0.7 crashes in three checks on the (valid) empty spike_times column; those, and only
    # those, come back as ERROR: "During evaluation of ..." (NeurodataWithoutBorders/nwbinspector#712, #728)
    assert all(m.check_function_name.startswith("During evaluation of") for m in found if m.importance.name == "ERROR")
    contents = read_nwb(path)
    assert contents.gids.size == 100 and len(contents.run.spikes) == 0


# -- bad input ------------------------------------------------------------------------------------------------
def test_bad_paths(env, stimulated, tmp_path):
    run = stimulated[0]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        to_nwb(run, tmp_path / "missing" / "x.nwb", env)
    with pytest.raises(IsADirectoryError):
        to_nwb(run, tmp_path, env)
    with pytest.raises(ValueError, match=r"end in \.nwb"):
        to_nwb(run, tmp_path / "x.h5", env)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_nwb(tmp_path / "absent.nwb")
    (tmp_path / "junk.nwb").write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable NWB file"):
        read_nwb(tmp_path / "junk.nwb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.nwb"]  # nothing half-written left behind


def test_foreign_nwb_file_is_refused(tmp_path):
    import datetime as dt

    nwbfile = pynwb.NWBFile(session_description="x", identifier="y", session_start_time=dt.datetime.now().astimezone())
    with pynwb.NWBHDF5IO(str(tmp_path / "other.nwb"), "w") as io:
        io.write(nwbfile)
    with pytest.raises(ValueError, match="not one written by livn"):
        read_nwb(tmp_path / "other.nwb")


def test_run_without_spikes_is_refused(env, tmp_path):
    run = Run(current=Series(np.arange(100), np.zeros((100, 10)), 0.1), duration=1.0)
    with pytest.raises(ValueError, match=r"no spikes recorded.*record_spikes"):
        to_nwb(run, tmp_path / "x.nwb", env)
    with pytest.raises(TypeError, match="livn.run.Run"):
        to_nwb(run.as_tuple(), tmp_path / "x.nwb", env)


def test_run_and_env_that_do_not_belong_together(env, stimulated, tmp_path):
    run, stimulus, inputs = stimulated
    with livn.make("EI1", backend=FakeEnv) as small:
        with pytest.raises(ValueError, match="another system"):
            to_nwb(run, tmp_path / "x.nwb", small)
        foreign = Run(spikes=Events(np.array([150]), np.array([1.0])), duration=10.0)
        with pytest.raises(ValueError, match=r"gids \[150\].*do not belong together"):
            to_nwb(foreign, tmp_path / "x.nwb", env)
    with pytest.raises(ValueError, match="not this run's stimulus"):
        to_nwb(run.slice(0.0, 50.0), tmp_path / "x.nwb", env, stimulus=stimulus)
    with pytest.raises(ValueError, match=r"channel_inputs must be \[T, 16\]"):
        to_nwb(run, tmp_path / "x.nwb", env, channel_inputs=inputs[:, :4], channel_dt=0.05)
    with pytest.raises(ValueError, match="channel_dt"):
        to_nwb(run, tmp_path / "x.nwb", env, channel_inputs=inputs)
    with pytest.raises(TypeError, match="gids="):
        to_nwb(run, tmp_path / "x.nwb", env, gids=[1, 2])
    with pytest.raises(TypeError, match="not both"):
        to_nwb(run, tmp_path / "x.nwb", env, io=env.io)
    outside = Run(spikes=Events(np.array([1]), np.array([30.0])), duration=10.0)
    with pytest.raises(ValueError, match="within the run"):
        to_nwb(outside, tmp_path / "x.nwb", env)
    assert not (tmp_path / "x.nwb").exists()
