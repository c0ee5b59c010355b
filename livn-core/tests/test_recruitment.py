"""Recruitment curves (livn.recruitment) measured on the reference backend."""

from __future__ import annotations

import math

import attrs
import livn
import numpy as np
import pytest
from livn.recruitment import DEFAULT_AMPLITUDES, RecruitmentCurve, recruitment_curve, train_response
from livn_reference.env import Env as ReferenceEnv

AMPLITUDES = tuple(np.round(np.geomspace(1.0, 100.0, 7), 2))


@pytest.fixture
def env():
    return livn.make("EI2", backend=ReferenceEnv)


def test_noise_off_curve_rises_with_amplitude_and_near_before_far(env):
    noise, seed = dict(env.noise), env.seed
    curve = recruitment_curve(env, amplitudes=AMPLITUDES)
    assert curve.near_cells > 0 and curve.far_cells > 0
    assert np.all((curve.near >= 0) & (curve.near <= 1)) and np.all((curve.far >= 0) & (curve.far <= 1))
    assert np.all(np.diff(curve.near) >= 0), curve.table()
    assert curve.near[0] < 0.5 <= curve.near[-1], curve.table()
    assert np.all(curve.far <= curve.near), curve.table()
    threshold = curve.threshold()
    assert AMPLITUDES[0] < threshold <= AMPLITUDES[-1]
    # the env is left as it was: noise restored, cleared with its own seed
    assert env.noise == noise and env.seed == seed and env.t == 0.0
    # the chosen electrode has the most near cells
    distance = env.io.planar_distances(env.system.neuron_coordinates)
    assert curve.near_cells == (distance <= 100.0).sum(axis=1).max()


def test_same_seed_same_curve(env):
    a = recruitment_curve(env, amplitudes=AMPLITUDES[::2], noise=True, trials=2)
    b = recruitment_curve(env, amplitudes=AMPLITUDES[::2], noise=True, trials=2)
    np.testing.assert_array_equal(a.near, b.near)
    np.testing.assert_array_equal(a.far, b.far)
    assert a.noise and a.trials == 2


def test_threshold_interpolates_in_log_amplitude():
    curve = RecruitmentCurve(amplitudes=np.array([1.0, 10.0, 100.0]), near=np.array([0.0, 0.25, 0.75]),
                             far=np.zeros(3), channel=0, near_cells=4, far_cells=4, near_radius=100.0,
                             far_radius=400.0, window=10.0, noise=False, trials=1)
    assert curve.threshold(0.5) == pytest.approx(math.sqrt(10.0) * 10.0)
    assert curve.threshold(0.25) == pytest.approx(10.0)
    assert math.isnan(curve.threshold(0.9))
    assert curve.far_at(10.0) == 0.0
    with pytest.raises(KeyError, match="was not measured"):
        curve.far_at(3.0)
    with pytest.raises(ValueError, match="fraction"):
        curve.threshold(0.0)
    with pytest.raises(ValueError, match="group"):
        curve.threshold(0.5, "middle")
    assert "amplitude uA" in curve.table()


def test_selectivity_is_the_far_threshold_over_the_near_one():
    curve = RecruitmentCurve(amplitudes=np.array([1.0, 10.0, 100.0]), near=np.array([0.0, 0.5, 1.0]),
                             far=np.array([0.0, 0.0, 0.2]), channel=0, near_cells=4, far_cells=4, near_radius=100.0,
                             far_radius=400.0, window=10.0, noise=False, trials=1)
    # far reaches 0.1 halfway (in log amplitude) from 10 to 100 uA
    assert curve.threshold(0.1, "far") == pytest.approx(math.sqrt(10.0) * 10.0)
    assert curve.selectivity() == pytest.approx(math.sqrt(10.0))
    never = attrs.evolve(curve, far=np.zeros(3))
    assert math.isnan(never.selectivity())


def test_train_response_counts_evoked_spikes_near_and_far(env):
    seed, noise = env.seed, dict(env.noise)
    strong = train_response(env, amplitude=60.0, pulses=4, period=30.0)
    weak = train_response(env, amplitude=1.0, pulses=4, period=30.0)
    assert strong.pulses == 4 and strong.near_cells > 0 and strong.far_cells > 0
    assert strong.near > 0.5 and strong.near > weak.near and strong.ratio > 3.0, strong
    assert abs(weak.near) < 0.2, weak  # 1 uA is far below the threshold: only noise differs (none, same seed)
    assert strong.control_near == weak.control_near  # the same seed, the same control run
    assert env.seed == seed and env.noise == noise and env.t == 0.0
    assert train_response(env, amplitude=60.0, pulses=4, period=30.0) == strong  # same seed, same figures
    with pytest.raises(ValueError, match="window"):
        train_response(env, period=5.0)
    with pytest.raises(ValueError, match="pulses"):
        train_response(env, pulses=0)


def test_default_amplitudes_span_1_to_100_uA():
    assert DEFAULT_AMPLITUDES[0] == 1.0 and DEFAULT_AMPLITUDES[-1] == 100.0 and len(DEFAULT_AMPLITUDES) == 9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amplitudes": [2.0, 1.0]}, "increasing"),
        ({"amplitudes": [0.0, 1.0]}, "positive"),
        ({"amplitudes": []}, "positive"),
        ({"channel": 99}, "electrode index"),
        ({"window": -1.0}, "window must be a positive number"),
        ({"trials": 2}, "without noise"),
        ({"trials": 0, "noise": True}, "trials must be an int"),
        ({"near_radius": 500.0, "far_radius": 400.0}, "far_radius"),
        ({"near_radius": 0.001, "channel": 0}, "no cell lies within"),
    ],
)
def test_bad_arguments_are_refused_before_running(env, kwargs, message):
    with pytest.raises(ValueError, match=message):
        recruitment_curve(env, **kwargs)
    assert env.t == 0.0
