"""The culture generator, the predefined systems EI1..EI6 and their cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import livn.system
import numpy as np
import pytest
from livn.system import PREDEFINED, System, SystemFormatError, generate_culture, load, predefined, split_counts
from livn.system._cache import MANIFEST_FILE, cache_dir, verify_entry

EXPECTED_WEIGHTS = {
    "EXC_EXC-hillock-AMPA-weight",
    "EXC_EXC-hillock-NMDA-weight",
    "INH_EXC-hillock-AMPA-weight",
    "INH_EXC-hillock-NMDA-weight",
    "EXC_INH-soma-GABA_A-weight",
    "INH_INH-soma-GABA_A-weight",
}


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("livn-cache")


def _system(name: str, cache: Path) -> System:
    return System(predefined(name, cache_dir=cache), name=name)


# ------------------------------------------------------------------------------------ counts


def test_split_counts_largest_remainder():
    assert split_counts(10, {"EXC": 0.8, "INH": 0.2}) == {"EXC": 8, "INH": 2}
    assert split_counts(10, {"A": 1.0, "B": 1.0, "C": 1.0}) == {"A": 4, "B": 3, "C": 3}
    assert split_counts(7, {"A": 0.5, "B": 0.25, "C": 0.25}) == {"A": 3, "B": 2, "C": 2}
    assert split_counts(10, {"A": 4, "B": 1.0}) == {"A": 4, "B": 6}
    assert sum(split_counts(1001, {"E": 0.8, "I": 0.2}).values()) == 1001
    with pytest.raises(ValueError, match="exceed"):
        split_counts(5, {"A": 6, "B": 0.5})


@pytest.mark.parametrize(
    ("name", "exc", "inh", "side", "electrodes"),
    [("EI1", 8, 2, 40, 1), ("EI2", 80, 20, 400, 16), ("EI3", 800, 200, 1000, 64)],
)
def test_predefined_matches_the_table(name, exc, inh, side, electrodes, shared_cache):
    system = _system(name, shared_cache)
    assert system.name == name
    assert system.population_ranges == {"EXC": (0, exc), "INH": (exc, inh)}
    assert system.population_kinds == {"EXC": "EXC", "INH": "INH"}
    np.testing.assert_array_equal(system.area[:2], [[0, side], [0, side]])
    xyz = system.neuron_coordinates[:, 1:]
    assert np.all((xyz[:, :2] >= 0) & (xyz[:, :2] <= side))
    assert np.all((xyz[:, 2] >= 0) & (xyz[:, 2] <= 10))
    mea = system.default_io()
    assert mea.num_channels == electrodes
    pitch = np.diff(np.unique(mea.electrode_coordinates[:, 1]))
    assert np.allclose(pitch, 100.0)
    # The grid is centred in the area.
    np.testing.assert_allclose(mea.electrode_coordinates[:, 1:3].mean(axis=0), [side / 2, side / 2])
    assert set(system.weight_names) == EXPECTED_WEIGHTS
    assert system.default_model() is None
    definition = PREDEFINED[name]
    assert definition.num_neurons == exc + inh
    assert definition.num_electrodes == electrodes


def test_receptor_configuration(shared_cache):
    system = _system("EI2", shared_cache)
    exc_exc = system.projections[("EXC", "EXC")]
    assert exc_exc.section == "hillock"
    assert set(exc_exc.receptors) == {"AMPA", "NMDA"}
    ampa, nmda = exc_exc.receptors["AMPA"], exc_exc.receptors["NMDA"]
    assert (ampa.tau_rise, ampa.tau_decay, ampa.e_rev, ampa.g_unit) == (0.5, 3.0, 0.0, 0.0005)
    assert (nmda.tau_rise, nmda.tau_decay, nmda.e_rev) == (0.5, 80.0, 0.0)
    gaba = system.projections[("INH", "INH")]
    assert gaba.section == "soma"
    receptor = gaba.receptors["GABA_A"]
    assert (receptor.tau_rise, receptor.tau_decay, receptor.e_rev, receptor.g_unit) == (0.3, 6.0, -60.0, 0.001)
    assert system.projections[("INH", "EXC")].section == "hillock"
    assert system.projections[("EXC", "INH")].section == "soma"


def test_small_systems_are_capped_by_available_cells(shared_cache):
    system = _system("EI1", shared_cache)
    # 8 EXC and 2 INH: every available pair is connected, never a cell onto itself.
    np.testing.assert_array_equal(system.in_degrees("EXC", "EXC"), np.full(8, 7))
    np.testing.assert_array_equal(system.in_degrees("EXC", "INH"), np.full(8, 2))
    np.testing.assert_array_equal(system.in_degrees("INH", "EXC"), np.full(2, 8))
    np.testing.assert_array_equal(system.in_degrees("INH", "INH"), np.full(2, 1))
    for proj in system.projections.values():
        assert not np.any(proj.pre_gids == proj.post_gids)


def _check_in_degrees(system: System) -> None:
    for post in ("EXC", "INH"):
        for pre, target in (("EXC", 80.0), ("INH", 20.0)):
            mean = system.in_degrees(post, pre).mean()
            assert abs(mean - target) <= 0.05 * target, (post, pre, mean)


def test_ei3_in_degree_within_5_percent(shared_cache):
    system = _system("EI3", shared_cache)
    _check_in_degrees(system)
    for proj in system.projections.values():
        assert not np.any(proj.pre_gids == proj.post_gids)
        pairs = proj.pre_gids * system.num_neurons + proj.post_gids
        assert np.unique(pairs).shape[0] == pairs.shape[0]


def test_ei4_in_degree_within_5_percent(shared_cache):
    system = _system("EI4", shared_cache)
    assert system.population_ranges == {"EXC": (0, 8000), "INH": (8000, 2000)}
    assert system.default_io().num_channels == 1024
    np.testing.assert_array_equal(system.area[:2], [[0, 4000], [0, 4000]])
    _check_in_degrees(system)


@pytest.mark.parametrize("name, n", [("EI5", 100_000), ("EI6", 1_000_000)])
def test_large_cultures_keep_ei4s_rules(name, n):
    from livn.io import electrode_array_coordinates_for_area
    from livn.system import DENSE_MAX_CELLS, GRID_VERSION

    ei4, definition = PREDEFINED["EI4"], PREDEFINED[name]
    assert definition.counts == {"EXC": n * 4 // 5, "INH": n // 5}
    density = definition.num_neurons / definition.side**2
    assert density == pytest.approx(ei4.num_neurons / ei4.side**2, rel=1e-3)
    assert (definition.sigma, definition.in_degree, definition.kernel) == (ei4.sigma, ei4.in_degree, ei4.kernel)
    assert definition.z_range == ei4.z_range
    electrodes = electrode_array_coordinates_for_area(definition.mea_pitch, definition.side)
    assert electrodes.shape[0] == definition.num_electrodes == 4096
    # drawn by the grid generator, whose version keys the cache (EI1-EI4 keep their keys)
    assert n > DENSE_MAX_CELLS and definition.version.endswith(f"grid{GRID_VERSION}")
    assert all("grid" not in PREDEFINED[f"EI{k}"].version for k in range(1, 5))
    # and every model's tuned defaults for EI4 (same density and in-degree)
    from livn import plugins

    for model in plugins.models().values():
        assert model.weight_defaults(name) == model.weight_defaults("EI4"), model.name
        assert model.noise_defaults(name) == model.noise_defaults("EI4"), model.name


def test_ei5_in_degree_within_5_percent(shared_cache):
    system = _system("EI5", shared_cache)
    assert system.population_ranges == {"EXC": (0, 80_000), "INH": (80_000, 20_000)}
    assert system.graph["generator"]["method"] == "grid"
    mea = system.default_io()
    assert mea.num_channels == 4096
    assert np.allclose(np.diff(np.unique(mea.electrode_coordinates[:, 1])), 200.0)
    _check_in_degrees(system)


# ------------------------------------------------------------------------------ the generator


def _arrays(path: Path) -> dict[str, np.ndarray]:
    system = System(path)
    out = {"coordinates": system.neuron_coordinates}
    for (post, pre), proj in system.projections.items():
        out[f"{post}/{pre}/pre"] = proj.pre_gids
        out[f"{post}/{pre}/post"] = proj.post_gids
        out[f"{post}/{pre}/distance"] = proj.distances
    return out


def test_generation_is_deterministic(tmp_path):
    kwargs = dict(area=600.0, seed=11, in_degree=40)
    first = _arrays(generate_culture(tmp_path / "a", {"EXC": 160, "INH": 40}, **kwargs))
    second = _arrays(generate_culture(tmp_path / "b", {"EXC": 160, "INH": 40}, **kwargs))
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    for name in ("cells.h5", "connections.h5", "mea.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_seeds_change_the_culture(tmp_path):
    a = _arrays(generate_culture(tmp_path / "a", {"EXC": 80, "INH": 20}, area=600.0, seed=1, in_degree=30))
    b = _arrays(generate_culture(tmp_path / "b", {"EXC": 80, "INH": 20}, area=600.0, seed=2, in_degree=30))
    assert not np.array_equal(a["coordinates"], b["coordinates"])


def test_connections_prefer_near_cells(tmp_path):
    path = generate_culture(tmp_path / "g", {"EXC": 400}, area=2000.0, seed=5, in_degree=20, sigma=150.0)
    system = System(path)
    proj = system.projections[("EXC", "EXC")]
    xy = system.neuron_coordinates[:, 1:3]
    all_pairs = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    assert proj.distances.mean() < 0.5 * all_pairs[np.triu_indices(400, 1)].mean()
    assert abs(system.in_degrees("EXC", "EXC").mean() - 20) < 1.5


def test_exponential_kernel_and_explicit_degrees(tmp_path):
    path = generate_culture(
        tmp_path / "x",
        {"EXC": 300, "INH": 100},
        area=1500.0,
        kernel="exponential",
        sigma=100.0,
        in_degree={("EXC", "EXC"): 30, ("INH", "EXC"): 10},
        seed=4,
    )
    system = System(path)
    assert set(system.projections) == {("EXC", "EXC"), ("INH", "EXC")}
    assert abs(system.in_degrees("EXC", "EXC").mean() - 30) < 1.5
    assert abs(system.in_degrees("INH", "EXC").mean() - 10) < 1.0
    assert json.loads((path / "graph.json").read_text())["generator"]["kernel"] == "exponential"


def test_cutoff_drops_unlikely_pairs_and_keeps_the_degree(tmp_path):
    common = dict(area=2000.0, seed=8, in_degree=20, sigma=200.0)
    free = System(generate_culture(tmp_path / "free", {"EXC": 500}, **common)).projections[("EXC", "EXC")]
    cut = System(generate_culture(tmp_path / "cut", {"EXC": 500}, cutoff=0.1, **common)).projections[("EXC", "EXC")]
    assert cut.distances.max() < free.distances.max()
    assert abs(cut.num_connections / 500 - 20) < 1.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(kernel="box"), "unknown kernel"),
        (dict(sigma=-1.0), "sigma"),
        (dict(cutoff=2.0), "cutoff"),
        (dict(seed=-3), "seed"),
        (dict(area=[[0, 10], [5, 1]]), "area"),
    ],
)
def test_generator_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_culture(tmp_path / "bad", {"EXC": 10}, **kwargs)


def test_population_kind_is_required_for_unusual_names(tmp_path):
    with pytest.raises(ValueError, match="give its kind"):
        generate_culture(tmp_path / "k", {"PYR": 10})
    path = generate_culture(tmp_path / "k", {"PYR": 10}, kinds={"PYR": "EXC"}, area=100.0)
    assert System(path).population_kinds == {"PYR": "EXC"}


# ------------------------------------------------------------------------------------ the cache


def test_cache_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVN_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("LIVN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "livn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "livn"


def test_load_uses_the_cache_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVN_CACHE_DIR", str(tmp_path))
    system = load("EI1")
    assert system.name == "EI1"
    assert Path(system.directory).parent == tmp_path / "systems"
    assert (system.directory / MANIFEST_FILE).is_file()
    assert load("ei1").directory == system.directory
    assert not [p for p in (tmp_path / "systems").iterdir() if p.name.startswith(".tmp")]


def test_corrupt_entry_is_rebuilt(tmp_path):
    path = predefined("EI2", cache_dir=tmp_path)
    good = _arrays(path)
    data = bytearray((path / "connections.h5").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / "connections.h5").write_bytes(bytes(data))
    livn.system._cache._verified.clear()  # as a fresh process would
    rebuilt = predefined("EI2", cache_dir=tmp_path)
    assert rebuilt == path
    after = _arrays(rebuilt)
    for key in good:
        np.testing.assert_array_equal(good[key], after[key])


def test_truncated_or_foreign_entries_are_rebuilt(tmp_path):
    path = predefined("EI1", cache_dir=tmp_path)
    (path / "cells.h5").write_bytes(b"")
    livn.system._cache._verified.clear()
    assert System(predefined("EI1", cache_dir=tmp_path)).num_neurons == 10

    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest["description"]["version"] = "g-1"
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    livn.system._cache._verified.clear()
    path = predefined("EI1", cache_dir=tmp_path)
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    assert manifest["description"]["version"] == f"g{livn.system.GENERATOR_VERSION}"

    (path / MANIFEST_FILE).unlink()
    livn.system._cache._verified.clear()
    path = predefined("EI1", cache_dir=tmp_path)
    assert (path / MANIFEST_FILE).is_file()


def test_cached_entry_is_identical_to_a_fresh_generation(tmp_path):
    cached = _arrays(predefined("EI2", cache_dir=tmp_path / "cache"))
    fresh = _arrays(PREDEFINED["EI2"].generate(tmp_path / "fresh"))
    for key in cached:
        np.testing.assert_array_equal(cached[key], fresh[key])


_CONCURRENT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import livn.system._predefined as pre

    log, start, cache = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    original = pre.CultureDefinition.generate

    def logged(self, directory):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\\n")
        return original(self, directory)

    pre.CultureDefinition.generate = logged
    while not start.exists():
        time.sleep(0.005)
    path = pre.predefined("EI3", cache_dir=cache)
    print(path)
    """
)


