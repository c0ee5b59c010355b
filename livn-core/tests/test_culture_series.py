"""The predefined E/I series E, E5I, E3I, EI and their replicates ``*_b`` (one architecture, four make-ups)."""

from __future__ import annotations

import math
from pathlib import Path

import livn.system
import numpy as np
import pytest
from livn.system import PREDEFINED, System
from livn.system._predefined import _cache_key, _description

#: name -> (EXC cells, INH cells) of the series; each has a replicate ``<name>_b``.
SERIES = {"E": (2600, 0), "E5I": (2167, 433), "E3I": (1950, 650), "EI": (2080, 520)}
#: Target mean in-degree of each projection, keyed (post, pre).
IN_DEGREE = {("EXC", "EXC"): 20.0, ("INH", "EXC"): 4.0, ("EXC", "INH"): 40.0, ("INH", "INH"): 4.0}
WIDTH, HEIGHT = 1600.0, 3200.0  # um

#: ``as_dict()`` of EI1..EI6, copied from the definitions before the series existed: their cache
#: descriptions, and so their cache entries, must not change.
EI_AS_DICT = {
    "EI1": {
        "counts": {"EXC": 8, "INH": 2},
        "side": 40.0,
        "num_electrodes": 1,
        "mea_pitch": 100.0,
        "seed": 20251128,
        "description": "10-neuron 2D culture (80% EXC, 20% INH) on 40 x 40 um, 1 electrodes",
    },
    "EI2": {
        "counts": {"EXC": 80, "INH": 20},
        "side": 400.0,
        "num_electrodes": 16,
        "mea_pitch": 100.0,
        "seed": 20251129,
        "description": "100-neuron 2D culture (80% EXC, 20% INH) on 400 x 400 um, 16 electrodes",
    },
    "EI3": {
        "counts": {"EXC": 800, "INH": 200},
        "side": 1000.0,
        "num_electrodes": 64,
        "mea_pitch": 100.0,
        "seed": 20251130,
        "description": "1000-neuron 2D culture (80% EXC, 20% INH) on 1000 x 1000 um, 64 electrodes",
    },
    "EI4": {
        "counts": {"EXC": 8000, "INH": 2000},
        "side": 4000.0,
        "num_electrodes": 1024,
        "mea_pitch": 100.0,
        "seed": 20251131,
        "description": "10000-neuron 2D culture (80% EXC, 20% INH) on 4000 x 4000 um, 1024 electrodes",
    },
    "EI5": {
        "counts": {"EXC": 80000, "INH": 20000},
        "side": 12649.0,
        "num_electrodes": 4096,
        "mea_pitch": 200.0,
        "seed": 20251132,
        "description": "100000-neuron 2D culture (80% EXC, 20% INH) on 12649 x 12649 um, 4096 electrodes",
    },
    "EI6": {
        "counts": {"EXC": 800000, "INH": 200000},
        "side": 40000.0,
        "num_electrodes": 4096,
        "mea_pitch": 625.0,
        "seed": 20251133,
        "description": "1000000-neuron 2D culture (80% EXC, 20% INH) on 40000 x 40000 um, 4096 electrodes",
    },
}
EI_COMMON = {"sigma": 200.0, "kernel": "gaussian", "in_degree": 100.0, "cutoff": None, "z_range": [0.0, 10.0]}
EI_VERSIONS = {"EI1": "g3", "EI2": "g3", "EI3": "g3", "EI4": "g3", "EI5": "g3-grid1", "EI6": "g3-grid1"}


def _names() -> list[str]:
    return [*SERIES, *(f"{name}_b" for name in SERIES)]


@pytest.fixture(scope="module")
def series_cache(tmp_path_factory) -> Path:
    """A fresh cache that ``livn.system.load`` uses for this module (the series are generated here)."""
    root = tmp_path_factory.mktemp("series-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIVN_CACHE_DIR", str(root))
        yield root


