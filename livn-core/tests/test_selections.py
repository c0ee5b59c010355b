"""Named cell selections: resolution, selections.json, and their use wherever an env takes gids."""

from __future__ import annotations

import json
import shutil

import livn
import numpy as np
import pytest
from livn.decoding import (
    ISICV,
    ActiveFraction,
    AutocorrelationTime,
    Avalanches,
    MeanFiringRate,
    NetworkBursts,
    PeakSynchrony,
    Recruitment,
)
from livn.run import Events, Run, Series
from livn.stimulus import Stimulus
from livn.system import (
    First,
    Gids,
    ParallelSystem,
    Patch,
    RandomCells,
    Selection,
    SelectionError,
    System,
    SystemFormatError,
    selection_from_dict,
)
from livn_fake.env import Env as FakeEnv

N = 100  # EI2: 80 EXC (gids 0..79) then 20 INH (80..99)


class Probe(FakeEnv):
    """The fake backend that also records voltage, runs chr2 and keeps the stimulus it was given."""

    backend_name = "fake-probe"
    signals = ("spikes", "membrane_current", "voltage")

    @classmethod
    def opsin_implementations(cls):
        return {"chr2": "four-state"}

    def _opsins_changed(self):
        pass

    def _run(self, duration, stimulus, dt):
        self.last = stimulus
        recorded = super()._run(duration, stimulus, dt)  # spikes and membrane currents
        request = self.recording.get("voltage")
        if request is not None:
            rows = self.recorded_gids("voltage")
            steps = int(round(duration / request["dt"]))
            recorded["voltage"] = Series(rows, np.full((rows.size, steps), -65.0), float(request["dt"]))
        return recorded


@pytest.fixture(scope="module")
def ei2():
    return livn.system.load("EI2")


@pytest.fixture()
def system_copy(tmp_path):
    """A writable copy of EI2's directory (never the cache entry itself)."""
    destination = tmp_path / "EI2"
    shutil.copytree(livn.system.predefined("EI2"), destination)
    return System(destination)


# -- resolution ------------------------------------------------------------------------------------


