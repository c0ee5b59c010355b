COMMENT
RCSD constant balancing current i_c (RCSD.md 1.10), outward positive, mA/cm2.
The Env sets ic from the soma's currents at V_rest; it stays constant during runs.
Its slope di/dv = 0 is given to NEURON (CONDUCTANCE): one evaluation per step, not two.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_ic
    NONSPECIFIC_CURRENT i
    RANGE ic, i
}

UNITS {
    (mA) = (milliamp)
}

PARAMETER {
    ic = 0 (mA/cm2)
}

ASSIGNED {
    i (mA/cm2)
}

BREAKPOINT {
    LOCAL gic
    CONDUCTANCE gic
    gic = 0
    i = ic
}
