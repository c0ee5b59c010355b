COMMENT
Double-exponential conductance synapse with peak normalization (RCSD.md 3.1).
g = B - A (uS); i = g * (v - e) (nA, outward positive). An event of NetCon weight n adds
n * weight * g_unit * factor to A and B, so one isolated event peaks at exactly
n * weight * g_unit uS, t_peak after delivery. tau_rise (the one used: livn clamps it to
[1e-9, 0.9999] * tau_decay) and the peak factor are set from Python, from livn's network
table (livn.network.synaptic_kinetics); nothing is derived here. weight is the dimensionless
number of contacts of the projection (set by name from Python), g_unit the conductance of one
contact (uS).
Between events A and B decay exactly over each step, A <- A - (1 - exp(-dt/tau_rise)) A (the
step METHOD cnexp computes, with the same rounding), with the factors 1 - exp(-dt/tau) cached and
recomputed only when dt or a time constant changes (fixed step only: no CVODE). The slope
di/dv = g is given to NEURON (CONDUCTANCE): one current evaluation per step instead of two.
Plasticity (livn.plasticity; livn_neuron.plasticity sets the parameters). With plastic = 0 (the
default) a synapse works as above: every NetCon has weight n = 1 and the class weight `weight`
scales it. With plastic = 1 each NetCon carries its own state in its weight vector
(n = the weight as set, wlive = the live weight, the presynaptic STDP trace xpre at tpre, the
Tsodyks-Markram u and R at ttm): an arriving spike releases wlive (times u R / U with tm = 1), then,
with stdp = 1, updates xpre (+= 1; nearest: = 1) and depresses wlive by a_minus * xpost (clipped to
[0, w_max]). A NetCon with n < 0 brings the postsynaptic cell's spikes: xpost (+= 1; nearest: = 1),
then every incoming connection is potentiated by a_plus * xpre (FOR_NETCONS). Traces decay exactly
(exponentials of the time since their last update). a_plus, a_minus are absolute (times w_max).
ENDCOMMENT

NEURON {
    POINT_PROCESS RcsdSyn
    RANGE tau_rise, tau_decay, e, weight, g_unit, g, i, factor
    RANGE plastic, stdp, nearest, tau_plus, tau_minus, a_plus, a_minus, w_max, tm, U, tau_rec, tau_facil, xpost, tpost
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    tau_rise = 0.5 (ms)
    tau_decay = 3.0 (ms)
    e = 0 (mV)
    weight = 1 (1)
    g_unit = 0.0005 (uS)
    factor = 1 (1)
    plastic = 0 (1)
    stdp = 0 (1)
    nearest = 0 (1)
    tau_plus = 20 (ms)
    tau_minus = 20 (ms)
    a_plus = 0 (1)
    a_minus = 0 (1)
    w_max = 1e300 (1)
    tm = 0 (1)
    U = 0.5 (1)
    tau_rec = 800 (ms)
    tau_facil = 0 (ms)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    xpost (1)
    tpost (ms)
    step_rise (1)
    step_decay (1)
    cached_dt (ms)
    cached_tau_rise (ms)
    cached_tau_decay (ms)
}

STATE {
    A (uS)
    B (uS)
}

INITIAL {
    A = 0
    B = 0
    xpost = 0
    tpost = -1e9
    coefficients()
}

BREAKPOINT {
    CONDUCTANCE g
    SOLVE state
    g = B - A
    i = g * (v - e)
}

PROCEDURE coefficients() {
    step_rise = 1 - exp(dt * (-1 / tau_rise))
    step_decay = 1 - exp(dt * (-1 / tau_decay))
    cached_dt = dt
    cached_tau_rise = tau_rise
    cached_tau_decay = tau_decay
}

PROCEDURE state() {
    : A' = -A / tau_rise, B' = -B / tau_decay, stepped exactly
    if (dt != cached_dt || tau_rise != cached_tau_rise || tau_decay != cached_tau_decay) {
        coefficients()
    }
    A = A - step_rise * A
    B = B - step_decay * B
}

NET_RECEIVE(n, wlive, xpre, tpre (ms), u, R, ttm (ms)) {
    LOCAL amount
    INITIAL {
        wlive = n
        xpre = 0
        tpre = -1e9
        u = 0
        R = 1
        ttm = -1e9
    }
    if (n < 0) {
        if (stdp) {
            if (nearest) {
                xpost = 1
            } else {
                xpost = xpost * exp((tpost - t) / tau_minus) + 1
            }
            tpost = t
            FOR_NETCONS(n1, wlive1, xpre1, tpre1 (ms), u1, R1, ttm1 (ms)) {
                if (n1 >= 0) {
                    wlive1 = wlive1 + a_plus * xpre1 * exp((tpre1 - t) / tau_plus)
                    if (wlive1 > w_max) { wlive1 = w_max }
                    if (wlive1 < 0) { wlive1 = 0 }
                }
            }
        }
    } else if (plastic == 0) {
        A = A + n * weight * g_unit * factor
        B = B + n * weight * g_unit * factor
    } else {
        amount = wlive
        if (tm) {
            if (tau_facil > 0) {
                u = u * exp((ttm - t) / tau_facil)
            } else {
                u = 0
            }
            R = 1 + (R - 1) * exp((ttm - t) / tau_rec)
            u = u + U * (1 - u)
            amount = wlive * u * R / U
            R = R - u * R
            ttm = t
        }
        A = A + amount * g_unit * factor
        B = B + amount * g_unit * factor
        if (stdp) {
            if (nearest) {
                xpre = 1
            } else {
                xpre = xpre * exp((tpre - t) / tau_plus) + 1
            }
            tpre = t
            wlive = wlive - a_minus * xpost * exp((tpost - t) / tau_minus)
            if (wlive > w_max) { wlive = w_max }
            if (wlive < 0) { wlive = 0 }
        }
    }
}
