COMMENT
RCSD calcium-activated potassium current (RCSD.md 1.5).
I = gmax * cai / (cai + kd) * (v - ek); instantaneous activation. Units: mV, S/cm2, mM, mA/cm2.
The slope di/dv = gmax cai / (cai + kd) is given to NEURON (CONDUCTANCE), so the current is
evaluated once per step instead of twice for a difference quotient.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_kca
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE gmax, kd, ik
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
    (mM) = (milli/liter)
}

PARAMETER {
    gmax = 0.001865702157561832 (S/cm2)
    kd = 5e-4 (mM)
}

ASSIGNED {
    v (mV)
    ek (mV)
    cai (mM)
    ik (mA/cm2)
}

BREAKPOINT {
    LOCAL gk
    CONDUCTANCE gk USEION k
    gk = gmax * cai / (cai + kd)
    ik = gk * (v - ek)
}
