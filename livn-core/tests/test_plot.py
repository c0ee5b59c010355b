"""livn.plot: what each figure draws, checked on its artists, and the PNG it renders (Agg)."""

from __future__ import annotations

import sys

import livn
import matplotlib  # the core session installs livn-core[plot]: missing, these tests fail (never skip)
import numpy as np
import pytest
from livn.decoding import LFP, ChannelRecording
from livn.run import Events, Run, Series
from livn_fake.env import Env as FakeEnv

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from livn import plot  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import StepPatch  # noqa: E402


@pytest.fixture(scope="module")
def env():
    with livn.make("EI2", backend=FakeEnv, record=("spikes",)) as made:
        made.record_membrane_current(dt=0.5)
        yield made


@pytest.fixture(scope="module")
def run(env):
    return env.run(400)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _population_spikes(run):
    ids = np.asarray(run.spikes.ids)
    return {p: int(((ids >= s) & (ids < s + c)).sum()) for p, (s, c) in run.population_ranges.items()}


def test_raster_colours_each_population_with_legend_and_rate_panel(run, tmp_path):
    fig = plot.raster(run, bin_size=20.0, title="EI2")
    raster_ax, rate_ax = fig.axes
    counts = _population_spikes(run)
    assert set(counts) == {"EXC", "INH"} and sum(counts.values()) == len(run.spikes) > 0

    # one line per population, each in its own colour, holding exactly that population's spikes
    lines = raster_ax.get_lines()
    colours = {to_rgba(line.get_color()) for line in lines}
    assert len(lines) == len(colours) == 2
    by_label = {line.get_label().split()[0]: line for line in lines}
    for population, (start, count) in run.population_ranges.items():
        ids = np.asarray(by_label[population].get_ydata())
        assert ids.size == counts[population]
        assert np.all((ids >= start) & (ids < start + count))
    legend = [text.get_text() for text in raster_ax.get_legend().get_texts()]
    assert [label.split()[0] for label in legend] == ["EXC", "INH"]
    assert "80 cells" in legend[0] and "20 cells" in legend[1]

    # the rate panel: one step curve per population, in the raster's colours, whose bins hold every spike
    steps = [p for p in rate_ax.patches if isinstance(p, StepPatch)]
    assert len(steps) == 2
    for step, (population, (_, count)) in zip(steps, run.population_ranges.items(), strict=True):
        data = step.get_data()
        values, edges = data.values, data.edges
        assert len(edges) == 400 // 20 + 1 and edges[0] == 0 and edges[-1] == 400
        spikes = values * count * np.diff(edges) / 1000.0
        np.testing.assert_allclose(spikes, np.round(spikes), atol=1e-9)
        assert round(spikes.sum()) == counts[population]
        assert to_rgba(step.get_edgecolor()) == to_rgba(by_label[population].get_color())

    path = tmp_path / "raster.png"
    fig.savefig(path, dpi=50)
    image = plt.imread(path)
    assert image.shape[:2] == (round(fig.get_figheight() * 50), round(fig.get_figwidth() * 50))
    assert np.ptp(image[..., :3]) > 0.5  # something was drawn, not a blank canvas


def test_raster_partial_last_bin_and_unassigned_gids():
    ranges = {"A": (0, 4), "B": (4, 2)}
    ids = np.array([0, 1, 5, 9, 3, 9])  # gid 9 is in no population
    times = np.array([1.0, 20.0, 30.0, 40.0, 49.9, 49.0])
    run = Run(spikes=Events(ids, times), duration=50.0, population_ranges=ranges)
    fig = plot.raster(run, bin_size=15.0)
    raster_ax, rate_ax = fig.axes
    labels = [line.get_label().split()[0] for line in raster_ax.get_lines()]
    assert labels == ["A", "B", "other"]
    assert [len(line.get_xdata()) for line in raster_ax.get_lines()] == [3, 1, 2]
    data = rate_ax.patches[0].get_data()
    values, edges = data.values, data.edges
    np.testing.assert_allclose(edges, [0, 15, 30, 45, 50])  # the last bin is 5 ms, its rate uses 5 ms
    np.testing.assert_allclose(values * 4 * np.diff(edges) / 1000.0, [1, 1, 0, 1])


