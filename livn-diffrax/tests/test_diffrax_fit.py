"""Fitting tools of the differentiable backend: the losses of :mod:`livn_diffrax.losses` against
numpy/scipy references, the parameter transforms and :func:`livn_diffrax.fit.fit`, down to recovering
known parameters of a small LIF network from its own simulated voltage and spike counts."""

from __future__ import annotations

import logging
import math

import jax
import jax.numpy as jnp
import livn
import numpy as np
import pytest
from livn.stimulus import Stimulus
from livn_diffrax import losses
from livn_diffrax._precision import require_x64
from livn_diffrax.fit import (
    Bounded,
    FitResult,
    Identity,
    NonFiniteLossError,
    Positive,
    constrain,
    fit,
    unconstrain,
)
from livn_diffrax.spikes import SpikeBuffer

require_x64()  # as creating a diffrax env does; the references are float64


def _buffer(times, ids, num_cells, duration, capacity):
    """A padded SpikeBuffer of these spikes (sorted by time, then gid)."""
    times, ids = np.asarray(times, float), np.asarray(ids, np.int32)
    order = np.lexsort((ids, times))
    count = times.size
    t = np.zeros(capacity)
    g = np.full(capacity, -1, np.int32)
    v = np.zeros(capacity)
    t[:count], g[:count], v[:count] = times[order], ids[order], 1.0
    return SpikeBuffer(times=jnp.asarray(t), ids=jnp.asarray(g), values=jnp.asarray(v),
                       count=jnp.asarray(count, jnp.int32), num_cells=num_cells, duration=float(duration))


def _filtered(times, grid, tau):
    """sum_i H(t - t_i) exp(-(t - t_i) / tau) on ``grid``."""
    lag = grid[:, None] - np.asarray(times, float)[None, :]
    return np.sum(np.where(lag >= 0, np.exp(-np.clip(lag, 0, None) / tau), 0.0), axis=1)


def _van_rossum_by_integration(a, b, tau, step=2e-4):
    """sqrt((1/tau) * integral (f_a - f_b)^2 dt), integrated on a fine grid well past the last spike."""
    end = max([0.0, *a, *b]) + 40 * tau
    grid = np.arange(0.0, end, step)
    difference = _filtered(a, grid, tau) - _filtered(b, grid, tau)
    return math.sqrt(np.trapezoid(difference**2, grid) / tau)


# -- losses -----------------------------------------------------------------------------------------
def test_voltage_mse_and_count_losses_match_numpy():
    rng = np.random.default_rng(0)
    v, target = rng.normal(-65, 3, (4, 50)), rng.normal(-65, 3, (4, 50))
    np.testing.assert_allclose(float(losses.voltage_mse(v, target)), np.mean((v - target) ** 2), rtol=1e-12)
    mask = rng.random((4, 50)) < 0.5
    np.testing.assert_allclose(float(losses.voltage_mse(v, target, mask)), np.mean((v - target)[mask] ** 2),
                               rtol=1e-12)
    counts, wanted = np.array([3, 0, 5]), np.array([2.0, 1.0, 5.0])
    assert float(losses.spike_count_loss(counts, wanted)) == pytest.approx(2.0 / 3.0)
    assert float(losses.rate_loss(counts * 10.0, wanted * 10.0)) == pytest.approx(200.0 / 3.0)
    with pytest.raises(ValueError, match="shapes differ"):
        losses.spike_count_loss(counts, wanted[:2])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_van_rossum_matches_numerical_integration_of_the_filtered_trains(seed):
    rng = np.random.default_rng(seed)
    tau = 4.0
    a = np.sort(rng.uniform(0, 30, 5))
    b = np.sort(rng.uniform(0, 30, 3))
    reference = _van_rossum_by_integration(a, b, tau)
    # padded arrays with garbage in the padding: the mask must hide it
    times_a = np.concatenate([a, [7.0, 99.0]])
    mask_a = np.concatenate([np.ones(5, bool), np.zeros(2, bool)])
    times_b = np.concatenate([b, [3.0]])
    mask_b = np.array([True, True, True, False])
    distance = float(losses.van_rossum_distance(times_a, mask_a, times_b, mask_b, tau))
    assert distance == pytest.approx(reference, rel=1e-3)
    squared = float(losses.van_rossum_distance(times_a, mask_a, times_b, mask_b, tau, squared=True))
    assert squared == pytest.approx(distance**2, rel=1e-12)