def test_first_takes_the_lowest_gids_of_the_system_or_a_population(ei2):
    gids = First(5).resolve(ei2)
    assert gids.dtype == np.int64
    np.testing.assert_array_equal(gids, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(First(3, population="INH").resolve(ei2), [80, 81, 82])
    np.testing.assert_array_equal(First(80, population="EXC").resolve(ei2), np.arange(80))


def test_random_cells_are_deterministic_for_a_seed(ei2):
    gids = RandomCells(10, seed=7).resolve(ei2)
    expected = np.sort(np.random.default_rng(7).choice(np.arange(N), size=10, replace=False))
    np.testing.assert_array_equal(gids, expected)
    assert gids.dtype == np.int64 and np.unique(gids).size == 10
    np.testing.assert_array_equal(RandomCells(10, seed=7).resolve(ei2), gids)
    assert not np.array_equal(RandomCells(10, seed=8).resolve(ei2), gids)
    inh = RandomCells(6, seed=1, population="INH").resolve(ei2)
    np.testing.assert_array_equal(
        inh, np.sort(np.random.default_rng(1).choice(np.arange(80, 100), size=6, replace=False))
    )
    np.testing.assert_array_equal(RandomCells(20, seed=3, population="INH").resolve(ei2), np.arange(80, 100))


def test_patch_takes_the_cells_inside_inclusive_bounds():
    grid = ParallelSystem({"EXC": 6, "INH": 3})  # a 3 x 3 grid, 20 um apart: gid = 3 row + column
    np.testing.assert_array_equal(Patch(x=(0, 20), y=(0, 20)).resolve(grid), [0, 1, 3, 4])
    np.testing.assert_array_equal(Patch(x=(20, 40), y=(0, 40), population="INH").resolve(grid), [7, 8])
    np.testing.assert_array_equal(Patch(x=(0, 40), y=(40, 40)).resolve(grid), [6, 7, 8])
    np.testing.assert_array_equal(Patch(x=(0, 40), y=(0, 40), z=(-1, 1)).resolve(grid), np.arange(9))


def test_patch_matches_the_positions_of_a_predefined_system(ei2):
    xyz = ei2.neuron_coordinates[:, 1:4]
    inside = (xyz[:, 0] >= 0) & (xyz[:, 0] <= 150) & (xyz[:, 1] >= 100) & (xyz[:, 1] <= 300)
    patch = Patch(x=(0, 150), y=(100, 300))
    np.testing.assert_array_equal(patch.resolve(ei2), np.flatnonzero(inside))
    deep = inside & (xyz[:, 2] >= 5) & (xyz[:, 2] <= 10)
    np.testing.assert_array_equal(Patch(x=(0, 150), y=(100, 300), z=(5, 10)).resolve(ei2), np.flatnonzero(deep))
    exc = inside & (np.arange(N) < 80)
    np.testing.assert_array_equal(Patch(x=(0, 150), y=(100, 300), population="EXC").resolve(ei2), np.flatnonzero(exc))


def test_gids_are_sorted_and_system_select_takes_names_objects_and_arrays(ei2):
    np.testing.assert_array_equal(Gids([9, 2, 5]).resolve(ei2), [2, 5, 9])
    ei2.add_selection("trio", Gids([9, 2, 5]))
    np.testing.assert_array_equal(ei2.select("trio"), [2, 5, 9])
    np.testing.assert_array_equal(ei2.select(First(2, population="INH")), [80, 81])
    np.testing.assert_array_equal(ei2.select(np.array([4, 1])), [1, 4])
    np.testing.assert_array_equal(ei2.select([3]), [3])
    assert ei2.select([3]).dtype == np.int64


def test_selections_of_a_parallel_system_live_in_memory():
    cells = ParallelSystem(10)
    cells.add_selection("half", First(5))
    assert cells.selections == {"half": First(5)}
    np.testing.assert_array_equal(cells.select("half"), np.arange(5))
    with pytest.raises(SelectionError, match="no directory to save"):
        cells.add_selection("other", First(2), save=True)
    assert "other" not in cells.selections


# -- JSON and selections.json ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "selection",
    [
        First(4),
        First(4, population="INH"),
        RandomCells(3, seed=11, population="EXC"),
        Patch(x=(0, 100), y=(50, 250)),
        Patch(x=(0, 100), y=(50, 250), z=(0, 5), population="EXC"),
        Gids([7, 3, 1]),
    ],
    ids=repr,
)
def test_to_dict_round_trips_through_json(selection):
    data = json.loads(json.dumps(selection.to_dict()))
    assert data["kind"] == selection.kind
    assert selection_from_dict(data) == selection


def test_selections_json_round_trip(system_copy):
    path = system_copy.directory / "selections.json"
    assert not path.exists() and system_copy.selections == {}
    system_copy.add_selection("corner", Patch(x=(0, 150), y=(0, 150)), save=True)
    system_copy.add_selection("inh", RandomCells(5, seed=2, population="INH"), save=True)
    system_copy.add_selection("scratch", First(3))  # memory only
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored == {
        "corner": {"kind": "patch", "x": [0.0, 150.0], "y": [0.0, 150.0]},
        "inh": {"kind": "random", "n": 5, "seed": 2, "population": "INH"},
    }
    assert not list(system_copy.directory.glob("selections.json.tmp.*"))  # no temporary file left behind

    reread = System(system_copy.directory)
    assert sorted(reread.selections) == ["corner", "inh"]
    for name in ("corner", "inh"):
        np.testing.assert_array_equal(reread.select(name), system_copy.select(name))
    np.testing.assert_array_equal(reread.select("inh"), RandomCells(5, seed=2, population="INH").resolve(reread))

    with pytest.raises(SelectionError, match="already has a selection 'corner'.*replace=True"):
        reread.add_selection("corner", First(2), save=True)
    reread.add_selection("corner", First(2), save=True, replace=True)
    np.testing.assert_array_equal(System(system_copy.directory).select("corner"), [0, 1])
    assert json.loads(path.read_text(encoding="utf-8"))["inh"]["seed"] == 2  # other entries kept


def test_a_file_selection_can_be_replaced_in_memory(system_copy):
    system_copy.add_selection("a", First(2), save=True)
    with pytest.raises(SelectionError, match="already has"):
        system_copy.add_selection("a", First(3))
    system_copy.add_selection("a", First(3), replace=True)
    np.testing.assert_array_equal(system_copy.select("a"), [0, 1, 2])
    np.testing.assert_array_equal(System(system_copy.directory).select("a"), [0, 1])


