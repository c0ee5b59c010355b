COMMENT
RCSD intracellular calcium pool with rectified influx (RCSD.md 1.7).
dcai/dt = f * (max(0, -alpha * (ica - irest)) - kca * (cai - ca0))   [mM/ms]
irest is the calcium current left by the previous current evaluation when INITIAL runs;
the Env calls finitialize(v_init) twice, so irest = ica at v_init with all gates at rest.
The equation is linear in cai with the Ca current held over the step, so the backward-Euler step
(what NEURON's derivimplicit converges to) is written out in closed form: same result, no Newton
iteration. Units: ica, irest mA/cm2; alpha mM cm2/(mA ms); kca 1/ms; f dimensionless.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_cad
    USEION ca READ ica WRITE cai
    RANGE f, alpha, kca, ca0, irest
}

UNITS {
    (mA) = (milliamp)
    (mM) = (milli/liter)
}

PARAMETER {
    f = 0.013447929809072348 (1)
    alpha = 3.2002168327027687 (1)
    kca = 1.0 (/ms)
    ca0 = 1e-5 (mM)
}

ASSIGNED {
    ica (mA/cm2)
    irest (mA/cm2)
}

STATE { cai (mM) }

INITIAL {
    irest = ica
    cai = ca0
}

BREAKPOINT {
    SOLVE pool
}

PROCEDURE pool() {
    : backward Euler of cai' = f * (influx(-alpha * (ica - irest)) - kca * (cai - ca0))
    cai = (cai + dt * f * (influx(-alpha * (ica - irest)) + kca * ca0)) / (1 + dt * f * kca)
}

FUNCTION influx(x) {
    if (x > 0) {
        influx = x
    } else {
        influx = 0
    }
}
