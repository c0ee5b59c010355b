COMMENT
RCSD delayed-rectifier potassium current (RCSD.md 1.5).
I = gmax * n^4 * (v - ek). Units: mV, S/cm2, mA/cm2, ms.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_kdr
    USEION k READ ek WRITE ik
    RANGE gmax, ik
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gmax = 0.06444230715646704 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
}

STATE { n }

INITIAL {
    n = ninf(v)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ik = gmax * n * n * n * n * (v - ek)
}

DERIVATIVE states {
    n' = (ninf(v) - n) / ntau(v)
}

FUNCTION ninf(v (mV)) {
    ninf = 1 / (1 + exp(-(v + 28) / 15))
}

FUNCTION ntau(v (mV)) (ms) {
    ntau = 7 / (exp((v + 40) / 40) + exp(-(v + 40) / 50))
}
