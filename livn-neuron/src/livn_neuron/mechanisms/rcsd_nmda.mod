COMMENT
NMDA synapse: the double-exponential synapse of rcsd_syn.mod times a Mg2+ block
(RCSD.md 3.2): i = g * mgblock(v) * (v - e),
mgblock(v) = 1 / (1 + exp(-gamma * (v + v_shift)) * mg / kd).
Units: g uS, i nA, v mV, mg and kd mM, gamma 1/mV.
ENDCOMMENT

NEURON {
    POINT_PROCESS RcsdSynNMDA
    RANGE tau_rise, tau_decay, e, weight, g_unit, g, i, factor
    RANGE gamma, mg, kd, v_shift
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
    (mM) = (milli/liter)
}

PARAMETER {
    tau_rise = 0.5 (ms)
    tau_decay = 80.0 (ms)
    e = 0 (mV)
    weight = 1 (1)
    g_unit = 0.0005 (uS)
    factor = 1 (1)
    gamma = 0.062 (/mV)
    mg = 1 (mM)
    kd = 3.57 (mM)
    v_shift = 0 (mV)
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
    i = g * mgblock(v) * (v - e)
}

DERIVATIVE state {
    A' = -A / tau_rise
    B' = -B / tau_decay
}

FUNCTION mgblock(v (mV)) {
    mgblock = 1 / (1 + exp(-gamma * (v + v_shift)) * mg / kd)
}

NET_RECEIVE(n) {
    A = A + n * weight * g_unit * factor
    B = B + n * weight * g_unit * factor
}