def test_saving_into_a_cache_entry_is_refused(system_copy):
    assert (system_copy.directory / "manifest.json").exists()  # copied along, as with any copy of an entry
    (system_copy.directory.parent / "EI2.lock").touch()  # now laid out like <cache>/systems/<key>/
    with pytest.raises(SelectionError, match="entry of the system cache.*copytree"):
        system_copy.add_selection("a", First(2), save=True)
    assert not (system_copy.directory / "selections.json").exists()
    assert "a" not in system_copy.selections


def test_a_malformed_selections_json_names_the_file_and_entry(system_copy):
    path = system_copy.directory / "selections.json"
    path.write_text(json.dumps({"good": {"kind": "first", "n": 2}, "bad": {"kind": "circle", "r": 5}}))
    with pytest.raises(SystemFormatError, match=r"selections\.json: bad: unknown selection kind 'circle'"):
        system_copy.select("good")
    path.write_text("[1, 2]")
    with pytest.raises(SystemFormatError, match="expected an object"):
        _ = system_copy.selections
    path.write_text('{"a": ')
    with pytest.raises(SystemFormatError, match="not valid JSON"):
        _ = system_copy.selections


# -- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: First(0), "n must be an int >= 1"),
        (lambda: First(-3), "n must be an int >= 1"),
        (lambda: First(2.5), "n must be an int >= 1"),
        (lambda: First(True), "n must be an int >= 1"),
        (lambda: RandomCells(0, seed=1), "n must be an int >= 1"),
        (lambda: RandomCells(3, seed=-1), "seed must be an int >= 0"),
        (lambda: RandomCells(3, seed=1.5), "seed must be an int >= 0"),
        (lambda: First(3, population=""), "population must be a population name"),
        (lambda: Patch(x=(10, 0), y=(0, 10)), r"x=\(10, 0\) has lo > hi.*\(0, 10\)"),
        (lambda: Patch(x=(0, 10), y=(5, 1)), "y=.* has lo > hi"),
        (lambda: Patch(x=(0, 10), y=(0, 10), z=(3, 2)), "z=.* has lo > hi"),
        (lambda: Patch(x="ab", y=(0, 10)), "x must be a pair"),
        (lambda: Patch(x=(0, 1, 2), y=(0, 10)), "x must be a pair"),
        (lambda: Patch(x=(0, float("nan")), y=(0, 10)), "finite"),
        (lambda: Gids([]), "non-empty 1-D sequence of integer gids"),
        (lambda: Gids([1.5, 2.0]), "integer gids"),
        (lambda: Gids([[1, 2]]), "1-D"),
        (lambda: Gids([1, 4, 1]), r"repeat \[1\]"),
        (lambda: Gids([-2, 3]), r">= 0, got \[-2\]"),
    ],
)
def test_bad_selections_say_what_is_wrong(make, message):
    with pytest.raises(SelectionError, match=message):
        make()


@pytest.mark.parametrize(
    "selection, message",
    [
        (First(101), "asks for 101 cells but system 'EI2' has 100; choose n <= 100"),
        (First(21, population="INH"), "population 'INH' has 20; choose n <= 20"),
        (RandomCells(81, seed=0, population="EXC"), "population 'EXC' has 80"),
        (First(2, population="PYR"), r"no population 'PYR'; its populations are \['EXC', 'INH'\]"),
        (RandomCells(2, seed=0, population="PYR"), "no population 'PYR'"),
        (Patch(x=(0, 10), y=(0, 10), population="PYR"), "no population 'PYR'"),
        (Patch(x=(1000, 2000), y=(0, 400)), "holds no cell of system 'EI2'; its cells lie within x=.*widen or move"),
        (Gids([5, 100, 250]), r"gids \[100, 250\] are not cells of system 'EI2', which has gids 0..99"),
    ],
    ids=repr,
)
def test_selections_that_do_not_fit_the_system_say_why(ei2, selection, message):
    with pytest.raises(SelectionError, match=message):
        selection.resolve(ei2)
    with pytest.raises(SelectionError, match=message):
        ei2.select(selection)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"kind": "circle", "r": 5}, r"unknown selection kind 'circle'; kinds: \['first', 'gids', 'patch', 'random'\]"),
        ({"n": 5}, "unknown selection kind None"),
        ({"kind": "random", "n": 5}, r"needs \['seed'\]"),
        ({"kind": "first", "n": 5, "pop": "EXC"}, r"not \['pop'\]"),
        (["first", 5], "a selection is an object"),
        ({"kind": "patch", "x": [5, 1], "y": [0, 1]}, "lo > hi"),
    ],
)
def test_bad_json_selections_say_what_is_wrong(data, message):
    with pytest.raises(SelectionError, match=message):
        selection_from_dict(data)


