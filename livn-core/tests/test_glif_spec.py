"""The GLIF specs (livn.models.glif): five registered levels, their parameters, checks and reference."""

from __future__ import annotations

import numpy as np
import pytest
from livn import plugins
from livn.first_party import backends_supporting
from livn.models.glif import (
    GLIF,
    check_glif_parameters,
    glif_defaults,
    glif_parameter_names,
    glif_reference_spike_times,
    glif_spec,
)
from livn.models.lif import lif_isi


def test_five_levels_are_registered_through_core_with_nested_parameters():
    registry = plugins.models()
    names = [set(glif_parameter_names(level)) for level in range(1, 6)]
    for level in range(1, 6):
        assert registry[f"glif{level}"] is GLIF[level] is glif_spec(level)
        assert backends_supporting(f"glif{level}") == ["brian2", "diffrax"]
        spec = GLIF[level]
        assert spec.sites == ("soma",) and "extracellular_gain" in spec.constants
        cells = spec.cell_parameters("INH", 3, np.random.default_rng(0))
        assert set(cells) == names[level - 1] and all(v.shape == (3,) for v in cells.values())
        for system in ("EI1", "EI2", "EI3", "EI4"):
            assert spec.noise_defaults(system)["mean"] > 0 and spec.weight_defaults(system)
    assert names[0] < names[1] < names[3] < names[4] and names[0] < names[2] < names[3]
    assert names[4] - names[3] == {"a_v", "b_v"}


@pytest.mark.parametrize("level", [0, 6, 2.0, "3", True])
def test_unknown_levels_are_refused(level):
    with pytest.raises(ValueError, match="unknown GLIF level"):
        glif_spec(level)


@pytest.mark.parametrize(("name", "value"), [("C", 0.0), ("G", -0.01), ("k_2", -0.1), ("b_s", 0.0), ("t_ref", -1.0),
                                             ("b_v", np.nan)])
def test_out_of_range_parameters_are_refused(name, value):
    with pytest.raises(ValueError, match=name):
        check_glif_parameters({**glif_defaults(5), name: value}, 5)
    with pytest.raises(ValueError, match="needs the parameter 'a_v'"):
        check_glif_parameters(glif_defaults(4), 5)


def test_kind_without_a_cell_class_is_refused():
    with pytest.raises(KeyError, match="population kind"):
        GLIF[1].cell_parameters("GLIA", 2, np.random.default_rng(0))


def test_scipy_reference_of_glif1_is_the_analytic_lif_train():
    p = glif_defaults(1)
    isi = lif_isi(0.5, E_L=p["E_L"], v_th=p["theta_inf"], v_reset=p["E_L"], tau_m=p["C"] / p["G"], R=1.0 / p["G"])
    times = glif_reference_spike_times(1, 0.5, 200.0)
    assert times[0] == pytest.approx(isi, abs=1e-7)
    np.testing.assert_allclose(np.diff(times), isi + p["t_ref"], rtol=0, atol=1e-7)
    assert glif_reference_spike_times(1, 0.25, 200.0).size == 0  # below rheobase G (theta_inf - E_L) = 0.256 nA
