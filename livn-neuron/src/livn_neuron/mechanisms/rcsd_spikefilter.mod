COMMENT
Spike filter with a dead time (RCSD.md 1.11): re-emits an incoming threshold event only
if at least `refractory` ms passed since the last emitted one. The membrane is not reset.
ENDCOMMENT

NEURON {
    ARTIFICIAL_CELL RcsdSpikeFilter
    RANGE refractory, tlast
}

PARAMETER {
    refractory = 2 (ms)
}

ASSIGNED {
    tlast (ms)
}

INITIAL {
    tlast = -1e9
}

NET_RECEIVE(w) {
    if (t - tlast >= refractory) {
        tlast = t
        net_event(t)
    }
}
