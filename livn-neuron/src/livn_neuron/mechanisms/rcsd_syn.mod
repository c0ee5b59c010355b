COMMENT
Double-exponential conductance synapse with peak normalization (RCSD.md 3.1).
g = B - A (uS); i = g * (v - e) (nA, outward positive). An event of NetCon weight n adds
n * weight * g_unit * factor to A and B, so one isolated event peaks at exactly
n * weight * g_unit uS, t_peak after delivery. tau_rise (the one used: livn clamps it to
[1e-9, 0.9999] * tau_decay) and the peak factor are set from Python, from livn's network
table (livn.network.synaptic_kinetics); nothing is derived here. weight is the dimensionless
number of contacts of the projection (set by name from Python), g_unit the conductance of one
contact (uS).
ENDCOMMENT

NEURON {
    POINT_PROCESS RcsdSyn
    RANGE tau_rise, tau_decay, e, weight, g_unit, g, i, factor
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    tau_rise = 0.5 (ms)
    tau_decay = 3.0 (ms)
    e = 0 (mV)
    weight = 1 (1)
    g_unit = 0.0005 (uS)
    factor = 1 (1)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
}

STATE {
    A (uS)
    B (uS)
}

INITIAL {
    A = 0
    B = 0
}

BREAKPOINT {
    SOLVE state METHOD cnexp
    g = B - A
    i = g * (v - e)
}

DERIVATIVE state {
    A' = -A / tau_rise
    B' = -B / tau_decay
}

NET_RECEIVE(n) {
    A = A + n * weight * g_unit * factor
    B = B + n * weight * g_unit * factor
}
