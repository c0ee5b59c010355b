COMMENT
RCSD fast sodium current (soma only; RCSD.md 1.5).
I = gmax * m^3 * h * (v - ena); m = minf(v) is instantaneous, h relaxes with tau_h(v).
m is updated with the state step (from the voltage at the end of the previous step), not inside
the current evaluation: NEURON linearises BREAKPOINT currents in v, and the steep negative slope
of minf(v)^3 near threshold would otherwise exceed the soma's C/dt at dt = 0.025 ms and make the
implicit step overshoot (a spurious -35 mV jump at spike onset). This matches the reference
NEURON behaviour of RCSD.md 7.3 at dt = 0.025 and converges to the exact model as dt -> 0.
Cost: htau(v) is evaluated once per step (a LOCAL; the same numbers as writing it into the
equation), and the slope di/dv = gmax m^3 h is given to NEURON (CONDUCTANCE), so the current is
evaluated once per step instead of twice for a difference quotient.
Units: v mV, gmax S/cm2, current mA/cm2, time ms.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_na
    USEION na READ ena WRITE ina
    RANGE gmax, ina, m
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gmax = 0.16667339205741882 (S/cm2)
}

ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    m (1)
}

STATE { h }

INITIAL {
    m = minf(v)
    h = hinf(v)
}

BREAKPOINT {
    LOCAL gna
    CONDUCTANCE gna USEION na
    SOLVE states METHOD cnexp
    gna = gmax * m * m * m * h
    ina = gna * (v - ena)
}

DERIVATIVE states {
    LOCAL tau
    m = minf(v)
    tau = htau(v)  : once: cnexp's update uses the time constant three times
    h' = (hinf(v) - h) / tau
}

FUNCTION minf(v (mV)) {
    minf = 1 / (1 + exp(-(v + 35) / 7.8))
}

FUNCTION hinf(v (mV)) {
    hinf = 1 / (1 + exp((v + 55) / 7))
}

FUNCTION htau(v (mV)) (ms) {
    htau = 30 / (exp((v + 50) / 15) + exp(-(v + 50) / 16))
}