@pytest.fixture(scope="module")
def loaded(series_cache) -> dict[str, System]:
    return {name: livn.system.load(name) for name in ("E", "E_b", "E3I", "E3I_b")}


# ------------------------------------------------------------------------------- definitions


def test_every_series_name_and_replicate_is_predefined():
    names = livn.system.predefined_names()
    for name in _names():
        assert name in names
        assert name in PREDEFINED
    assert names[:6] == [f"EI{k}" for k in range(1, 7)]


@pytest.mark.parametrize("name", _names())
def test_series_definitions_share_one_architecture(name):
    definition = PREDEFINED[name]
    base = name.removesuffix("_b")
    exc, inh = SERIES[base]
    assert definition.counts == ({"EXC": exc, "INH": inh} if inh else {"EXC": exc})
    assert definition.num_neurons == 2600
    assert definition.area == ((0.0, WIDTH), (0.0, HEIGHT))
    assert (definition.kernel, definition.sigma, definition.z_range) == ("exponential", 600.0, (0.0, 10.0))
    expected = {pair: d for pair, d in IN_DEGREE.items() if inh or pair == ("EXC", "EXC")}
    assert dict(definition.in_degree) == expected
    assert (definition.mea_pitch, definition.num_electrodes) == (200.0, 128)
    assert definition.version == "g3"
    for text in (f"{exc} EXC", "1600 x 3200 um", "exponential", "600 um", "EXC->EXC 20"):
        assert text in definition.description, (text, definition.description)
    if inh:
        assert f"{inh} INH" in definition.description
        assert "INH->EXC 40" in definition.description


def test_replicates_differ_only_in_their_seed():
    seeds = {PREDEFINED[name].seed for name in _names()} | {PREDEFINED[f"EI{k}"].seed for k in range(1, 7)}
    assert len(seeds) == len(SERIES) * 2 + 6
    for base in SERIES:
        original, replicate = PREDEFINED[base].as_dict(), PREDEFINED[f"{base}_b"].as_dict()
        assert original["name"] != replicate["name"]
        assert replicate["description"].startswith(original["description"])
        for data in (original, replicate):
            del data["name"], data["seed"], data["description"]
        assert original == replicate


def test_series_descriptions_are_json_with_the_rectangle():
    data = PREDEFINED["E3I"].as_dict()
    assert data["height"] == HEIGHT
    assert data["in_degree"] == {"EXC": {"EXC": 20.0, "INH": 40.0}, "INH": {"EXC": 4.0, "INH": 4.0}}
    assert _description(PREDEFINED["E3I"])["definition"] == data
    assert _cache_key(PREDEFINED["E3I_b"]) == "E3I_b-g3"


@pytest.mark.parametrize("name", list(EI_AS_DICT))
def test_ei_definitions_are_unchanged(name):
    definition = PREDEFINED[name]
    assert definition.as_dict() == {"name": name, **EI_AS_DICT[name], **EI_COMMON}
    assert "height" not in definition.as_dict()
    assert definition.height is None
    side = EI_AS_DICT[name]["side"]
    assert definition.area == ((0.0, side), (0.0, side))
    assert _cache_key(definition) == f"{name}-{EI_VERSIONS[name]}"


# ---------------------------------------------------------------------------- generated systems


def test_generation_takes_seconds(tmp_path):
    import time

    start = time.perf_counter()
    path = PREDEFINED["E5I"].generate(tmp_path / "E5I")
    elapsed = time.perf_counter() - start
    assert elapsed < 30.0, f"generating E5I took {elapsed:.1f} s"
    assert System(path).population_ranges == {"EXC": (0, 2167), "INH": (2167, 433)}


