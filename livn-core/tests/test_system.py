"""Reading system directories: the upstream NeuroH5 layout, errors on damaged files, ParallelSystem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from livn.system import (
    PREDEFINED,
    ParallelSystem,
    System,
    SystemFormatError,
    generate_culture,
    load,
)

# --------------------------------------------------------------------------------------------
# An independent, minimal writer of the upstream layout (REFERENCE.md section 2). It shares no
# code with livn's writer: population codes 10/11, a permuted Cell Index, and the connectivity
# split into several destination blocks as NeuroH5 does.

UPSTREAM_COUNTS = {"EXC": 6, "INH": 3}


def _upstream_types(f: h5py.File) -> None:
    enum = h5py.enum_dtype({"EXC": 10, "INH": 11}, basetype="u2")
    f["H5Types/Population labels"] = enum
    rows = np.zeros(2, dtype=[("Start", "<u8"), ("Count", "<u4"), ("Population", enum)])
    # Deliberately stored out of gid order: INH first.
    rows[0] = (6, 3, 11)
    rows[1] = (0, 6, 10)
    f["H5Types/Populations"] = rows


def _upstream_coordinates(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {pop: rng.uniform(0, 300, size=(n, 3)).astype(np.float32) for pop, n in UPSTREAM_COUNTS.items()}


def write_upstream_system(directory: Path, rng: np.random.Generator) -> dict:
    """Write cells.h5, connections.h5 and graph.json; return the ground truth."""
    directory.mkdir(parents=True, exist_ok=True)
    coords = _upstream_coordinates(rng)
    with h5py.File(directory / "cells.h5", "w") as f:
        _upstream_types(f)
        for pop, xyz in coords.items():
            n = xyz.shape[0]
            cell_index = np.arange(n)[::-1].astype(np.uint32)  # cells listed in reverse order
            for axis, label in enumerate("XYZ"):
                g = f.create_group(f"Populations/{pop}/Generated Coordinates/{label} Coordinate")
                g["Cell Index"] = cell_index
                g["Attribute Pointer"] = np.arange(n + 1, dtype=np.uint64)
                g["Attribute Value"] = xyz[cell_index.astype(int), axis]

    # Edges: post-relative destination -> pre-relative sources.
    edges = {
        ("EXC", "EXC"): {0: [1, 2], 1: [0], 2: [], 3: [4, 5, 0], 4: [3], 5: [1, 2, 3, 4]},
        ("EXC", "INH"): {0: [0, 1, 2], 2: [1], 5: [2]},
        ("INH", "EXC"): {0: [0, 5], 1: [2], 2: [3, 4]},
    }
    truth = {}
    with h5py.File(directory / "connections.h5", "w") as f:
        _upstream_types(f)
        for (post, pre), by_dest in edges.items():
            n_post = UPSTREAM_COUNTS[post]
            dests = sorted(by_dest)
            # Two blocks: [first..split) and [split..last], each a contiguous run of destinations.
            split = dests[len(dests) // 2]
            blocks = [list(range(dests[0], split)), list(range(split, dests[-1] + 1))]
            blocks = [b for b in blocks if b]
            dbi, dbp, dp, src, dist = [], [0], [0], [], []
            for b, block in enumerate(blocks):
                dbi.append(block[0])
                for d in block:
                    sources = by_dest.get(d, [])
                    src.extend(sources)
                    for s in sources:
                        a = coords[post][d, :2].astype(np.float64)
                        c = coords[pre][s, :2].astype(np.float64)
                        dist.append(np.hypot(*(a - c)))
                    dp.append(len(src))
                # NeuroH5: every block but the last points at its first destination; the last
                # block's end includes the closing sentinel of the destination pointer.
                dbp.append(len(dp) - 1 if b < len(blocks) - 1 else len(dp))
            g = f.create_group(f"Projections/{post}/{pre}/Edges")
            g["Destination Block Index"] = np.array(dbi, dtype=np.uint32)
            g["Destination Block Pointer"] = np.array(dbp, dtype=np.uint64)
            g["Destination Pointer"] = np.array(dp, dtype=np.uint64)
            g["Source Index"] = np.array(src, dtype=np.uint32)
            f[f"Projections/{post}/{pre}/Connections/distance"] = np.array(dist, dtype=np.float32)
            post_start = 0 if post == "EXC" else 6
            pre_start = 0 if pre == "EXC" else 6
            truth[(post, pre)] = sorted((s + pre_start, d + post_start) for d, ss in by_dest.items() for s in ss)
            assert n_post >= len(by_dest)
    glutamate = {"tau_rise": 0.5, "tau_decay": 3.0, "e_rev": 0.0, "g_unit": 0.0005, "weight": 1.0}
    gaba = {"tau_rise": 0.3, "tau_decay": 6.0, "e_rev": -60.0, "g_unit": 0.001, "weight": 2.0}
    graph = {
        "name": "upstream-fixture",
        "architecture": {"area": {"x": [0, 300], "y": [0, 300], "z": [0, 300]}},
        "projections": {
            "EXC": {
                "EXC": {"section": "hillock", "receptors": {"AMPA": glutamate}},
                "INH": {"section": "soma", "receptors": {"GABA_A": gaba}},
            },
            "INH": {"EXC": {"section": "hillock", "receptors": {"AMPA": glutamate}}},
        },
    }
    (directory / "graph.json").write_text(json.dumps(graph))
    return {"coords": coords, "edges": truth}


@pytest.fixture
def upstream(tmp_path):
    directory = tmp_path / "upstream"
    truth = write_upstream_system(directory, np.random.default_rng(7))
    return directory, truth


def test_upstream_layout_reads_back_exactly(upstream):
    directory, truth = upstream
    system = System(directory)
    assert system.name == "upstream-fixture"
    assert system.populations == ["EXC", "INH"]
    assert system.population_ranges == {"EXC": (0, 6), "INH": (6, 3)}
    assert system.population_kinds == {"EXC": "EXC", "INH": "INH"}
    assert system.num_neurons == 9
    np.testing.assert_array_equal(system.gids, np.arange(9))
    expected_xyz = np.concatenate([truth["coords"]["EXC"], truth["coords"]["INH"]]).astype(np.float64)
    np.testing.assert_array_equal(system.neuron_coordinates[:, 0], np.arange(9))
    np.testing.assert_array_equal(system.neuron_coordinates[:, 1:], expected_xyz)
    np.testing.assert_array_equal(system.bounding_box, [expected_xyz.min(0), expected_xyz.max(0)])

    assert set(system.projections) == set(truth["edges"])
    for key, proj in system.projections.items():
        assert (proj.post, proj.pre) == key
        pairs = sorted(zip(proj.pre_gids.tolist(), proj.post_gids.tolist(), strict=True))
        assert pairs == truth["edges"][key]
        xyz = system.neuron_coordinates[:, 1:3]
        planar = np.hypot(*(xyz[proj.pre_gids] - xyz[proj.post_gids]).T)
        np.testing.assert_allclose(proj.distances, planar, rtol=1e-6)
    assert system.projections[("EXC", "INH")].receptors["GABA_A"].weight == 2.0
    assert sorted(system.weight_names) == sorted(
        ["EXC_EXC-hillock-AMPA-weight", "EXC_INH-soma-GABA_A-weight", "INH_EXC-hillock-AMPA-weight"]
    )
    matrix = system.connectivity_matrix(dense=True)
    assert matrix.shape == (9, 9)
    assert matrix.sum() == sum(len(v) for v in truth["edges"].values())
    for pairs in truth["edges"].values():
        for pre, post in pairs:
            assert matrix[pre, post] == 1


def test_block_pointer_may_stop_before_the_sentinel(upstream):
    directory, truth = upstream
    with h5py.File(directory / "connections.h5", "a") as f:
        for post, pre in truth["edges"]:
            dbp = f[f"Projections/{post}/{pre}/Edges/Destination Block Pointer"]
            values = dbp[()]
            values[-1] -= 1  # end at the last destination instead of the sentinel
            dbp[...] = values
    system = System(directory)
    for key, proj in system.projections.items():
        assert sorted(zip(proj.pre_gids.tolist(), proj.post_gids.tolist(), strict=True)) == truth["edges"][key]


def test_upstream_system_without_mea_gets_a_grid_over_its_area(upstream):
    directory, _ = upstream
    mea = System(directory).default_io()
    assert mea.num_channels == 16  # 300 um at 100 um pitch: 4 per axis
    assert System(directory).default_model() is None


def test_own_writer_round_trips(tmp_path):
    path = generate_culture(tmp_path / "c", {"EXC": 30, "INH": 10}, area=300.0, seed=3)
    system = load(path)
    assert system.population_ranges == {"EXC": (0, 30), "INH": (30, 10)}
    for proj in system.projections.values():
        xyz = system.neuron_coordinates[:, 1:3]
        planar = np.hypot(*(xyz[proj.pre_gids] - xyz[proj.post_gids]).T)
        np.testing.assert_allclose(proj.distances, planar, rtol=1e-6)
        assert np.all(np.diff(proj.post_gids) >= 0)
    assert system.default_io().num_channels == 16  # 4 x 4 at 100 um pitch over 300 um


# ------------------------------------------------------------------------------ damaged files


def _corrupt(directory: Path, edit) -> None:
    with h5py.File(directory / "connections.h5", "a") as f:
        edit(f)


def test_missing_file_names_it(upstream):
    directory, _ = upstream
    (directory / "cells.h5").unlink()
    with pytest.raises(SystemFormatError, match=r"cells\.h5.*not found"):
        System(directory)


def test_truncated_file_names_it(upstream):
    directory, _ = upstream
    data = (directory / "cells.h5").read_bytes()
    (directory / "cells.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(SystemFormatError, match=r"cells\.h5"):
        System(directory)


def test_missing_dataset_names_path(upstream):
    directory, _ = upstream
    _corrupt(directory, lambda f: f.__delitem__("Projections/EXC/INH/Edges/Source Index"))
    system = System(directory)
    with pytest.raises(SystemFormatError, match=r"connections\.h5: /Projections/EXC/INH/Edges/Source Index: missing"):
        _ = system.projections


def test_wrong_type_names_path(upstream):
    directory, _ = upstream

    def edit(f):
        del f["Projections/INH/EXC/Edges/Source Index"]
        f["Projections/INH/EXC/Edges/Source Index"] = np.array([0.0, 5.0, 2.0, 3.0, 4.0])

    _corrupt(directory, edit)
    with pytest.raises(SystemFormatError, match=r"/Projections/INH/EXC/Edges/Source Index: wrong type float64"):
        _ = System(directory).projections


def test_inconsistent_pointers_are_rejected(upstream):
    directory, _ = upstream

    def edit(f):
        del f["Projections/EXC/EXC/Edges/Source Index"]
        f["Projections/EXC/EXC/Edges/Source Index"] = np.array([1, 2, 0], dtype=np.uint32)

    _corrupt(directory, edit)
    with pytest.raises(SystemFormatError, match=r"Destination Pointer"):
        _ = System(directory).projections


def test_out_of_range_source_is_rejected(upstream):
    directory, _ = upstream

    def edit(f):
        data = f["Projections/EXC/INH/Edges/Source Index"][()]
        data[0] = 3  # INH has 3 cells: 0..2
        f["Projections/EXC/INH/Edges/Source Index"][...] = data

    _corrupt(directory, edit)
    with pytest.raises(SystemFormatError, match=r"Source Index: sources outside 0..2"):
        _ = System(directory).projections


def test_missing_coordinates_name_path(upstream):
    directory, _ = upstream
    with h5py.File(directory / "cells.h5", "a") as f:
        del f["Populations/INH/Generated Coordinates/Y Coordinate/Attribute Value"]
    with pytest.raises(SystemFormatError, match=r"/Populations/INH/Generated Coordinates/Y Coordinate/Attribute Value"):
        System(directory)


def test_bad_graph_json(upstream):
    directory, _ = upstream
    (directory / "graph.json").write_text('{"projections": {')
    with pytest.raises(SystemFormatError, match=r"graph\.json: not valid JSON"):
        System(directory)


def test_projection_without_configuration(upstream):
    directory, _ = upstream
    graph = json.loads((directory / "graph.json").read_text())
    del graph["projections"]["INH"]
    (directory / "graph.json").write_text(json.dumps(graph))
    with pytest.raises(SystemFormatError, match=r"graph\.json: projections/INH/EXC: missing"):
        _ = System(directory).projections


def test_receptor_missing_field(upstream):
    directory, _ = upstream
    graph = json.loads((directory / "graph.json").read_text())
    del graph["projections"]["EXC"]["INH"]["receptors"]["GABA_A"]["tau_decay"]
    (directory / "graph.json").write_text(json.dumps(graph))
    with pytest.raises(SystemFormatError, match=r"projections/EXC/INH/receptors/GABA_A/tau_decay: missing"):
        _ = System(directory).projections


def test_population_label_missing(upstream):
    directory, _ = upstream
    with h5py.File(directory / "cells.h5", "a") as f:
        rows = f["H5Types/Populations"][()]
        plain = np.zeros(2, dtype=[("Start", "<u8"), ("Count", "<u4"), ("Population", "<u2")])
        for name in ("Start", "Count", "Population"):
            plain[name] = rows[name]
        del f["H5Types/Populations"]
        del f["H5Types/Population labels"]
        f["H5Types/Populations"] = plain
    with pytest.raises(SystemFormatError, match=r"/H5Types/Populations: .*not an enum"):
        System(directory)


def test_model_json_names_a_model_never_code(upstream):
    directory, _ = upstream
    (directory / "model.json").write_text(json.dumps({"model": "rcsd"}))
    assert System(directory).default_model() == "rcsd"
    (directory / "model.json").write_text(json.dumps({"model": "os:system('echo hi')"}))
    with pytest.raises(SystemFormatError, match=r"model\.json: model: .* not a model name"):
        System(directory).default_model()


def test_params_json_must_be_numbers(upstream):
    directory, _ = upstream
    (directory / "params.json").write_text(json.dumps({"EXC_EXC-hillock-AMPA-weight": 0.5}))
    assert System(directory).tuned_parameters() == {"EXC_EXC-hillock-AMPA-weight": 0.5}
    (directory / "params.json").write_text(json.dumps({"x": "__import__('os')"}))
    with pytest.raises(SystemFormatError, match=r"params\.json: x: expected a finite number"):
        System(directory).tuned_parameters()


def test_no_pickles_are_read(upstream, monkeypatch):
    import pickle

    directory, _ = upstream

    def forbidden(*args, **kwargs):
        raise AssertionError("loading a system must never unpickle")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    system = System(directory)
    assert system.projections


# ---------------------------------------------------------------------------- names and misc


def test_unknown_name_lists_predefined():
    with pytest.raises(KeyError) as info:
        load("EI9")
    for name in PREDEFINED:
        assert name in str(info.value)


def test_missing_directory_is_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nowhere")


def test_parallel_system_int_and_mapping():
    system = ParallelSystem(64)
    assert system.num_neurons == 64
    assert system.populations == ["EXC"]
    assert system.projections == {}
    assert system.weight_names == []
    assert system.connectivity_matrix().nnz == 0
    assert system.neuron_coordinates.shape == (64, 4)
    assert np.unique(system.neuron_coordinates[:, 1:3], axis=0).shape[0] == 64

    mixed = ParallelSystem({"EXC": 8, "INH": 2})
    assert mixed.population_ranges == {"EXC": (0, 8), "INH": (8, 2)}
    assert mixed.population_kinds == {"EXC": "EXC", "INH": "INH"}
    assert mixed.default_io().num_channels >= 1


def test_parallel_system_coordinates_checked():
    xyz = np.arange(12.0).reshape(4, 3)
    system = ParallelSystem(4, coordinates=xyz)
    np.testing.assert_array_equal(system.neuron_coordinates[:, 1:], xyz)
    with pytest.raises(ValueError, match=r"coordinates must be \[4, 3\]"):
        ParallelSystem(4, coordinates=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="count >= 0"):
        ParallelSystem({"EXC": -1})


def test_population_helpers(upstream):
    directory, _ = upstream
    system = System(directory)
    assert system.population_count("INH") == 3
    assert list(system.population_of([0, 5, 6, 8])) == ["EXC", "EXC", "INH", "INH"]
    with pytest.raises(KeyError, match="has no population 'X'"):
        system.population_count("X")
    np.testing.assert_array_equal(system.in_degrees("EXC", "EXC"), [2, 1, 0, 3, 1, 4])


def test_delays_follow_the_convention(upstream):
    directory, _ = upstream
    proj = System(directory).projections[("EXC", "EXC")]
    delays = proj.delays(dt=0.1)
    np.testing.assert_allclose(delays, np.maximum(proj.distances / 250.0, 0.2), rtol=1e-6)


def test_copy_of_a_system_is_still_data(upstream, tmp_path):
    directory, truth = upstream
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    assert System(copy).num_neurons == 9


def test_graph_counts_must_agree_with_the_cells_file(upstream):
    directory, _ = upstream
    graph = json.loads((directory / "graph.json").read_text())
    graph["architecture"]["populations"] = {"EXC": {"count": 7, "kind": "EXC"}}
    (directory / "graph.json").write_text(json.dumps(graph))
    with pytest.raises(SystemFormatError, match=r"architecture/populations/EXC/count: 7 disagrees"):
        System(directory)
    graph["architecture"] = ["not", "an", "object"]
    (directory / "graph.json").write_text(json.dumps(graph))
    with pytest.raises(SystemFormatError, match=r"graph\.json: architecture: expected an object"):
        System(directory)


def test_population_kind_from_graph(upstream):
    directory, _ = upstream
    graph = json.loads((directory / "graph.json").read_text())
    graph["architecture"]["populations"] = {"EXC": {"kind": "INH"}}
    (directory / "graph.json").write_text(json.dumps(graph))
    assert System(directory).population_kinds == {"EXC": "INH", "INH": "INH"}
    graph["architecture"]["populations"] = {"EXC": {"kind": "GLIA"}}
    (directory / "graph.json").write_text(json.dumps(graph))
    with pytest.raises(SystemFormatError, match="GLIA"):
        System(directory)


def _swap_blocks(directory: Path, post: str, pre: str) -> None:
    """Rewrite a projection with its two destination blocks in reverse order (legal NeuroH5)."""
    with h5py.File(directory / "connections.h5", "a") as f:
        g = f[f"Projections/{post}/{pre}/Edges"]
        dbi, dbp = g["Destination Block Index"][()], g["Destination Block Pointer"][()].astype(np.int64)
        dp, src = g["Destination Pointer"][()].astype(np.int64), g["Source Index"][()]
        dist = f[f"Projections/{post}/{pre}/Connections/distance"][()]
        assert dbi.shape == (2,)
        n_dest = dp.shape[0] - 1
        blocks = [(int(dbi[b]), int(dbp[b]), min(int(dbp[b + 1]), n_dest)) for b in range(2)]
        new_dbi, new_dbp, new_dp, new_src, new_dist = [], [0], [0], [], []
        for first, lo, hi in reversed(blocks):
            new_dbi.append(first)
            for d in range(lo, hi):
                new_src.extend(src[dp[d] : dp[d + 1]].tolist())
                new_dist.extend(dist[dp[d] : dp[d + 1]].tolist())
                new_dp.append(len(new_src))
            new_dbp.append(len(new_dp) - 1)
        new_dbp[-1] = len(new_dp)
        for name, values, dtype in (
            ("Destination Block Index", new_dbi, np.uint32),
            ("Destination Block Pointer", new_dbp, np.uint64),
            ("Destination Pointer", new_dp, np.uint64),
            ("Source Index", new_src, np.uint32),
        ):
            del g[name]
            g[name] = np.array(values, dtype=dtype)
        del f[f"Projections/{post}/{pre}/Connections/distance"]
        f[f"Projections/{post}/{pre}/Connections/distance"] = np.array(new_dist, dtype=np.float32)


def _check_partitions(directory: Path, size: int) -> None:
    whole = System(directory)
    parts = [System(directory).partition(rank, size) for rank in range(size)]
    assert all(part.weight_names == whole.weight_names for part in parts)
    assert all(part.default_weights == whole.default_weights for part in parts)
    for key, proj in whole.projections.items():
        assert np.all(np.diff(proj.post_gids) >= 0)
        held = [part.local_projections[key] for part in parts]
        for rank, local in enumerate(held):
            assert local.total_connections == proj.num_connections
            assert np.all(local.post_gids % size == rank)
            # each held edge is the whole projection's edge at its position
            np.testing.assert_array_equal(proj.pre_gids[local.positions], local.pre_gids)
            np.testing.assert_array_equal(proj.post_gids[local.positions], local.post_gids)
            np.testing.assert_array_equal(proj.distances[local.positions], local.distances)
        positions = np.sort(np.concatenate([local.positions for local in held]))
        np.testing.assert_array_equal(positions, np.arange(proj.num_connections))


@pytest.mark.parametrize("size", [1, 2, 3])
def test_partitions_hold_each_edge_once_at_its_position(upstream, size):
    directory, _ = upstream
    _check_partitions(directory, size)


def test_partitions_of_out_of_order_blocks(upstream):
    directory, truth = upstream
    _swap_blocks(directory, "EXC", "EXC")
    system = System(directory)
    pairs = sorted(zip(*(system.projections[("EXC", "EXC")].pre_gids.tolist(),
                         system.projections[("EXC", "EXC")].post_gids.tolist()), strict=True))
    assert pairs == truth["edges"][("EXC", "EXC")]
    _check_partitions(directory, 2)


def test_partitioned_reads_in_chunks(tmp_path, monkeypatch):
    from livn.system import _neuroh5, generate_culture

    directory = generate_culture(tmp_path / "c", {"EXC": 160, "INH": 40}, area=400.0, seed=3, in_degree=20.0)
    monkeypatch.setattr(_neuroh5, "_CHUNK_EDGES", 7)  # many chunks, destinations never split
    _check_partitions(directory, 3)


def test_partition_is_checked(upstream):
    directory, _ = upstream
    for bad in [(2, 2), (-1, 2), (0, 0)]:
        with pytest.raises(ValueError, match="partition must be"):
            System(directory, partition=bad)
