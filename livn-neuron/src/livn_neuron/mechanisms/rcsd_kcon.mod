COMMENT
RCSD potassium concentration shell (RCSD.md 1.8): intra- and extracellular [K] follow the
total ik of the compartment and relax to their resting values. k = 1e4 / (2 F d) mM/ms per
mA/cm2, d = 0.2 um, beta = 0.075 /ms. ek follows by Nernst (NEURON's ion style).
The equations are linear in the concentrations with the current held over the step; the
backward-Euler step (what derivimplicit converges to) is written out in closed form.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_kcon
    USEION k READ ik WRITE ki, ko
    RANGE depth, beta, ki0, ko0
}

UNITS {
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (um) = (micron)
}

PARAMETER {
    depth = 0.2 (um)
    beta = 0.075 (/ms)
    ki0 = 145 (mM)
    ko0 = 5 (mM)
    faraday = 96485.33212
}

ASSIGNED {
    ik (mA/cm2)
}

STATE {
    ki (mM)
    ko (mM)
}

INITIAL {
    ki = ki0
    ko = ko0
}

BREAKPOINT {
    SOLVE conc
}

PROCEDURE conc() {
    LOCAL k
    k = 1e4 / (2 * faraday * depth)
    : backward Euler of ki' = -k ik - beta (ki - ki0), ko' = k ik - beta (ko - ko0)
    ki = (ki + dt * (-k * ik + beta * ki0)) / (1 + dt * beta)
    ko = (ko + dt * (k * ik + beta * ko0)) / (1 + dt * beta)
}
