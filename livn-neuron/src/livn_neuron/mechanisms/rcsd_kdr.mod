COMMENT
RCSD delayed-rectifier potassium current (RCSD.md 1.5).
I = gmax * n^4 * (v - ek). Units: mV, S/cm2, mA/cm2, ms.
Cost: ntau(v) is evaluated once per step (a LOCAL; the same numbers as writing it into the
equation), and the slope di/dv = gmax n^4 is given to NEURON (CONDUCTANCE), so the current is
evaluated once per step instead of twice for a difference quotient.
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
    LOCAL gk
    CONDUCTANCE gk USEION k
    SOLVE states METHOD cnexp
    gk = gmax * n * n * n * n
    ik = gk * (v - ek)
}

DERIVATIVE states {
    LOCAL tau
    tau = ntau(v)  : once: cnexp's update uses the time constant three times
    n' = (ninf(v) - n) / tau
}

FUNCTION ninf(v (mV)) {
    ninf = 1 / (1 + exp(-(v + 28) / 15))
}

FUNCTION ntau(v (mV)) (ms) {
    ntau = 7 / (exp((v + 40) / 40) + exp(-(v + 40) / 50))
}
