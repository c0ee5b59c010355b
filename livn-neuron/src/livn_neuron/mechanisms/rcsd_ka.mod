COMMENT
RCSD A-type potassium current of the V1 Renshaw interneuron (RCSD.md 2.2).
I = gmax * a * b * (v - ek); a, b relax with fixed time constants. Units: mV, S/cm2, mA/cm2, ms.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_ka
    USEION k READ ek WRITE ik
    RANGE gmax, ik, tau_a, tau_b
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gmax = 0.0059051355347037315 (S/cm2)
    tau_a = 1 (ms)
    tau_b = 15 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
}

STATE { a b }

INITIAL {
    a = ainf(v)
    b = binf(v)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ik = gmax * a * b * (v - ek)
}

DERIVATIVE states {
    a' = (ainf(v) - a) / tau_a
    b' = (binf(v) - b) / tau_b
}

FUNCTION ainf(v (mV)) {
    ainf = 1 / (1 + exp(-(v + 36) / 8))
}

FUNCTION binf(v (mV)) {
    binf = 1 / (1 + exp((v + 66) / 8))
}
