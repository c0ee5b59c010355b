COMMENT
Spike detection with a dead time (RCSD.md 1.11), in one point process at soma(0.5).
A spike is the first step at whose end v > vthresh after a step that ended at or below it
(NEURON's NetCon threshold test: no interpolation, the same strict comparison), and it is
emitted only if at least `refractory` ms passed since the last emitted spike. The membrane is
not reset.
The times are NEURON's NetCon-to-filter times to the bit: a voltage NetCon reports a crossing
found at time t as t + 1e-10, and this detector emits (and measures the dead time with)
t + 1e-10 too. Unlike a voltage NetCon into a filter with delay 0, it has no NetCon of delay
0, so NEURON can run the cells on several threads (every NetCon delay >= 2 dt there), and it
is a point-process source, which CoreNEURON takes without a gid.
ENDCOMMENT

NEURON {
    THREADSAFE
    POINT_PROCESS RcsdSpikeDetector
    RANGE vthresh, refractory, tlast
}

UNITS {
    (mV) = (millivolt)
}

PARAMETER {
    vthresh = -37 (mV)
    refractory = 2 (ms)
}

ASSIGNED {
    v (mV)
    tlast (ms)
}

INITIAL {
    tlast = -1e9
    net_send(0, 1)
}

NET_RECEIVE(w) {
    LOCAL ts
    if (flag == 1) {
        WATCH (v > vthresh) 2
    } else if (flag == 2) {
        ts = t + 1e-10
        if (ts - tlast >= refractory) {
            tlast = ts
            net_event(ts)
        }
    }
}