def test_van_rossum_closed_forms_and_per_cell_pairing():
    tau = 5.0
    one = float(losses.van_rossum_distance([3.0], [True], [0.0], [False], tau, squared=True))
    assert one == pytest.approx(0.5)  # a lone spike
    shifted = float(losses.van_rossum_distance([3.0], [True], [5.0], [True], tau, squared=True))
    assert shifted == pytest.approx(1.0 - math.exp(-2.0 / tau))
    assert float(losses.van_rossum_distance([1.0, 4.0], [True, True], [1.0, 4.0], [True, True], tau)) == 0.0
    # per cell: spikes pair only within their cell
    a = _buffer([2.0, 5.0, 9.0], [0, 1, 1], num_cells=3, duration=20.0, capacity=6)
    b = _buffer([2.5, 9.0], [1, 1], num_cells=3, duration=20.0, capacity=6)
    per_cell = np.asarray(losses.van_rossum(a, b, tau))
    assert per_cell.shape == (3,)
    assert per_cell[0] == pytest.approx(_van_rossum_by_integration([2.0], [], tau), rel=1e-3)
    assert per_cell[1] == pytest.approx(_van_rossum_by_integration([5.0, 9.0], [2.5, 9.0], tau), rel=1e-3)
    assert per_cell[2] == 0.0
    pooled = float(losses.van_rossum(a, b, tau, per_cell=False))
    assert pooled == pytest.approx(_van_rossum_by_integration([2.0, 5.0, 9.0], [2.5, 9.0], tau), rel=1e-3)
    # differentiable in the spike weights (the surrogate path) with finite gradients at distance 0
    grad = jax.grad(lambda w: losses.van_rossum_distance([1.0, 4.0], w, [1.0, 4.0], [1.0, 1.0], tau))(
        jnp.ones(2))
    assert np.all(np.isfinite(np.asarray(grad)))
    with pytest.raises(ValueError, match="tau must be positive"):
        losses.van_rossum_distance([1.0], [True], [1.0], [True], 0.0)


def test_spike_time_loss_pairs_the_ith_spikes_and_charges_missing_ones_at_the_window():
    # pooled: slots (1 vs 2) and (5 vs missing -> window 10): (1 + 25) / 2
    value = losses.spike_time_loss([5.0, 1.0, 0.0], [True, True, False], [2.0, 0.0], [True, False], window=10.0)
    assert float(value) == pytest.approx(13.0)
    # per cell: cell 0 has 1 vs missing (81), cell 1 has 5 vs 2 (9)
    value = losses.spike_time_loss([1.0, 5.0, 0.0], [True, True, False], [2.0, 0.0], [True, False], window=10.0,
                                   ids=[0, 1, -1], target_ids=[1, -1], num_cells=2)
    assert float(value) == pytest.approx(45.0)
    a = _buffer([2.0, 5.0, 9.0], [0, 1, 1], num_cells=2, duration=20.0, capacity=5)
    assert float(losses.matched_spike_time_loss(a, a)) == 0.0
    b = _buffer([3.0, 5.0, 8.0], [0, 1, 1], num_cells=2, duration=20.0, capacity=5)
    assert float(losses.matched_spike_time_loss(a, b)) == pytest.approx((1.0 + 0.0 + 1.0) / 3)
    # k keeps only each cell's first spike
    assert float(losses.matched_spike_time_loss(a, b, k=1)) == pytest.approx(0.5)
    assert float(losses.spike_time_loss([0.0], [False], [0.0], [False], window=5.0)) == 0.0