def test_counts_and_kinds(loaded):
    assert loaded["E"].population_ranges == {"EXC": (0, 2600)}
    assert loaded["E"].population_kinds == {"EXC": "EXC"}
    assert set(loaded["E"].projections) == {("EXC", "EXC")}
    assert loaded["E3I"].population_ranges == {"EXC": (0, 1950), "INH": (1950, 650)}
    assert loaded["E3I"].population_kinds == {"EXC": "EXC", "INH": "INH"}
    assert set(loaded["E3I"].projections) == set(IN_DEGREE)
    for name, system in loaded.items():
        assert system.name == name
        assert system.num_neurons == 2600


def test_loaded_from_the_cache(loaded, series_cache):
    for name, system in loaded.items():
        assert Path(system.directory) == series_cache / "systems" / f"{name}-g3"


def test_positions_lie_in_the_rectangle(loaded):
    for system in loaded.values():
        np.testing.assert_array_equal(system.area, [[0, WIDTH], [0, HEIGHT], [0, 10]])
        xyz = system.neuron_coordinates[:, 1:]
        assert np.all((xyz[:, 0] >= 0) & (xyz[:, 0] <= WIDTH))
        assert np.all((xyz[:, 1] >= 0) & (xyz[:, 1] <= HEIGHT))
        assert np.all((xyz[:, 2] >= 0) & (xyz[:, 2] <= 10))
        # Spread over the whole rectangle, not a square of its width.
        assert xyz[:, 0].max() > 0.9 * WIDTH and xyz[:, 1].max() > 0.9 * HEIGHT


def test_mea_is_an_8_by_16_array_centred_on_the_rectangle(loaded):
    mea = loaded["E3I"].default_io()
    assert mea.num_channels == 128
    xy = mea.electrode_coordinates[:, 1:3]
    assert len(np.unique(xy[:, 0])) == 8 and len(np.unique(xy[:, 1])) == 16
    assert np.allclose(np.diff(np.unique(xy[:, 0])), 200.0)
    assert np.allclose(np.diff(np.unique(xy[:, 1])), 200.0)
    np.testing.assert_allclose(xy.mean(axis=0), [WIDTH / 2, HEIGHT / 2])


@pytest.mark.parametrize("name", ["E", "E_b", "E3I", "E3I_b"])
def test_mean_in_degrees_hit_their_targets(loaded, name):
    system = loaded[name]
    for (post, pre), projection in system.projections.items():
        target = IN_DEGREE[(post, pre)]
        degrees = system.in_degrees(post, pre)
        # Each pair is an independent Bernoulli draw, so the mean over n cells has a standard
        # error of at most sqrt(target / n); allow four of them.
        tolerance = 4.0 * math.sqrt(target / degrees.size)
        assert abs(degrees.mean() - target) <= tolerance, (name, pre, post, degrees.mean(), target)
        assert projection.num_connections == degrees.sum()
        assert not np.any(projection.pre_gids == projection.post_gids)


def test_replicate_has_the_same_counts_but_other_connections(loaded):
    for base in ("E", "E3I"):
        original, replicate = loaded[base], loaded[f"{base}_b"]
        assert original.population_ranges == replicate.population_ranges
        assert set(original.projections) == set(replicate.projections)
        assert not np.array_equal(original.neuron_coordinates, replicate.neuron_coordinates)
        a, b = original.projections[("EXC", "EXC")], replicate.projections[("EXC", "EXC")]
        pairs_a = set(zip(a.pre_gids.tolist(), a.post_gids.tolist(), strict=True))
        pairs_b = set(zip(b.pre_gids.tolist(), b.post_gids.tolist(), strict=True))
        assert len(pairs_a & pairs_b) < 0.1 * min(len(pairs_a), len(pairs_b))


def test_an_excitatory_only_culture_builds_and_runs_on_brian2(loaded):
    pytest.importorskip("livn_brian2")
    import livn

    env = livn.make("E", backend="brian2")
    try:
        assert env.system.num_neurons == 2600
        spikes = env.run(100.0).channels["spikes"]
    finally:
        env.close()
    assert spikes.ids.size == 0 or (spikes.ids.min() >= 0 and spikes.ids.max() < 2600)
