COMMENT
RCSD N-type calcium current with a GHK-type driving force (RCSD.md 1.5, 1.6).
I = gmax * m^2 * h * ghk(v, cai, cao), ghk in mV with f = KTF/2,
KTF = (36/293.15) * (celsius + 273.15) mV. Units: mV, S/cm2, mA/cm2, mM, ms.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_can
    USEION ca READ cai, cao WRITE ica
    RANGE gmax, ica, tau_m, tau_h
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
    (mM) = (milli/liter)
}

PARAMETER {
    gmax = 0.001 (S/cm2)
    tau_m = 4 (ms)
    tau_h = 40 (ms)
}

ASSIGNED {
    v (mV)
    celsius (degC)
    cai (mM)
    cao (mM)
    ica (mA/cm2)
}

STATE { m h }

INITIAL {
    m = minf(v)
    h = hinf(v)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ica = gmax * m * m * h * ghk(v, cai, cao)
}

DERIVATIVE states {
    m' = (minf(v) - m) / tau_m
    h' = (hinf(v) - h) / tau_h
}

FUNCTION minf(v (mV)) {
    minf = 1 / (1 + exp(-(v + 30) / 5))
}

FUNCTION hinf(v (mV)) {
    hinf = 1 / (1 + exp((v + 45) / 5))
}

FUNCTION ghk(v (mV), ci (mM), co (mM)) (mV) {
    LOCAL f, z
    f = (36 / 293.15) * (celsius + 273.15) / 2
    z = v / f
    ghk = -f * (1 - (ci / co) * exp(z)) * efun(z)
}

FUNCTION efun(z) {
    if (fabs(z) < 1e-4) {
        efun = 1 - z / 2
    } else {
        efun = z / (exp(z) - 1)
    }
}