def test_poisson_nll_matches_scipy_and_is_safe_at_zero_rates():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    bin_size = 5.0
    rates = rng.uniform(0.0, 80.0, (20, 4))  # Hz
    counts = rng.poisson(rates * bin_size / 1000.0)
    reference = -np.sum(stats.poisson.logpmf(counts, rates * bin_size / 1000.0))
    np.testing.assert_allclose(float(losses.poisson_nll(counts, rates, bin_size)), reference, rtol=1e-10)
    # a zero rate where no spike was seen costs nothing; where one was, a large finite loss
    assert float(losses.poisson_nll([0.0], [0.0], bin_size)) == 0.0
    assert 20.0 < float(losses.poisson_nll([1.0], [0.0], bin_size)) < math.inf
    grad = jax.grad(lambda r: losses.poisson_nll(jnp.array([0.0, 2.0]), r, bin_size))(jnp.array([0.0, 50.0]))
    assert np.all(np.isfinite(np.asarray(grad)))
    with pytest.raises(ValueError, match="bin_size"):
        losses.poisson_nll(counts, rates, 0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bits_per_spike_sign(seed):
    rng = np.random.default_rng(seed)
    bin_size = 10.0
    phase = np.linspace(0, 4 * np.pi, 200)[:, None]
    rates = 40.0 * (1.0 + np.sin(phase + np.arange(3)[None, :]))  # Hz, [bins, cells]
    counts = rng.poisson(rates * bin_size / 1000.0).astype(float)
    assert float(losses.bits_per_spike(counts, rates, bin_size)) > 0.2  # the true rates
    homogeneous = np.broadcast_to(counts.mean(axis=0) * 1000.0 / bin_size, counts.shape)
    assert float(losses.bits_per_spike(counts, homogeneous, bin_size)) == pytest.approx(0.0, abs=1e-12)
    anti = 40.0 * (1.0 - np.sin(phase + np.arange(3)[None, :])) + 1.0
    assert float(losses.bits_per_spike(counts, anti, bin_size)) < 0.0
    assert math.isnan(float(losses.bits_per_spike(np.zeros((5, 2)), np.ones((5, 2)), bin_size)))


def test_explained_variance():
    rng = np.random.default_rng(4)
    target = rng.normal(size=100)
    assert float(losses.explained_variance(target, target)) == pytest.approx(1.0)
    assert float(losses.explained_variance(target + 3.0, target)) == pytest.approx(1.0)  # offsets are free
    assert float(losses.explained_variance(np.full(100, target.mean()), target)) == pytest.approx(0.0)
    prediction = target + rng.normal(scale=0.5, size=100)
    expected = 1.0 - np.var(target - prediction) / np.var(target)
    assert float(losses.explained_variance(prediction, target)) == pytest.approx(expected, rel=1e-12)
    per_row = losses.explained_variance(np.stack([target, prediction]), np.stack([target, target]), axis=1)
    np.testing.assert_allclose(np.asarray(per_row), [1.0, expected], rtol=1e-12)
    assert float(losses.explained_variance(np.ones(5), np.ones(5))) == 1.0
    assert float(losses.explained_variance(np.arange(5.0), np.ones(5))) == 0.0


# -- transforms -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("transform", "values"),
    [
        (Identity(), [-3.0, 0.0, 2.5e3]),
        (Positive(), [1e-6, 0.3, 10.0, 700.0]),
        (Positive("exp"), [1e-6, 0.3, 10.0, 700.0]),
        (Bounded(-2.0, 5.0), [-1.999, 0.0, 4.5, 4.999]),
    ],
)
def test_transforms_round_trip(transform, values):
    values = jnp.asarray(values)
    np.testing.assert_allclose(np.asarray(transform.forward(transform.inverse(values))), values, rtol=1e-9)
    u = jnp.linspace(-30.0, 30.0, 61)
    np.testing.assert_allclose(np.asarray(transform.inverse(transform.forward(jnp.linspace(-8.0, 8.0, 17)))),
                               np.linspace(-8.0, 8.0, 17), rtol=1e-6, atol=1e-9)
    x = np.asarray(transform.forward(u))
    if isinstance(transform, Positive):
        assert np.all(x > 0)
    if isinstance(transform, Bounded):
        assert np.all((x >= -2.0) & (x <= 5.0))


