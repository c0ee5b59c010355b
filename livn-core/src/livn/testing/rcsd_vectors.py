"""The RCSD test vectors of ``shared/RCSD.md`` section 7.3, as data (NEURON 9.0.2, published mechanisms).

All start from livn's default initialisation (v_init -75 mV, i_c from V_rest, 36 C). Spike times are
upward crossings sampled at 0.1 ms, so a vector's own rounding is up to 0.05 ms.
"""

from __future__ import annotations

__all__ = ["MN_REST", "MN_STEP", "RENSHAW_REST_99MS", "RENSHAW_STEP"]

#: BRK motoneuron, no input: soma potential (mV) at these times (ms).
MN_REST = {0.1: -74.95391, 1.0: -74.56008, 10.0: -71.52874, 50.0: -67.29472, 100.0: -66.96160, 499.0: -67.45940}

#: BRK motoneuron, +50 pA at the soma from 100 to 1100 ms: crossings of -37 mV (ms).
MN_STEP = {
    "amplitude": 0.05,
    "onset": 100.0,
    "offset": 1100.0,
    # NEURON at dt 0.001 ms (RK4 at dt 0.01 gives the same spikes within 0.3 ms)
    "fine": (111.9, 215.8, 335.8, 456.2, 576.6, 697.1, 817.5, 938.0, 1058.4),
    # NEURON at livn's dt 0.025 ms: the first three spikes and the last (spike index -1)
    "dt_0.025": {0: 111.9, 1: 216.7, 2: 337.5, -1: 1064.8},
}

#: Renshaw (V1In InVitro), +30 pA at the soma from 100 to 600 ms: 11 crossings of -20 mV, the first eight (ms),
#: NEURON at dt 0.001 ms.
RENSHAW_STEP = {
    "amplitude": 0.03,
    "onset": 100.0,
    "offset": 600.0,
    "count": 11,
    "fine": (104.1, 153.3, 201.7, 250.1, 298.5, 346.8, 395.2, 443.5),
}

#: The Renshaw cell's resting potential at 99 ms (mV).
RENSHAW_REST_99MS = -60.2926
