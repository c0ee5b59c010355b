"""The grid generator (O(N x in-degree)): truncation, determinism, rank independence, and EI1-EI4 unchanged."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from livn.system import PREDEFINED, System, SystemFormatError, generate_culture
from livn.system import _generate as gen
from livn.system import _grid as grid
from livn.system._neuroh5 import write_connections

# ------------------------------------------------------------------ EI1-EI4: the dense algorithm, unchanged

#: SHA-256 of each predefined system's read-back arrays (coordinates, then per projection the pre
#: gids, post gids and distances), and of its graph.json and mea.json, recorded from generator
#: version 3 before the grid generator existed. ``method="auto"`` must keep drawing them densely.
PREDEFINED_HASHES = {
    "EI1": (
        "e0deaf02408e691ed2eb1b3006385ca67c02f27b6e1de6dbb5686698b55c1659",
        "132c01b50663d531f509940cb97e385a2d6082b60ce244a7ed06defe618b7525",
        "c5bc22279521e655202b6c1b398f40ebb8d1861f47f7929fa6b7e808928d28c2",
    ),
    "EI2": (
        "1d10491ac43bd7791cd0cd232768bce0ddce7b983c999acd3d39d4a9448e527f",
        "85ce3cf9ea5e7d54df82d2453772df5211c13c22db7a9eb1fd73c2f3d3f23359",
        "223a8226f1866b7c31668a7fc6941c6a60dc452de62251e484dd8e82cf6560d0",
    ),
    "EI3": (
        "d5ef95a2813b3f3f8d7a4d5ffd7cf0fac519f0660f48a4c429036df4e71e2ae4",
        "5cff84c6ea30b4390ffc45067a22e4814ee21027bc4e3fdd19e1e4ac168dff26",
        "42ab58d3aacfe2ed618d68e198136ccc8501e95aa110dcebaee55d0c255e9139",
    ),
    "EI4": (
        "e6bac4e98eec857bdbcedcd7ba412e38021c4576a537b16030b8a040a5a8b5f3",
        "b7019eb04b33d98dfdf0c2d0a77c733a71ebbb9610c115403442c21a9f930a73",
        "8b199453da5279d7398acc8c9e48e9f8a47df187078a0aff839545a4eb165303",
    ),
}


def _array_hash(system: System) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(system.neuron_coordinates, dtype="<f8").tobytes())
    for (post, pre), proj in sorted(system.projections.items()):
        digest.update(f"{post}/{pre}".encode())
        digest.update(np.ascontiguousarray(proj.pre_gids, dtype="<i8").tobytes())
        digest.update(np.ascontiguousarray(proj.post_gids, dtype="<i8").tobytes())
        digest.update(np.ascontiguousarray(proj.distances, dtype="<f4").tobytes())
    return digest.hexdigest()


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", list(PREDEFINED_HASHES))
def test_predefined_systems_are_unchanged(tmp_path, name):
    path = PREDEFINED[name].generate(tmp_path / name)
    graph = json.loads((path / "graph.json").read_text())
    assert "method" not in graph["generator"]  # the dense algorithm, recorded as before
    arrays, graph_hash, mea_hash = PREDEFINED_HASHES[name]
    assert _array_hash(System(path)) == arrays
    assert _file_hash(path / "graph.json") == graph_hash
    assert _file_hash(path / "mea.json") == mea_hash


def test_auto_is_dense_up_to_the_threshold_and_grid_above(tmp_path, monkeypatch):
    # EI1-EI4 are drawn all-pairs (unchanged), the larger predefined cultures on the grid
    assert gen.DENSE_MAX_CELLS >= max(PREDEFINED[f"EI{k}"].num_neurons for k in range(1, 5))
    assert all(d.num_neurons > gen.DENSE_MAX_CELLS for name, d in PREDEFINED.items() if name in ("EI5", "EI6"))
    kwargs = dict(area=500.0, seed=7, in_degree=20)
    dense = generate_culture(tmp_path / "dense", {"EXC": 60, "INH": 15}, method="dense", **kwargs)
    auto = generate_culture(tmp_path / "auto", {"EXC": 60, "INH": 15}, **kwargs)
    for name in ("cells.h5", "connections.h5"):
        assert (dense / name).read_bytes() == (auto / name).read_bytes()
    monkeypatch.setattr(gen, "DENSE_MAX_CELLS", 74)
    above = generate_culture(tmp_path / "above", {"EXC": 60, "INH": 15}, **kwargs)
    explicit = generate_culture(tmp_path / "grid", {"EXC": 60, "INH": 15}, method="grid", **kwargs)
    assert json.loads((above / "graph.json").read_text())["generator"]["method"] == "grid"
    assert (above / "connections.h5").read_bytes() == (explicit / "connections.h5").read_bytes()
    # Same positions either way; different (equally distributed) draws.
    assert (above / "cells.h5").read_bytes() == (dense / "cells.h5").read_bytes()


# ------------------------------------------------------------------------------ the grid generator


def _arrays(path: Path) -> dict[str, np.ndarray]:
    system = System(path)
    out = {"coordinates": system.neuron_coordinates}
    for (post, pre), proj in system.projections.items():
        out[f"{post}/{pre}/pre"] = proj.pre_gids
        out[f"{post}/{pre}/post"] = proj.post_gids
        out[f"{post}/{pre}/distance"] = proj.distances
    return out


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


CULTURE = dict(populations={"EXC": 1600, "INH": 400}, area=1800.0, seed=12, in_degree=60, sigma=150.0)


def _culture(directory: Path, **extra) -> Path:
    kwargs = {**CULTURE, **extra}
    return generate_culture(directory, kwargs.pop("populations"), **kwargs)


def test_grid_is_deterministic(tmp_path):
    first = _culture(tmp_path / "a", method="grid")
    second = _culture(tmp_path / "b", method="grid")
    for name in ("cells.h5", "connections.h5", "mea.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert not np.array_equal(
        _arrays(first)["EXC/EXC/pre"], _arrays(_culture(tmp_path / "c", method="grid", seed=13))["EXC/EXC/pre"]
    )


def test_grid_output_does_not_depend_on_blocks_or_bins(tmp_path, monkeypatch):
    reference = _arrays(_culture(tmp_path / "ref", method="grid"))
    monkeypatch.setattr(grid, "_BLOCK_ELEMENTS", 997)  # tiny blocks: many per bin
    monkeypatch.setattr(grid, "_CELLS_PER_BIN", 1)  # finest subdivision (m = 4)
    monkeypatch.setattr(grid, "_DRAW_CELLS", 333)  # cells drawn and appended to the file in 5 blocks
    small = _culture(tmp_path / "small", method="grid")
    with h5py.File(small / "connections.h5", "r") as h5:
        assert h5["Projections/EXC/EXC/Edges/Source Index"].chunks is not None  # appended, block by block
    _assert_same(reference, _arrays(small))
    monkeypatch.setattr(grid, "_BLOCK_ELEMENTS", 1 << 24)
    monkeypatch.setattr(grid, "_CELLS_PER_BIN", 10**9)  # bins as wide as the radius (m = 1)
    _assert_same(reference, _arrays(_culture(tmp_path / "large", method="grid")))


def test_grid_file_has_the_standard_single_block_layout(tmp_path):
    path = _culture(tmp_path / "g", method="grid")
    system = System(path)
    projections = {key: (proj.pre_gids, proj.post_gids, proj.distances) for key, proj in system.projections.items()}
    write_connections(tmp_path / "again.h5", system.population_ranges, projections)
    assert (tmp_path / "again.h5").read_bytes() == (path / "connections.h5").read_bytes()


def test_grid_connections_are_valid(tmp_path):
    system = System(_culture(tmp_path / "g", method="grid"))
    xy = system.neuron_coordinates[:, 1:3]
    for proj in system.projections.values():
        assert not np.any(proj.pre_gids == proj.post_gids)
        # Sorted by post gid, then pre gid, with no pair twice.
        order = proj.post_gids * system.num_neurons + proj.pre_gids
        assert np.all(np.diff(order) > 0)
        expected = np.hypot(*(xy[proj.post_gids] - xy[proj.pre_gids]).T).astype(np.float32)
        np.testing.assert_array_equal(proj.distances, expected)
        assert proj.distances.max() <= 4.0 * 150.0


def test_truncation_keeps_the_in_degree_and_the_distance_distribution(tmp_path):
    """Grid (k = 4) against dense on the same positions: in-degrees and distances agree within sampling error."""
    dense = System(_culture(tmp_path / "dense", method="dense"))
    cut = System(_culture(tmp_path / "grid", method="grid"))
    np.testing.assert_array_equal(dense.neuron_coordinates, cut.neuron_coordinates)
    for key, proj in dense.projections.items():
        other = cut.projections[key]
        n = dense.population_count(key[0])
        a, b = dense.in_degrees(*key), cut.in_degrees(*key)
        # Means of ~Poisson counts over n cells: 4 standard errors of the difference.
        assert abs(a.mean() - b.mean()) < 4 * math.sqrt((a.var() + b.var()) / n), key
        # Two-sample Kolmogorov-Smirnov statistic of the distances, against its 0.1% critical value.
        x, y = np.sort(proj.distances), np.sort(other.distances)
        grid_points = np.concatenate([x, y])
        ks = np.max(
            np.abs(
                np.searchsorted(x, grid_points, "right") / x.size - np.searchsorted(y, grid_points, "right") / y.size
            )
        )
        critical = 1.95 * math.sqrt((x.size + y.size) / (x.size * y.size))
        assert ks < critical, (key, ks, critical)
        # What the truncation moves: under the dense draw, edges beyond 4 sigma are rare.
        assert np.mean(proj.distances > 600.0) < 2e-3


def test_a_short_truncation_cuts_distances_but_keeps_the_mean_in_degree(tmp_path):
    path = _culture(tmp_path / "g", method="grid", truncation=2.0)
    system = System(path)
    for (post, pre), proj in system.projections.items():
        assert proj.distances.max() <= 300.0
        target = 60.0 * system.population_count(pre) / system.num_neurons
        assert abs(system.in_degrees(post, pre).mean() - target) < 0.05 * target
    generator = json.loads((path / "graph.json").read_text())["generator"]
    assert generator["truncation"] == 2.0 and generator["truncation_radius"] == 300.0
    assert generator["grid_version"] == grid.GRID_VERSION


def test_truncation_tail_matches_the_planar_kernel():
    r = np.linspace(0.0, 60.0, 600001)  # in sigmas
    for kernel, k in (("gaussian", 4.0), ("exponential", 10.0), ("gaussian", 2.5)):
        ring = gen.connection_kernel(r, kernel, 1.0) * r  # planar integrand: w(r) 2 pi r
        beyond = np.trapezoid(np.where(r > k, ring, 0.0), r) / np.trapezoid(ring, r)
        assert grid.truncation_tail(kernel, k) == pytest.approx(beyond, rel=1e-3), kernel
    assert grid.truncation_tail("gaussian", grid.DEFAULT_TRUNCATION["gaussian"]) < 5e-4
    assert grid.truncation_tail("exponential", grid.DEFAULT_TRUNCATION["exponential"]) < 5e-4


@pytest.mark.parametrize("kernel", ["gaussian", "exponential"])
def test_grid_connection_probability_follows_the_kernel(tmp_path, kernel):
    """Connected pairs per unit kernel weight are the same at every distance inside the truncation."""
    sigma = 150.0
    system = System(
        generate_culture(
            tmp_path / "k", {"EXC": 600}, area=2000.0, kernel=kernel, sigma=sigma, in_degree=15, seed=21, method="grid"
        )
    )
    proj = system.projections[("EXC", "EXC")]
    xy = system.neuron_coordinates[:, 1:3]
    distance = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    off_diagonal = ~np.eye(600, dtype=bool)
    weight = gen.connection_kernel(distance, kernel, sigma)
    ratios = []
    for low, high in ((0.0, 100.0), (100.0, 200.0), (200.0, 300.0), (300.0, 400.0)):
        in_bin = off_diagonal & (distance >= low) & (distance < high)
        connected = np.count_nonzero((proj.distances >= low) & (proj.distances < high))
        assert connected > 500
        ratios.append(connected / weight[in_bin].sum())
    ratios = np.array(ratios)
    assert np.all(np.abs(ratios / ratios.mean() - 1) < 0.2), ratios


def test_grid_exponential_kernel_cutoff_and_explicit_degrees(tmp_path):
    path = generate_culture(
        tmp_path / "x",
        {"EXC": 900, "INH": 300},
        area=2000.0,
        kernel="exponential",
        sigma=80.0,
        in_degree={("EXC", "EXC"): 30, ("INH", "EXC"): 10},
        cutoff=0.05,
        seed=4,
        method="grid",
    )
    system = System(path)
    assert set(system.projections) == {("EXC", "EXC"), ("INH", "EXC")}
    assert abs(system.in_degrees("EXC", "EXC").mean() - 30) < 1.5
    assert abs(system.in_degrees("INH", "EXC").mean() - 10) < 1.0
    assert system.projections[("EXC", "EXC")].distances.max() <= 800.0


def test_grid_small_populations_connect_all_to_all(tmp_path):
    system = System(generate_culture(tmp_path / "s", {"EXC": 8, "INH": 2}, area=40.0, seed=1, method="grid"))
    np.testing.assert_array_equal(system.in_degrees("EXC", "EXC"), np.full(8, 7))
    np.testing.assert_array_equal(system.in_degrees("EXC", "INH"), np.full(8, 2))
    np.testing.assert_array_equal(system.in_degrees("INH", "EXC"), np.full(2, 8))
    np.testing.assert_array_equal(system.in_degrees("INH", "INH"), np.full(2, 1))
    for proj in system.projections.values():
        assert not np.any(proj.pre_gids == proj.post_gids)


def test_a_truncation_too_short_for_the_degree_warns(tmp_path):
    with pytest.warns(RuntimeWarning, match="raise `truncation`"):
        path = generate_culture(
            tmp_path / "w", {"EXC": 400}, area=2000.0, in_degree=50, seed=2, method="grid", truncation=0.5
        )
    system = System(path)
    assert system.in_degrees("EXC", "EXC").mean() < 50
    assert system.projections[("EXC", "EXC")].distances.max() <= 100.0


def test_no_truncation_uses_every_pair(tmp_path):
    system = System(
        generate_culture(
            tmp_path / "inf",
            {"EXC": 300},
            area=3000.0,
            sigma=400.0,
            in_degree=20,
            seed=3,
            method="grid",
            truncation=math.inf,
        )
    )
    # Beyond what any finite default would allow at this sigma (3 sigma: 1.1% of the kernel).
    assert system.projections[("EXC", "EXC")].distances.max() > 3 * 400.0
    graph = json.loads((system.directory / "graph.json").read_text())
    assert graph["generator"]["truncation"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(method="fast"), "unknown method"),
        (dict(method="grid", truncation=0.0), "truncation"),
        (dict(method="grid", truncation=float("nan")), "truncation"),
        (dict(method="grid", truncation=True), "truncation"),
        (dict(method="dense", truncation=3.0), "method='grid'"),
    ],
)
def test_grid_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_culture(tmp_path / "bad", {"EXC": 10}, **kwargs)


def test_pair_uniforms_are_uniform_and_pinned():
    post = np.repeat(np.arange(400), 500)
    pre = np.tile(np.arange(500), 400)
    u = grid.pair_uniforms(12345, post, pre, 500)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / u.size)
    counts = np.bincount((u * 100).astype(int), minlength=100)
    chi2 = np.sum((counts - u.size / 100) ** 2 / (u.size / 100))
    assert chi2 < 160  # 99 degrees of freedom, p ~ 1e-4
    # Neighbouring pairs and streams are uncorrelated.
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    other = grid.pair_uniforms(12346, post, pre, 500)
    assert abs(np.corrcoef(u, other)[0, 1]) < 0.01
    # A function of the pair alone: any subset gives the same values.
    pick = np.array([7, 99_999, 123_456])
    np.testing.assert_array_equal(grid.pair_uniforms(12345, post[pick], pre[pick], 500), u[pick])
    # Pinned: a change here changes every grid culture (bump GRID_VERSION).
    np.testing.assert_allclose(
        grid.pair_uniforms(0, np.array([0, 1]), np.array([0, 2]), 3), [0.8833108082136426, 0.32732576421812576]
    )
    assert grid.projection_stream(20251127, (2, 0, 1)) == grid.projection_stream(20251127, (2, 0, 1))


# ------------------------------------------------------------------------------- several ranks


class _Hub:
    def __init__(self, size: int):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=120)
        self.slots: list = [None] * size


class _ThreadComm:
    """Enough of an mpi4py communicator for generate_culture, with threads as ranks."""

    def __init__(self, hub: _Hub, rank: int):
        self.hub, self.rank = hub, rank

    def Get_rank(self) -> int:  # noqa: N802 (mpi4py's names)
        return self.rank

    def Get_size(self) -> int:  # noqa: N802
        return self.hub.size

    def allgather(self, value):
        self.hub.slots[self.rank] = value
        self.hub.barrier.wait()
        out = list(self.hub.slots)
        self.hub.barrier.wait()
        return out

    def bcast(self, value, root: int = 0):
        return self.allgather(value)[root]

    def allreduce(self, value):
        return functools.reduce(lambda a, b: a + b, self.allgather(value))


def _on_ranks(size: int, function) -> list:
    hub = _Hub(size)
    results: list = [None] * size

    def run(rank: int) -> None:
        try:
            results[rank] = function(_ThreadComm(hub, rank))
        except BaseException as exc:  # handed to the test below
            results[rank] = exc

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results


@pytest.mark.parametrize(("size", "draw_cells"), [(2, None), (3, None), (2, 250)])
def test_ranks_draw_the_serial_connections(tmp_path, monkeypatch, size, draw_cells):
    serial = _culture(tmp_path / "serial", method="grid")
    if draw_cells:
        monkeypatch.setattr(grid, "_DRAW_CELLS", draw_cells)
    target = tmp_path / f"ranks{size}"
    results = _on_ranks(size, lambda comm: _culture(target, method="grid", comm=comm))
    assert all(r == target for r in results), results
    names = sorted(p.name for p in target.iterdir())
    assert names == sorted(
        ["cells.h5", "connections.h5", "graph.json", "mea.json", *(grid.part_file(r) for r in range(size))]
    )
    _assert_same(_arrays(serial), _arrays(target))
    for name in ("cells.h5", "mea.json"):
        assert (serial / name).read_bytes() == (target / name).read_bytes()
    with h5py.File(target / "connections.h5", "r") as h5:
        edges = h5["Projections/EXC/EXC/Edges"]
        assert edges["Source Index"].is_virtual
        np.testing.assert_array_equal(edges["Destination Block Index"][()], [1600 * r // size for r in range(size)])


def test_overwriting_removes_the_parts_of_an_earlier_generation(tmp_path):
    target = tmp_path / "ranks"
    _on_ranks(3, lambda comm: _culture(target, method="grid", comm=comm))
    _on_ranks(2, lambda comm: _culture(target, method="grid", comm=comm, overwrite=True))
    assert not (target / grid.part_file(2)).exists()
    serial = _culture(target, method="grid", overwrite=True)
    assert not list(serial.glob("connections.part*"))
    _assert_same(_arrays(_culture(tmp_path / "fresh", method="grid")), _arrays(serial))


def test_a_missing_part_is_an_error_not_zeros(tmp_path):
    target = tmp_path / "ranks"
    _on_ranks(2, lambda comm: _culture(target, method="grid", comm=comm))
    (target / grid.part_file(1)).unlink()
    with pytest.raises(SystemFormatError):
        System(target).projections  # noqa: B018


def test_an_error_on_one_rank_reaches_every_rank(tmp_path, monkeypatch):
    original = grid.GridDraw.histogram

    def failing(self):
        if self.first > 0:  # rank 1's share
            raise MemoryError("rank 1 ran out")
        return original(self)

    monkeypatch.setattr(grid.GridDraw, "histogram", failing)
    results = _on_ranks(2, lambda comm: _culture(tmp_path / "fail", method="grid", comm=comm))
    assert isinstance(results[1], MemoryError)
    assert isinstance(results[0], RuntimeError) and "rank 1" in str(results[0])


def test_dense_method_on_ranks_is_generated_once(tmp_path):
    serial = _arrays(_culture(tmp_path / "serial", method="dense"))
    target = tmp_path / "ranks"
    _on_ranks(2, lambda comm: _culture(target, method="dense", comm=comm))
    _assert_same(serial, _arrays(target))


def test_existing_directory_is_refused_on_every_rank(tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    results = _on_ranks(2, lambda comm: _culture(target, method="grid", comm=comm))
    assert all(isinstance(r, FileExistsError) for r in results), results