def test_select_names_the_known_selections_and_checks_gids(ei2):
    ei2.add_selection("known", First(1), replace=True)
    with pytest.raises(KeyError, match=r"no selection 'nope'; its selections are \[.*'known'.*\]"):
        ei2.select("nope")
    with pytest.raises(SelectionError, match="not cells of system"):
        ei2.select([1, 100])
    with pytest.raises(SelectionError, match="repeat"):
        ei2.select([1, 1])
    with pytest.raises(SelectionError, match="non-empty"):
        ei2.select([])
    with pytest.raises(TypeError, match="got None"):
        ei2.select(None)


def test_add_selection_checks_name_and_fit(ei2):
    with pytest.raises(SelectionError, match="non-empty str"):
        ei2.add_selection("", First(1))
    with pytest.raises(TypeError, match="selection_from_dict"):
        ei2.add_selection("d", {"kind": "first", "n": 1})
    with pytest.raises(SelectionError, match="choose n <= 100"):
        ei2.add_selection("too_many", First(500))
    assert "too_many" not in ei2.selections
    assert ei2.add_selection("listed", [4, 2]) == Gids([4, 2])
    np.testing.assert_array_equal(ei2.select("listed"), [2, 4])


# -- use in an env ------------------------------------------------------------------------------------


@pytest.fixture()
def env():
    system = livn.system.load("EI2")
    system.add_selection("inh3", First(3, population="INH"))
    system.add_selection("corner", Patch(x=(0, 150), y=(0, 150)))
    with livn.make(system, backend=Probe, record=("spikes",)) as made:
        yield made


def test_record_takes_a_selection_name_or_object(env):
    env.record_voltage(gids="inh3", dt=0.1)
    np.testing.assert_array_equal(env.recorded_gids("voltage"), [80, 81, 82])
    assert env.recorded_gids("voltage").dtype == np.int64
    env.record("voltage", dt=0.2, gids=RandomCells(4, seed=5))
    np.testing.assert_array_equal(env.recorded_gids("voltage"), RandomCells(4, seed=5).resolve(env.system))
    env.record_voltage(gids="corner")
    run = env.run(1.0)
    np.testing.assert_array_equal(run.voltage.ids, env.system.select("corner"))
    env.record_voltage(gids=[7, 3])  # plain gids as before
    np.testing.assert_array_equal(env.recorded_gids("voltage"), [3, 7])


def test_record_with_a_selection_outside_the_population_or_unknown_fails(env):
    with pytest.raises(ValueError, match="outside population 'EXC'"):
        env.record_voltage(population="EXC", gids="inh3")
    with pytest.raises(KeyError, match="no selection 'missing'"):
        env.record_voltage(gids="missing")


def test_stimulus_by_selection_is_resolved_in_run(env):
    stimulus = Stimulus(np.full((10, 3), 500.0), dt=0.1, gids="inh3", input_mode="current")
    assert stimulus.gids is None and stimulus.selection == "inh3"
    with pytest.raises(ValueError, match="only a system resolves"):
        stimulus.resolve_gids(N)
    run = env.run(1.0, stimulus)
    np.testing.assert_array_equal(env.last.gids, [80, 81, 82])
    assert env.last.array is stimulus.array and env.last.selection is None
    counts = np.bincount(np.asarray(run.spikes.ids), minlength=N)
    np.testing.assert_array_equal(counts[80:83], [10, 10, 10])  # driven every step
    assert counts.sum() - counts[80:83].sum() < 5  # the rest at the 5 Hz base rate

    env.clear()
    by_object = Stimulus(np.full((10, 2), 500.0), dt=0.1, gids=First(2, population="EXC"), input_mode="current")
    env.run(1.0, by_object)
    np.testing.assert_array_equal(env.last.gids, [0, 1])