def test_concurrent_processes_build_once(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_CONCURRENT)
    log, start = tmp_path / "builds.log", tmp_path / "go"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(log), str(start), str(tmp_path / "cache")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    start.touch()
    results = [w.communicate(timeout=240) for w in workers]
    for worker, (_, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err
    paths = {out.strip() for out, _ in results}
    assert len(paths) == 1
    assert len(log.read_text().split()) == 1
    entry = Path(paths.pop())
    assert verify_entry(entry, json.loads((entry / MANIFEST_FILE).read_text())["description"]) is None
    assert System(entry).num_neurons == 1000
    leftovers = [p.name for p in entry.parent.iterdir() if p.name.startswith((".tmp", ".trash"))]
    assert leftovers == []


def test_failed_build_leaves_nothing_behind(tmp_path):
    from livn.system._cache import cached_build

    def broken(directory: Path) -> None:
        (directory / "half.h5").write_bytes(b"partial")
        raise RuntimeError("generator crashed")

    with pytest.raises(RuntimeError, match="generator crashed"):
        cached_build("X", {"v": 1}, broken, root=tmp_path)
    assert sorted(p.name for p in (tmp_path / "systems").iterdir()) == ["X.lock"]

    def good(directory: Path) -> None:
        (directory / "data.bin").write_bytes(b"ok")

    entry = cached_build("X", {"v": 1}, good, root=tmp_path)
    assert (entry / "data.bin").read_bytes() == b"ok"


def test_leftovers_of_a_killed_builder_are_removed(tmp_path):
    from livn.system._cache import cached_build

    systems = tmp_path / "systems"
    systems.mkdir()
    (systems / ".tmp-Y-abandoned").mkdir()
    (systems / ".tmp-Y-abandoned" / "cells.h5").write_bytes(b"half")
    (systems / ".tmp-Z-other").mkdir()  # another key's build may still be running: untouched
    cached_build("Y", {"v": 1}, lambda d: (d / "f").write_text("x"), root=tmp_path)
    names = sorted(p.name for p in systems.iterdir())
    assert ".tmp-Y-abandoned" not in names
    assert ".tmp-Z-other" in names


def test_unusable_cache_directory_says_what_to_set(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("LIVN_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(OSError, match="LIVN_CACHE_DIR"):
        predefined("EI1")


class _ToyDefinition:
    """A third-party system definition, as a plugin would register through ``livn_systems``."""

    name = "TOY"
    description = "two populations on 200 um"
    version = "1.0"

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, directory: Path) -> None:
        self.calls += 1
        generate_culture(directory, {"EXC": 12, "INH": 4}, area=200.0, seed=9, name=self.name)


def test_plugin_registered_systems_load_by_name(monkeypatch, tmp_path):
    import livn.system._predefined as pre

    toy = _ToyDefinition()
    monkeypatch.setattr(pre, "_registered", lambda: {"TOY": toy, **PREDEFINED})
    monkeypatch.setenv("LIVN_CACHE_DIR", str(tmp_path))
    assert "TOY" in livn.system.predefined_names()
    system = load("TOY")
    assert system.name == "TOY" and system.num_neurons == 16
    assert system.directory.name == "TOY-1.0"
    load("toy")
    assert toy.calls == 1


def test_predefined_name_wins_over_a_directory_of_that_name(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIVN_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "EI1").mkdir()
    assert load("EI1").num_neurons == 10
    with pytest.raises(SystemFormatError, match="graph.json"):
        load("./EI1")


def test_generator_refuses_to_mix_with_existing_files(tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        generate_culture(target, {"EXC": 10}, area=100.0)
    generate_culture(target, {"EXC": 10}, area=100.0, overwrite=True)
    assert System(target).num_neurons == 10


@pytest.mark.parametrize("kernel", ["gaussian", "exponential"])
@pytest.mark.parametrize("seed", [21, 22])
def test_connection_probability_follows_the_kernel(tmp_path, kernel, seed):
    """Connected pairs per unit kernel weight are the same at every distance (p = A w, unclipped)."""
    from livn.system._generate import connection_kernel

    sigma = 150.0
    system = System(
        generate_culture(tmp_path / "k", {"EXC": 600}, area=2000.0, kernel=kernel, sigma=sigma, in_degree=15, seed=seed)
    )
    proj = system.projections[("EXC", "EXC")]
    xy = system.neuron_coordinates[:, 1:3]
    distance = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    off_diagonal = ~np.eye(600, dtype=bool)
    weight = connection_kernel(distance, kernel, sigma)
    # The wrong kernel (Gaussian vs exponential at this sigma) is off by > 30% in some bin.
    edges = np.array([0.0, 100.0, 200.0, 300.0, 400.0])
    ratios = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        in_bin = off_diagonal & (distance >= low) & (distance < high)
        expected_weight = weight[in_bin].sum()
        connected = np.count_nonzero((proj.distances >= low) & (proj.distances < high))
        assert connected > 500  # standard error per bin < 4.5%
        ratios.append(connected / expected_weight)
    ratios = np.array(ratios)
    assert np.all(np.abs(ratios / ratios.mean() - 1) < 0.2), ratios
