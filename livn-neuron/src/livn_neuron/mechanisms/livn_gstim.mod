COMMENT
A conductance stimulus at the soma (livn input_mode "conductance"): i = g (v - e), so the cell
receives g (e - v) nA of inward current with its own potential every step. livn_neuron.env sets g
(uS) at each stimulus sample and e (mV) to the stimulus's reversal; NEURON treats the current as a
synapse's (its conductance enters the implicit step), unlike an IClamp's fixed current.
ENDCOMMENT

NEURON {
    POINT_PROCESS LivnConductanceStim
    NONSPECIFIC_CURRENT i
    RANGE g, e, i
    THREADSAFE
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    g = 0 (uS)
    e = 0 (mV)
}

ASSIGNED {
    v (mV)
    i (nA)
}

BREAKPOINT {
    i = g * (v - e)
}