def test_a_stimulus_selection_of_the_wrong_width_fails_in_run(env):
    stimulus = Stimulus(np.zeros((10, 4)), dt=0.1, gids="inh3", input_mode="current")
    with pytest.raises(ValueError, match="4 columns but its selection 'inh3' holds 3 cells"):
        env.run(1.0, stimulus)
    assert env.t == 0
    with pytest.raises(KeyError, match="no selection 'other'"):
        env.run(1.0, Stimulus(np.zeros((10, 4)), dt=0.1, gids="other", input_mode="current"))
    with pytest.raises(ValueError, match="2 columns but 3 gids"):  # plain gids: checked when made, as before
        Stimulus(np.zeros((10, 2)), dt=0.1, gids=[1, 2, 3])


def test_express_opsin_takes_a_selection(env):
    env.express_opsin("chr2", gids="inh3", g_max=0.02)
    expected = np.zeros(N)
    expected[80:83] = 0.02
    np.testing.assert_array_equal(env.opsins["chr2"].g_max, expected)
    env.express_opsin("chr2", gids=Gids([5]), g_max=[0.01])
    assert env.opsins["chr2"].g_max[5] == 0.01
    with pytest.raises(SelectionError, match="not cells of system"):
        env.express_opsin("chr2", gids=Gids([500]))