def test_raster_without_populations_and_into_given_axes():
    run = Run(spikes=Events(np.array([0, 1, 1]), np.array([1.0, 2.0, 3.0])), duration=10.0)
    fig = plot.raster(run, histogram=False)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    assert line.get_label() == "all" and ax.get_legend() is None
    assert to_rgba(line.get_color()) == to_rgba("k")

    fig, ax = plt.subplots()
    assert plot.raster(run, ax=ax) is fig
    assert len(fig.axes) == 2  # the rate panel is split off the given axes

    with pytest.raises(ValueError, match="record_spikes"):
        plot.raster(Run(duration=10.0))


def test_layout_shows_cells_by_population_and_electrodes(env, tmp_path):
    fig = plot.layout(env, radius=True)
    (ax,) = fig.axes
    cells, electrodes = ax.collections[:-1], ax.collections[-1]
    coordinates = env.system.neuron_coordinates
    assert [c.get_label().split()[0] for c in cells] == ["EXC", "INH"]
    for collection, (start, count) in zip(cells, env.system.population_ranges.values(), strict=True):
        np.testing.assert_allclose(collection.get_offsets(), coordinates[start:start + count, 1:3])
    assert len({to_rgba(tuple(c.get_facecolor()[0])) for c in cells}) == 2
    np.testing.assert_allclose(electrodes.get_offsets(), env.io.electrode_coordinates[:, 1:3])
    assert [t.get_text() for t in ax.texts] == [str(c) for c in env.io.channel_ids]
    assert len(ax.patches) == env.io.num_channels  # one output-radius circle per electrode
    fig.savefig(tmp_path / "layout.png", dpi=40)
    assert plt.imread(tmp_path / "layout.png").shape[0] == 240

    # a system alone: its default electrode array
    fig = plot.layout(env.system, labels=False)
    assert len(fig.axes[0].collections[-1].get_offsets()) == env.system.default_io().num_channels


def test_traces_draws_the_requested_cells():
    values = np.vstack([np.linspace(-70, -50, 100), np.full(100, -65.0), np.sin(np.arange(100.0))])
    run = Run(voltage=Series(np.array([3, 7, 12]), values, 0.5), duration=50.0, population_ranges={"E": (0, 10), "I": (10, 5)})
    fig = plot.traces(run)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["gid 3 (E)", "gid 7 (E)", "gid 12 (I)"]
    np.testing.assert_allclose(lines[2].get_ydata(), values[2])
    np.testing.assert_allclose(lines[0].get_xdata(), np.arange(100) * 0.5)
    assert to_rgba(lines[0].get_color()) == to_rgba(lines[1].get_color()) != to_rgba(lines[2].get_color())
    assert "mV" in ax.get_ylabel()

    (line,) = plot.traces(run, gids=[12]).axes[0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), values[2])
    with pytest.raises(ValueError, match=r"\[5\]"):
        plot.traces(run, gids=[5])
    with pytest.raises(ValueError, match="record_voltage"):
        plot.traces(Run(duration=1.0))


def test_channels_draws_lfp_and_channel_recordings(env, run, tmp_path):
    lfp = LFP(400.0, nperseg=64)(env, run)
    potential = lfp["potential"]
    fig = plot.channels(lfp, dt=0.5)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == env.io.num_channels == potential.shape[0]
    ticks = ax.get_yticks()
    for row, line in enumerate(lines):
        np.testing.assert_allclose(line.get_ydata() - ticks[row], potential[row] - potential[row].mean(), atol=1e-9)
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(c) for c in range(potential.shape[0])]
    np.testing.assert_allclose(lines[0].get_xdata()[:3], [0.0, 0.5, 1.0])

    recording = ChannelRecording(400.0)(env, run)
    fig = plot.channels(recording, duration=400.0)
    ax = fig.axes[0]
    per_channel = [len(times) for times in recording[1].values()]
    assert [len(line.get_xdata()) for line in ax.get_lines()] == per_channel and sum(per_channel) > 0
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(c) for c in recording[1]]
    fig.savefig(tmp_path / "channels.png", dpi=30)
    assert plt.imread(tmp_path / "channels.png").shape[:2] == (180, 240)


def test_missing_matplotlib_names_the_extra(env, run, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    calls = (lambda: plot.raster(run), lambda: plot.layout(env), lambda: plot.traces(run),
             lambda: plot.channels(np.zeros((2, 3))), plot.require_matplotlib)
    for call in calls:
        with pytest.raises(ImportError, match=r'pip install "livn-core\[plot\]"'):
            call()
