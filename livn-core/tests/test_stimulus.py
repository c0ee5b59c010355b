"""Stimulus validation and the biphasic pulse."""

from __future__ import annotations

import numpy as np
import pytest
from livn.stimulus import DEFAULT_PULSE_AMPLITUDE, Stimulus


def test_basic_properties():
    array = np.zeros((40, 3))
    stim = Stimulus(array, dt=0.025, gids=[4, 1, 7])
    assert stim.duration == pytest.approx(1.0)
    assert stim.num_samples == 40 and stim.num_cells == 3 and stim.num_sites == 1
    assert stim.units == "mV" and stim.input_mode == "extracellular"
    np.testing.assert_array_equal(stim.gids, [4, 1, 7])
    np.testing.assert_array_equal(stim.resolve_gids(10), [4, 1, 7])
    array[0, 0] = 5.0
    assert stim.array[0, 0] == 0.0  # the stimulus holds its own copy
    with pytest.raises(ValueError):
        stim.array[0, 0] = 1.0


def test_sites_and_current_mode():
    stim = Stimulus(np.ones((10, 2, 2)), dt=0.1, input_mode="current")
    assert stim.units == "nA" and stim.num_sites == 2
    np.testing.assert_array_equal(stim.site(1), np.ones((10, 2)))
    np.testing.assert_array_equal(stim.resolve_gids(2), [0, 1])
    with pytest.raises(ValueError, match="must cover all 5 cells"):
        stim.resolve_gids(5)


def test_zero_order_hold_index():
    stim = Stimulus(np.arange(4.0)[:, None], dt=0.5)
    np.testing.assert_array_equal(stim.sample_index([0.0, 0.49, 0.5, 1.2, 1.5, 99.0]), [0, 0, 1, 2, 3, 3])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(array=np.zeros((5, 2)), dt=0.0), ValueError, "dt must be a positive"),
        (dict(array=np.zeros((5, 2)), dt=float("nan")), ValueError, "dt must be a positive"),
        (dict(array=np.zeros((5, 2)), dt=-0.1), ValueError, "dt must be a positive"),
        (dict(array=np.zeros(5), dt=0.1), ValueError, r"\[T, n\]"),
        (dict(array=np.zeros((5, 2)), dt=0.1, gids=[1, 2, 3]), ValueError, "2 columns but 3 gids"),
        (dict(array=np.zeros((5, 2)), dt=0.1, gids=[1, 1]), ValueError, "distinct"),
        (dict(array=np.zeros((5, 2)), dt=0.1, gids=[0.5, 1.0]), TypeError, "ints"),
        (dict(array=np.array([[0.0, np.nan]]), dt=0.1), ValueError, "NaN or inf"),
        (dict(array=np.array([[0.0, np.inf]]), dt=0.1, input_mode="current"), ValueError, "NaN or inf"),
        (dict(array=np.zeros((5, 2)), dt=0.1, units="uA"), ValueError, "in mV"),
        (dict(array=np.zeros((5, 2)), dt=0.1, input_mode="current", units="mV"), ValueError, "in nA"),
        (dict(array=np.zeros((5, 2)), dt=0.1, input_mode="voltage"), ValueError, "input_mode"),
        (dict(array=np.full((5, 2), 50000.0), dt=0.1), ValueError, "5000 mV"),
        (dict(array=np.full((5, 2), -6000.0), dt=0.1), ValueError, "5000 mV"),
        (
            dict(array=np.array([[-np.inf, 0.0]]), dt=0.1, copy=False),
            ValueError,
            r"NaN or inf \(first at index \[0, 0\]",
        ),
        (dict(array=np.zeros((0, 2)), dt=0.1), ValueError, "at least one sample"),
    ],
)
def test_validation(kwargs, error, message):
    with pytest.raises(error, match=message):
        Stimulus(**kwargs)


def test_the_samples_are_copied_unless_copy_is_false():
    array = np.ones((5, 2))
    copied = Stimulus(array, dt=0.1)
    array[0, 0] = 7.0
    assert copied.array[0, 0] == 1.0 and not copied.array.flags.writeable
    taken = Stimulus(array, dt=0.1, copy=False)
    assert taken.array is array and not array.flags.writeable  # taken over and frozen