# -- decodings with cells= ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def analysis():
    """An EI2 env with a selection, a synthetic run of bursty spikes and its subset on a system of the subset."""
    system = livn.system.load("EI2")
    chosen = system.add_selection("patch", Patch(x=(0, 250), y=(0, 250))).resolve(system)
    rng = np.random.default_rng(3)
    duration = 2000.0
    ids, times = [], []
    for gid in range(N):
        count = rng.poisson(6.0 if gid < 50 else 1.0)  # the first 50 cells fire more
        ids.append(np.full(count, gid))
        times.append(rng.uniform(0, duration, count))
    for onset in (200.0, 900.0, 1500.0):  # bursts of half the cells
        cells = rng.choice(N, N // 2, replace=False)
        ids.append(cells)
        times.append(onset + rng.uniform(0, 30.0, cells.size))
    ids, times = np.concatenate(ids).astype(np.int64), np.concatenate(times)
    order = np.argsort(times, kind="stable")
    run = Run(spikes=Events(ids[order], times[order]), duration=duration)
    keep = np.isin(ids[order], chosen)
    subset_ids = np.searchsorted(chosen, ids[order][keep])  # the selected cells renumbered 0..m-1
    subset_run = Run(spikes=Events(subset_ids.astype(np.int64), times[order][keep]), duration=duration)
    with (
        livn.make(system, backend=FakeEnv, record=("spikes",)) as full,
        livn.make(int(chosen.size), backend=FakeEnv, record=("spikes",)) as subset,
    ):
        yield full, run, subset, subset_run, chosen


def _same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _same(a[key], b[key])
    else:
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize(
    "decoding",
    [
        lambda cells: MeanFiringRate(2000, cells=cells),
        lambda cells: ActiveFraction(2000, min_spikes=5, cells=cells),
        lambda cells: ISICV(2000, cells=cells),
        lambda cells: ISICV(2000, by="cell", cells=cells),
        lambda cells: NetworkBursts(2000, bin_size=10.0, cells=cells),
        lambda cells: PeakSynchrony(2000, bin_size=10.0, cells=cells),
        lambda cells: AutocorrelationTime(2000, bin_size=5.0, cells=cells),
        lambda cells: Avalanches(2000, bin_size=2.0, cells=cells),
        lambda cells: Recruitment(2000, onsets=(200.0, 900.0, 1500.0), window=30.0, cells=cells),
    ],
    ids=[
        "rate",
        "active",
        "isicv",
        "isicv-cell",
        "bursts",
        "synchrony",
        "autocorrelation",
        "avalanches",
        "recruitment",
    ],
)
def test_a_decoding_of_a_selection_equals_it_on_a_system_of_those_cells(analysis, decoding):
    full, run, subset, subset_run, chosen = analysis
    assert 0 < chosen.size < N
    expected = decoding(None)(subset, subset_run)
    for cells in ("patch", Patch(x=(0, 250), y=(0, 250)), chosen):
        _same(decoding(cells)(full, run), expected)
    whole = decoding(None)(full, run)
    assert _differs(decoding("patch")(full, run), whole)  # the selection changes the answer


def _differs(a, b):
    try:
        _same(a, b)
    except AssertionError:
        return True
    return False


def test_decodings_of_a_selection_by_hand(analysis):
    full, run, _, _, chosen = analysis
    ids, times = np.asarray(run.spikes.ids), np.asarray(run.spikes.times)
    counts = np.bincount(ids, minlength=N)
    rate = MeanFiringRate(2000, cells="patch")(full, run)
    np.testing.assert_allclose(rate, [counts[chosen].sum() / (chosen.size * 2.0)])
    active = ActiveFraction(2000, min_spikes=5, cells="patch")(full, run)
    np.testing.assert_allclose(active, [np.mean(counts[chosen] >= 5)])
    # by population: the selected cells of each population
    inh = RandomCells(10, seed=4, population="INH").resolve(full.system)
    mixed = np.concatenate([np.arange(10), inh])
    by_population = ActiveFraction(2000, by="population", cells=mixed)(full, run)
    np.testing.assert_allclose(by_population, [np.mean(counts[:10] >= 1), np.mean(counts[inh] >= 1)])
    recruited = Recruitment(2000, onsets=(200.0,), window=30.0, by="population", cells=mixed)(full, run)
    hit = np.unique(ids[(times >= 200.0) & (times < 230.0)])
    np.testing.assert_allclose(recruited[:, 0], [np.isin(np.arange(10), hit).mean(), np.isin(inh, hit).mean()])
    synchrony = PeakSynchrony(2000, bin_size=2000.0, by="population", cells=mixed)(full, run)
    np.testing.assert_allclose(synchrony, [np.mean(counts[:10] > 0), np.mean(counts[inh] > 0)])
    bursts = NetworkBursts(2000, bin_size=10.0, cells="patch")(full, run)
    selected_spikes = np.isin(ids, chosen).sum()
    np.testing.assert_allclose(bursts["threshold"], 4.0 * selected_spikes / (chosen.size * 2.0))


def test_cells_none_and_all_cells_give_todays_answer(analysis):
    full, run, *_ = analysis
    every = np.arange(N)
    for make in (
        lambda cells: MeanFiringRate(2000, cells=cells),
        lambda cells: ActiveFraction(2000, by="population", cells=cells),
        lambda cells: ISICV(2000, by="population", cells=cells),
        lambda cells: NetworkBursts(2000, cells=cells),
        lambda cells: PeakSynchrony(2000, by="population", cells=cells),
        lambda cells: Recruitment(2000, onsets=(900.0,), by="population", cells=cells),
    ):
        _same(make(every)(full, run), make(None)(full, run))


def test_decoding_cells_errors(analysis):
    full, run, *_ = analysis
    with pytest.raises(ValueError, match="by='network' only"):
        MeanFiringRate(2000, by="cell", cells="patch")
    with pytest.raises(TypeError, match="cells= takes a selection name"):
        ActiveFraction(2000, cells=[0.5])
    with pytest.raises(KeyError, match="no selection 'nothing'"):
        ActiveFraction(2000, cells="nothing")(full, run)
    with pytest.raises(ValueError, match="population 'INH' holds none of the 5 selected cells"):
        PeakSynchrony(2000, by="population", cells=First(5))(full, run)


def test_space_of_a_per_cell_decoding_follows_the_selection(analysis):
    pytest.importorskip("gymnasium")
    full, run, _, _, chosen = analysis
    decoding = ISICV(2000, by="cell", cells="patch", missing=0.0)
    assert decoding.space(full).shape == (chosen.size,)
    assert decoding(full, run).shape == (chosen.size,)
    assert ISICV(2000, by="cell").space(full).shape == (N,)


def test_selection_classes_are_exported():
    assert issubclass(First, Selection) and livn.system.selection_from_dict is selection_from_dict


def test_a_partition_keeps_the_selections_added_in_memory(system_copy):
    system_copy.add_selection("pair", Gids([3, 8]))
    part = system_copy.partition(1, 2)
    np.testing.assert_array_equal(part.select("pair"), [3, 8])
    part.add_selection("only_here", First(1))
    assert "only_here" not in system_copy.selections