def test_transform_trees_match_parameter_trees():
    params = {"cell": {"tau_m": jnp.asarray(10.0), "R": jnp.asarray([90.0, 110.0])}, "w": jnp.asarray(0.5)}
    transforms = {"cell": Positive("exp"), "w": Bounded(0.0, 1.0)}  # a prefix: one for the whole sub-dict
    u = unconstrain(params, transforms)
    np.testing.assert_allclose(np.asarray(u["cell"]["R"]), np.log([90.0, 110.0]))
    assert float(u["w"]) == pytest.approx(0.0)
    back = constrain(u, transforms)
    np.testing.assert_allclose(np.asarray(back["cell"]["R"]), [90.0, 110.0])
    same = unconstrain(params, {"cell": None, "w": None})  # None: Identity
    assert float(same["w"]) == 0.5
    with pytest.raises(ValueError, match="do not match the parameters"):
        unconstrain(params, {"cell": Positive()})
    with pytest.raises(ValueError, match=r"\['w'\].*outside Bounded\(0.0, 1.0\)"):
        unconstrain({**params, "w": jnp.asarray(1.5)}, transforms)
    with pytest.raises(ValueError, match="Positive"):
        unconstrain({"x": -1.0}, Positive())
    with pytest.raises(ValueError, match="low < high"):
        Bounded(1.0, 1.0)


# -- fit --------------------------------------------------------------------------------------------
def _quadratic(p):
    return (p["a"] - 3.0) ** 2 + jnp.sum((p["b"] - jnp.asarray([1.0, -2.0])) ** 2)


@pytest.mark.parametrize("jit", [True, False])
def test_fit_minimises_a_quadratic(jit):
    result = fit(_quadratic, {"a": 0.0, "b": jnp.zeros(2)}, learning_rate=0.1, steps=300, jit=jit)
    assert isinstance(result, FitResult)
    assert float(result.params["a"]) == pytest.approx(3.0, abs=1e-3)
    np.testing.assert_allclose(result.params["b"], [1.0, -2.0], atol=1e-3)
    assert result.steps == 300 and result.losses.shape == (301,)
    assert result.losses[0] == pytest.approx(14.0)
    assert result.best_loss == result.losses.min() == result.losses[result.best_step]
    assert result.final_loss == result.losses[-1] < 1e-6
    assert result.wall_time > 0 and not result.converged


def test_fit_respects_transforms_and_other_optimizers():
    import optax

    # the unconstrained optimum a = 3 is outside (0, 2): the fit approaches the edge and stays inside
    result = fit(lambda p: (p["a"] - 3.0) ** 2, {"a": 1.0}, transforms={"a": Bounded(0.0, 2.0)},
                 learning_rate=0.2, steps=200)
    assert 1.95 < float(result.params["a"]) < 2.0
    result = fit(lambda p: (jnp.log(p) - 1.0) ** 2, 0.5, transforms=Positive(), optimizer=optax.sgd(0.5),
                 steps=200)
    assert float(result.params) == pytest.approx(math.e, rel=1e-4)


def test_fit_stops_on_tol_and_callback_and_returns_aux():
    result = fit(_quadratic, {"a": 0.0, "b": jnp.zeros(2)}, learning_rate=0.1, steps=2000, tol=1e-10)
    assert result.converged and result.steps < 2000 and result.losses.shape == (result.steps + 1,)
    seen = []

    def stop_at_five(step, params, loss, aux):
        seen.append((step, float(params["a"]), loss, float(aux)))
        return step == 5

    result = fit(lambda p: (_quadratic(p), p["a"] * 2), {"a": 0.0, "b": jnp.zeros(2)}, has_aux=True,
                 callback=stop_at_five, steps=100)
    assert result.steps == 5 and [s[0] for s in seen] == list(range(6))
    assert seen[0][1:] == (0.0, 14.0, 0.0)
    assert float(result.aux) == pytest.approx(2 * float(result.params["a"]))


def test_fit_reports_progress_only_when_asked(capsys, caplog):
    fit(_quadratic, {"a": 0.0, "b": jnp.zeros(2)}, steps=20)
    assert capsys.readouterr().out == ""
    with caplog.at_level(logging.INFO, logger="livn_diffrax.fit"):
        fit(_quadratic, {"a": 0.0, "b": jnp.zeros(2)}, steps=20, log_every=10, progress=True)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in printed] == ["0/20", "10/20", "20/20"]
    assert sum("loss" in r.getMessage() for r in caplog.records) == 3