def test_gids_beyond_system_rejected():
    with pytest.raises(ValueError, match="up to 12"):
        Stimulus(np.zeros((3, 2)), dt=0.1, gids=[0, 12]).resolve_gids(10)


def test_biphasic_pulse_defaults_are_charge_balanced_cathodic_first():
    inputs = Stimulus.biphasic_pulse(16, [3, 5])
    assert inputs.shape == (4 + 1 + 4, 16)  # 0.2 ms phases and a 0.05 ms gap at 0.05 ms
    np.testing.assert_allclose(inputs[:4, 3], -DEFAULT_PULSE_AMPLITUDE)
    np.testing.assert_allclose(inputs[4, 3], 0.0)
    np.testing.assert_allclose(inputs[5:, 3], DEFAULT_PULSE_AMPLITUDE)
    np.testing.assert_array_equal(inputs[:, 5], inputs[:, 3])
    untouched = np.delete(np.arange(16), [3, 5])
    assert not inputs[:, untouched].any()
    np.testing.assert_allclose(inputs.sum(axis=0), 0.0, atol=1e-12)


def test_biphasic_pulse_trains_and_polarity():
    dt = 0.1
    inputs = Stimulus.biphasic_pulse(
        2,
        1,
        amplitude=2.0,
        phase_duration=0.3,
        interphase_gap=0.1,
        pulse_times=(0.0, 5.0),
        dt=dt,
        cathodic_first=False,
        duration=10.0,
    )
    assert inputs.shape == (100, 2)
    assert inputs[0, 1] == 2.0 and inputs[4, 1] == -2.0
    assert inputs[50, 1] == 2.0
    assert np.count_nonzero(inputs[:, 1]) == 12
    assert inputs[:, 1].sum() * dt == pytest.approx(0.0)
    assert not inputs[:, 0].any()
    stim = Stimulus(inputs @ np.full((2, 3), 5.3), dt=dt)
    assert stim.duration == pytest.approx(10.0)


def test_biphasic_pulse_rejects_bad_channels():
    with pytest.raises(ValueError, match=r"channels must be ints in 0..3"):
        Stimulus.biphasic_pulse(4, [4])
    with pytest.raises(ValueError, match="shorter than the last pulse"):
        Stimulus.biphasic_pulse(4, [0], pulse_times=(1.0,), duration=1.0)


def test_livn_core_does_not_import_jax():
    import subprocess
    import sys

    code = "import sys, livn, livn.env, livn.io, livn.stimulus; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_jax_arrays_are_kept_and_checked():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    values = jnp.ones((4, 3), dtype=jnp.float32)
    stim = Stimulus(values, dt=0.5, gids=[0, 2, 5], input_mode="current")
    assert stim.array is values and stim.num_samples == 4 and stim.duration == 2.0
    with pytest.raises(TypeError, match="floating point"):
        Stimulus(jnp.ones((4, 3), dtype=jnp.int32), dt=0.5)
    with pytest.raises(ValueError, match=r"\[T, n\] or \[T, n, sites\]; got shape \(4,\)"):
        Stimulus(jnp.ones(4), dt=0.5)
    with pytest.raises(ValueError, match=r"NaN or inf \(first at index \[1, 2\]"):
        Stimulus(jnp.zeros((4, 3)).at[1, 2].set(jnp.nan), dt=0.5)
    with pytest.raises(ValueError, match="5000 mV"):
        Stimulus(jnp.full((4, 3), -6000.0), dt=0.5)


def test_traced_values_are_checked_by_shape_and_dtype_only():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def total(a):
        return jnp.sum(Stimulus(a, dt=0.5, input_mode="extracellular").array)

    # a value beyond the range passes under grad (unknown while tracing) and differentiates
    np.testing.assert_array_equal(np.asarray(jax.grad(total)(jnp.full((4, 3), 5000.0))), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"got shape \(4,\)"):
        jax.jit(total)(jnp.ones(4))
    with pytest.raises(TypeError, match="floating point"):
        jax.jit(total)(jnp.ones((4, 3), dtype=jnp.int32))
