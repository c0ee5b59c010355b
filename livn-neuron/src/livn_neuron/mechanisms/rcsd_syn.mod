COMMENT
Double-exponential conductance synapse with peak normalization (RCSD.md 3.1).
g = B - A (uS); i = g * (v - e) (nA, outward positive). An event of NetCon weight n adds
n * weight * g_unit * factor to A and B, so one isolated event peaks at exactly
n * weight * g_unit uS, t_peak after delivery. tau_rise is clamped to
[1e-9, 0.9999] * tau_decay. weight is the dimensionless number of contacts of the
projection (set by name from Python), g_unit the conductance of one contact (uS).
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
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    factor (1)
    tr (ms)
}

STATE {
    A (uS)
    B (uS)
}

INITIAL {
    LOCAL tp
    tr = tau_rise
    if (tr > 0.9999 * tau_decay) {
        tr = 0.9999 * tau_decay
    }
    if (tr < 1e-9 * tau_decay) {
        tr = 1e-9 * tau_decay
    }
    tp = (tr * tau_decay) / (tau_decay - tr) * log(tau_decay / tr)
    factor = 1 / (exp(-tp / tau_decay) - exp(-tp / tr))
    A = 0
    B = 0
}

BREAKPOINT {
    SOLVE state METHOD cnexp
    g = B - A
    i = g * (v - e)
}

DERIVATIVE state {
    A' = -A / tr
    B' = -B / tau_decay
}

NET_RECEIVE(n) {
    A = A + n * weight * g_unit * factor
    B = B + n * weight * g_unit * factor
}