def test_fit_rejects_bad_input_with_clear_errors():
    init = {"a": 0.0, "b": jnp.zeros(2)}
    with pytest.raises(ValueError, match="must return a scalar loss, got shape \\(2,\\)"):
        fit(lambda p: p["b"] ** 2, init, steps=1)
    with pytest.raises(TypeError, match="has_aux=True"):
        fit(lambda p: (_quadratic(p), 1.0), init, steps=1)
    with pytest.raises(TypeError, match=r"must return \(loss, aux\)"):
        fit(_quadratic, init, has_aux=True, steps=1)
    with pytest.raises(ValueError, match="do not match the parameters"):
        fit(_quadratic, init, transforms={"a": Positive(), "c": Positive()}, steps=1)
    with pytest.raises(ValueError, match=r"\['a'\].*outside Bounded"):
        fit(_quadratic, init, transforms={"a": Bounded(1.0, 2.0), "b": None}, steps=1)
    with pytest.raises(ValueError, match="learning_rate"):
        fit(_quadratic, init, learning_rate=-1.0)
    with pytest.raises(ValueError, match="set the rate there"):
        import optax

        fit(_quadratic, init, optimizer=optax.sgd(0.1), learning_rate=0.1)
    with pytest.raises(ValueError, match="steps"):
        fit(_quadratic, init, steps=-1)


def test_fit_stops_on_nan_and_says_where():
    # Adam's first steps move ~learning_rate each: 2.5 -> 1.5 -> 0.5 -> -0.5, where sqrt is NaN
    with pytest.raises(NonFiniteLossError, match="step 3.*smaller learning_rate") as caught:
        fit(lambda p: jnp.sqrt(p), 2.5, learning_rate=1.0, steps=20)
    assert caught.value.result.losses.shape == (3,) and caught.value.result.steps == 3
    with pytest.raises(NonFiniteLossError, match="step 0.*initial parameters"):
        fit(lambda p: jnp.log(p - 1.0), 0.5, steps=5)
    with pytest.raises(NonFiniteLossError, match="gradient was not finite"):
        fit(lambda p: jnp.sqrt(jnp.abs(p)), 0.0, steps=5)


# -- end to end: recover a small network's hidden parameters from its own data ----------------------
def _quiet_lif(record, **kwargs):
    env = livn.make("EI1", backend="diffrax", model="lif", record=record, **kwargs)
    env.set_noise(env.model.noise_off)
    return env


def test_recovers_membrane_time_constant_and_resistance_from_voltage():
    env = _quiet_lif(("voltage",))
    duration, n = 30.0, env.system.num_neurons
    drive = np.zeros((int(duration), n))
    drive[2:] = 0.12  # nA: 12 mV at rest, below threshold
    stimulus = Stimulus(jnp.asarray(drive), dt=1.0, input_mode="current")

    def voltage(cell_params):
        other = env.with_cell_params(cell_params)
        other.clear()
        return other.run(duration, stimulus=stimulus).voltage.values

    truth = {"tau_m": 13.0, "R": 120.0}
    target = jax.jit(voltage)(truth)
    result = fit(lambda p: losses.voltage_mse(voltage(p), target), {"tau_m": 8.0, "R": 90.0},
                 transforms=Positive("exp"), learning_rate=0.05, steps=80)
    for name, value in truth.items():
        assert float(result.params[name]) == pytest.approx(value, rel=0.03), (name, result.params)
    assert result.final_loss < 1e-3 < result.losses[0]


def test_recovers_drive_amplitude_from_spike_counts_with_a_surrogate():
    env = _quiet_lif(("spikes",), surrogate=1.0)
    env.spike_capacity = 400
    duration, n = 50.0, env.system.num_neurons
    profile = np.zeros((int(duration), n))
    profile[2:] = np.linspace(0.8, 1.6, n)  # each cell its own share of the drive: distinct counts
    profile = jnp.asarray(profile)

    def counts(amplitude):
        env.clear()
        return env.run(duration, stimulus=Stimulus(amplitude * profile, dt=1.0, input_mode="current")).spikes.counts()

    truth = 0.25  # nA
    target = jax.jit(counts)(truth)
    assert float(jnp.sum(target)) > 30
    result = fit(lambda p: losses.spike_count_loss(counts(p["amplitude"]), target), {"amplitude": 0.18},
                 transforms={"amplitude": Positive()}, learning_rate=0.01, steps=60)
    assert float(result.params["amplitude"]) == pytest.approx(truth, rel=0.03), result.params
    # counts are whole numbers: at the end at most one cell is one spike off (mean squared error 0.1)
    assert result.losses[0] > 2.0 and result.best_loss <= 0.1
