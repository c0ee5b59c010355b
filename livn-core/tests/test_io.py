"""Electrodes: layout, stimulation field, spike assignment and field-potential recording."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from livn.io import (
    MEA,
    electrode_array_coordinates,
    electrode_array_coordinates_for_area,
    stimulation_gain,
)


def _single(**kwargs) -> MEA:
    return MEA(np.array([[0, 0.0, 0.0, 0.0]]), **kwargs)


# ------------------------------------------------------------------------------------ layout


def test_grid_is_row_major():
    coords = electrode_array_coordinates(pitch=50.0, xs=3, ys=2, origin=(10.0, 20.0))
    np.testing.assert_array_equal(coords[:, 0], np.arange(6))
    np.testing.assert_array_equal(coords[:3, 1], [10, 60, 110])
    np.testing.assert_array_equal(coords[:3, 2], [20, 20, 20])
    np.testing.assert_array_equal(coords[3:, 2], [70, 70, 70])
    with pytest.raises(ValueError, match="xs must be"):
        electrode_array_coordinates(xs=0)
    with pytest.raises(ValueError, match="pitch"):
        electrode_array_coordinates(pitch=-1.0)


@pytest.mark.parametrize(("side", "per_axis"), [(40, 1), (400, 4), (1000, 8), (4000, 32), (650, 4), (99, 1)])
def test_grid_for_area_uses_powers_of_two(side, per_axis):
    coords = electrode_array_coordinates_for_area(100.0, side)
    assert coords.shape == (per_axis * per_axis, 4)
    np.testing.assert_allclose(coords[:, 1:3].mean(axis=0), [side / 2, side / 2])
    xs = np.unique(coords[:, 1])
    assert xs.shape[0] == per_axis
    if per_axis > 1:
        np.testing.assert_allclose(np.diff(xs), 100.0)
    assert np.all((coords[:, 1:3] >= 0) & (coords[:, 1:3] <= side))


def test_rectangular_area():
    coords = electrode_array_coordinates_for_area(100.0, [[100, 500], [0, 200]])
    assert coords.shape == (4 * 2, 4)
    np.testing.assert_allclose(coords[:, 1:3].mean(axis=0), [300, 100])


# ------------------------------------------------------------------------------- stimulation


def test_gain_at_zero_distance_is_5_34_mV_per_uA():
    mea = _single()
    potential = mea.cell_stimulus(np.array([[0.0, 0.0, 5.0]]), np.ones((1, 1)))
    assert potential.shape == (1, 1)
    assert potential[0, 0] == pytest.approx(5.34, rel=0.005)
    # The same from first principles: rho I / (4 pi h), rho 3.5 Ohm m, h = sqrt(15^2 + 50^2) um.
    volts = 3.5 * 1e-6 / (4 * math.pi * math.hypot(15, 50) * 1e-6)
    assert potential[0, 0] == pytest.approx(volts * 1e3, rel=1e-9)


def test_gain_falls_off_as_a_point_source():
    mea = _single()
    r = np.array([0.0, 50.0, 200.0, 1000.0])
    cells = np.stack([r, np.zeros(4), np.zeros(4)], axis=1)
    potential = mea.cell_stimulus(cells, np.full((1, 1), 2.0))[0]
    h = math.hypot(15, 50)
    np.testing.assert_allclose(potential, 2.0 * 5.3355 * h / np.sqrt(r**2 + h**2), rtol=1e-4)
    assert np.all(np.diff(potential) < 0)


def test_inputs_are_linear_and_batched():
    mea = MEA(electrode_array_coordinates(100.0, 2, 2))
    cells = np.array([[0, 10.0, 10.0, 0.0], [1, 150.0, 60.0, 5.0], [2, 300.0, 300.0, 0.0]])
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(5, 7, 4))
    out = mea.cell_stimulus(cells, inputs)
    assert out.shape == (5, 7, 3)
    for b in range(5):
        np.testing.assert_allclose(out[b], mea.cell_stimulus(cells, inputs[b]))
    one_channel = np.zeros((1, 4))
    one_channel[0, 2] = 1.0
    d = np.hypot(cells[:, 1] - 0.0, cells[:, 2] - 100.0)
    np.testing.assert_allclose(mea.cell_stimulus(cells, one_channel)[0], stimulation_gain(d))


def test_input_radius_limits_stimulation():
    mea = _single(input_radius=100.0)
    cells = np.array([[50.0, 0.0, 0.0], [150.0, 0.0, 0.0]])
    out = mea.cell_stimulus(cells, np.ones((1, 1)))
    assert out[0, 0] > 0 and out[0, 1] == 0


def test_stimulus_input_shape_checked():
    mea = MEA(electrode_array_coordinates(100.0, 2, 2))
    with pytest.raises(ValueError, match=r"\[\.\.\., T, 4\]"):
        mea.cell_stimulus(np.zeros((3, 3)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="NaN"):
        mea.cell_stimulus(np.zeros((3, 3)), np.full((10, 4), np.nan))
    with pytest.raises(ValueError, match="coordinates must be"):
        mea.cell_stimulus(np.zeros((3, 2)), np.zeros((10, 4)))


# --------------------------------------------------------------------------------- recording


def test_lfp_gain_is_one_over_four_pi_sigma_r():
    mea = _single()
    r = np.array([[20.0, 100.0, 240.0]])  # um
    currents = np.eye(3)  # 1 uA from one source at a time, [sources, T]
    potential = mea.potential_recording(r, currents)
    assert potential.shape == (1, 3)
    expected_volts = 1e-6 / (4 * math.pi * 0.3 * (r[0] * 1e-6))  # SI units
    np.testing.assert_allclose(potential[0], expected_volts * 1e6, rtol=1e-12)  # uV


def test_lfp_floor_radius_and_superposition():
    mea = _single(output_radius=200.0)
    r = np.array([[1.0, 5.0, 150.0, 250.0]])
    currents = np.array([[1.0], [1.0], [2.0], [5.0]])
    gain = 1e6 / (4 * math.pi * 0.3)
    expected = gain / 5.0 + gain / 5.0 + 2.0 * gain / 150.0
    assert mea.potential_recording(r, currents)[0, 0] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="currents must be"):
        mea.potential_recording(r, np.ones((3, 2)))


def test_distances_are_three_dimensional():
    mea = MEA(np.array([[0, 0.0, 0.0, 0.0], [1, 100.0, 0.0, 0.0]]))
    d = mea.distances(np.array([[0, 0.0, 30.0, 40.0]]))
    np.testing.assert_allclose(d, [[50.0], [math.sqrt(100**2 + 30**2 + 40**2)]])


def test_channel_recording_assigns_spikes_within_output_radius():
    mea = MEA(np.array([[7, 0.0, 0.0, 0.0], [9, 1000.0, 0.0, 0.0]]), output_radius=250.0)
    cells = np.array([[10, 0.0, 0.0, 0.0], [11, 200.0, 0.0, 0.0], [12, 900.0, 0.0, 0.0], [13, 500.0, 0.0, 0.0]])
    ids = np.array([10, 12, 11, 13, 10])
    times = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    channel_ids, channel_times = mea.channel_recording(cells, ids, times)
    assert set(channel_ids) == {7, 9}
    np.testing.assert_array_equal(channel_ids[7], [10, 11, 10])
    np.testing.assert_array_equal(channel_times[7], [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(channel_ids[9], [12])
    np.testing.assert_array_equal(channel_times[9], [2.0])
    with pytest.raises(ValueError, match="no coordinates"):
        mea.channel_recording(cells, [99], [1.0])
    with pytest.raises(ValueError, match="equal length"):
        mea.channel_recording(cells, [10, 11], [1.0])
    empty_ids, empty_times = mea.channel_recording(cells, [], [])
    assert all(v.size == 0 for v in empty_ids.values())


# ------------------------------------------------------------------------------------ storage


def test_mea_json_round_trip(tmp_path):
    mea = MEA(electrode_array_coordinates(100.0, 3, 2), input_radius=60.0, output_radius=120.0)
    mea.save(tmp_path)
    loaded = MEA.from_directory(tmp_path)
    np.testing.assert_array_equal(loaded.electrode_coordinates, mea.electrode_coordinates)
    assert (loaded.input_radius, loaded.output_radius) == (60.0, 120.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ("{}", "electrode_coordinates: missing"),
        ('{"electrode_coordinates": [[0, 1, 2]]}', r"\[C, 4\]"),
        ('{"electrode_coordinates": [[0, 1, 2, 3]], "output_radius": -5}', "output_radius"),
        ('{"electrode_coordinates": [[0, 1, 2, 3]], "pitch": 5}', "unknown field"),
    ],
)
def test_bad_mea_json(tmp_path, content, message):
    (tmp_path / "mea.json").write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        MEA.from_directory(tmp_path)
    assert "mea.json" in str(info.value)


def test_missing_mea_json(tmp_path):
    with pytest.raises(FileNotFoundError, match="mea.json"):
        MEA.from_directory(tmp_path)


def test_duplicate_electrode_ids_rejected():
    with pytest.raises(ValueError, match="distinct"):
        MEA(np.array([[0, 0, 0, 0], [0, 1, 1, 0]]))
    assert json.loads(json.dumps(MEA().to_dict()))["output_radius"] == 250.0


def test_channel_recording_equals_the_dense_distance_rule():
    rng = np.random.default_rng(5)
    mea = MEA(electrode_array_coordinates(pitch=100.0, xs=5, ys=4), output_radius=120.0)
    xyz = np.column_stack([rng.uniform(-100, 500, 400), rng.uniform(-100, 400, 400), rng.uniform(0, 10, 400)])
    # cells exactly on the radius of electrode 0 count, as with distances() <= output_radius
    xyz[:3] = [[120.0, 0.0, 0.0], [0.0, 120.0, 0.0], [0.0, 0.0, 120.0]]
    cells = np.column_stack([np.arange(400) + 1000, xyz])
    ids = rng.integers(1000, 1400, 3000)
    times = np.sort(rng.uniform(0, 100, 3000))
    channel_ids, channel_times = mea.channel_recording(cells, ids, times)
    within = mea.distances(cells) <= 120.0  # the rule, dense
    assert within[0, :3].all()
    np.testing.assert_array_equal(mea.recorded_cells(cells).toarray(), within.T)
    for row, channel in enumerate(mea.channel_ids):
        mask = within[row, ids - 1000]
        np.testing.assert_array_equal(channel_ids[int(channel)], ids[mask])
        np.testing.assert_array_equal(channel_times[int(channel)], times[mask])
