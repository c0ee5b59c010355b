COMMENT
RCSD L-type calcium current (dendrite only; RCSD.md 1.5, 1.6).
I = gmax * m * ghk(v, cai, cao), ghk in mV with f = KTF/2,
KTF = (25/293.15) * (celsius + 273.15) mV. A density current in mA/cm2, gmax in S/cm2.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_cal
    USEION ca READ cai, cao WRITE ica
    RANGE gmax, ica, tau_m
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
    (mM) = (milli/liter)
}

PARAMETER {
    gmax = 1.3888775426905302e-05 (S/cm2)
    tau_m = 60 (ms)
}

ASSIGNED {
    v (mV)
    celsius (degC)
    cai (mM)
    cao (mM)
    ica (mA/cm2)
}

STATE { m }

INITIAL {
    m = minf(v)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ica = gmax * m * ghk(v, cai, cao)
}

DERIVATIVE states {
    m' = (minf(v) - m) / tau_m
}

FUNCTION minf(v (mV)) {
    minf = 1 / (1 + exp(-(v + 40) / 7))
}

FUNCTION ghk(v (mV), ci (mM), co (mM)) (mV) {
    LOCAL f, z
    f = (25 / 293.15) * (celsius + 273.15) / 2
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
