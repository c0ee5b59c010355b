"""Background-noise parameter sets shared by the models."""

from __future__ import annotations

from livn.models.base import Parameter

__all__ = ["CONDUCTANCE_NOISE", "POINT_NOISE"]

# Ornstein-Uhlenbeck current noise for point neurons, per cell (nA, ms).
POINT_NOISE = (
    Parameter("mean", 0.0, "nA", "mean of the OU current"),
    Parameter("std", 0.0, "nA", "stationary standard deviation of the OU current"),
    Parameter("tau", 5.0, "ms", "correlation time of the OU current"),
)

# Ornstein-Uhlenbeck conductance noise (Destexhe 2001), per compartment (uS, ms).
CONDUCTANCE_NOISE = (
    Parameter("g_e0", 0.0121, "uS", "mean excitatory conductance"),
    Parameter("g_i0", 0.0573, "uS", "mean inhibitory conductance"),
    Parameter("std_e", 0.0030, "uS", "std of the excitatory conductance"),
    Parameter("std_i", 0.0066, "uS", "std of the inhibitory conductance"),
    Parameter("tau_e", 2.728, "ms", "correlation time, excitatory"),
    Parameter("tau_i", 10.49, "ms", "correlation time, inhibitory"),
)
