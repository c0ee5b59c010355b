COMMENT
RCSD sodium concentration shell (RCSD.md 1.8): intra- and extracellular [Na] follow ina
and relax to their resting values. k = 1e4 / (2 F d) mM/ms per mA/cm2 (the published factor 2,
kept on purpose), d = 0.2 um, beta = 0.075 /ms. ena follows by Nernst (NEURON's ion style).
The equations are linear in the concentrations with the current held over the step; the
backward-Euler step (what derivimplicit converges to) is written out in closed form.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_nacon
    USEION na READ ina WRITE nai, nao
    RANGE depth, beta, nai0, nao0
}

UNITS {
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (um) = (micron)
}

PARAMETER {
    depth = 0.2 (um)
    beta = 0.075 (/ms)
    nai0 = 15 (mM)
    nao0 = 145 (mM)
    faraday = 96485.33212
}

ASSIGNED {
    ina (mA/cm2)
}

STATE {
    nai (mM)
    nao (mM)
}

INITIAL {
    nai = nai0
    nao = nao0
}

BREAKPOINT {
    SOLVE conc
}

PROCEDURE conc() {
    LOCAL k
    k = 1e4 / (2 * faraday * depth)
    : backward Euler of nai' = -k ina - beta (nai - nai0), nao' = k ina - beta (nao - nao0)
    nai = (nai + dt * (-k * ina + beta * nai0)) / (1 + dt * beta)
    nao = (nao + dt * (k * ina + beta * nao0)) / (1 + dt * beta)
}
