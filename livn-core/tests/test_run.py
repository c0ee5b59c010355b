"""Run: the 6-tuple, channels, slicing, concatenation, selection, merging, storage."""

from __future__ import annotations

import numpy as np
import pytest
from livn.run import Events, Run, Series


def _run(t0=0.0, ids=(0, 1, 2, 1), times=(1.0, 2.5, 7.0, 9.9), cells=(0, 1, 2), dt=0.5, duration=10.0, seed=0):
    rng = np.random.default_rng(seed)
    n_samples = int(duration / dt)
    return Run(
        spikes=Events(np.asarray(ids), np.asarray(times)),
        voltage=Series(np.asarray(cells), rng.normal(-65, 1, (len(cells), n_samples)), dt),
        t0=t0,
        duration=duration,
        population_ranges={"EXC": (0, 2), "INH": (2, 1)},
    )


def test_unpacks_to_six_with_none_for_unrecorded():
    it, t, iv, v, im, mp = _run()
    assert list(it) == [0, 1, 2, 1] and v.shape == (3, 20)
    assert im is None and mp is None
    assert set(_run().channels) == {"spikes", "voltage"}


def test_slice_restarts_time():
    part = _run().slice(2.0, 8.0)
    assert part.t0 == 2.0 and part.duration == 6.0
    np.testing.assert_allclose(part.spikes.times, [0.5, 5.0])
    assert part.voltage.values.shape == (3, 12)
    with pytest.raises(ValueError, match="outside"):
        _run().slice(5.0, 11.0)


def test_concat_offsets_second_run():
    a, b = _run(seed=1), _run(t0=10.0, seed=2)
    both = a.concat(b)
    assert both.duration == 20.0 and both.t0 == 0.0
    np.testing.assert_allclose(both.spikes.times[4:], np.asarray(b.spikes.times) + 10.0)
    np.testing.assert_array_equal(both.voltage.values[:, 20:], b.voltage.values)
    # slicing the concatenation gives the parts back
    np.testing.assert_allclose(both.slice(10.0, 20.0).spikes.times, b.spikes.times)


def test_select_by_population_and_gids():
    run = _run()
    inh = run.select(population="INH")
    assert inh.spikes.ids.tolist() == [2] and inh.voltage.ids.tolist() == [2]
    assert run.select(gids=[1]).spikes.times.tolist() == [2.5, 9.9]
    with pytest.raises(KeyError, match="EXC"):
        run.select(population="NOPE")
    with pytest.raises(TypeError):
        run.select()


def test_merge_disjoint_cells_and_reject_overlap():
    a = _run(ids=(0,), times=(3.0,), cells=(0, 1))
    b = _run(ids=(2,), times=(1.0,), cells=(2,))
    merged = a.merge(b)
    assert merged.spikes.ids.tolist() == [2, 0]  # sorted by time
    assert merged.voltage.values.shape == (3, 20)
    with pytest.raises(ValueError, match="disjoint"):
        a.merge(a)
    with pytest.raises(ValueError, match="time window"):
        a.merge(_run(t0=10.0, ids=(2,), times=(1.0,), cells=(2,)))


def test_save_and_load_round_trip(tmp_path):
    run = _run()
    path = run.save(tmp_path / "run.h5")
    back = Run.load(path)
    np.testing.assert_array_equal(back.spikes.ids, run.spikes.ids)
    np.testing.assert_array_equal(back.voltage.values, run.voltage.values)
    assert back.voltage.dt == run.voltage.dt and back.population_ranges == run.population_ranges
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="junk.h5"):
        Run.load(tmp_path / "junk.h5")


def test_gather_merges_on_root():
    class FakeComm:
        def __init__(self, parts, rank):
            self.parts, self.rank = parts, rank

        def gather(self, obj, root=0):
            return self.parts if self.rank == root else None

        def Get_rank(self):
            return self.rank

    a = _run(ids=(0,), times=(3.0,), cells=(0, 1))
    b = _run(ids=(2,), times=(1.0,), cells=(2,))
    merged = a.gather(FakeComm([a, b], 0))
    assert sorted(merged.spikes.ids.tolist()) == [0, 2]
    assert a.gather(FakeComm([a, b], 1)) is None


def test_carries_foreign_arrays_untouched():
    class Marker(list):
        pass

    ids, times = Marker([1]), Marker([2.0])
    run = Run(spikes=Events(ids, times), duration=5.0)
    it, t, *_ = run
    assert it is ids and t is times
