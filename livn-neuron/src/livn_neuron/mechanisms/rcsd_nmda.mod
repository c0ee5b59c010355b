COMMENT
NMDA synapse: the double-exponential synapse of rcsd_syn.mod times a Mg2+ block
(RCSD.md 3.2): i = g * mgblock(v) * (v - e),
mgblock(v) = 1 / (1 + exp(-gamma * (v + v_shift)) * mg / kd).
Units: g uS, i nA, v mV, mg and kd mM, gamma 1/mV.
Between events A and B decay exactly over each step, A <- A - (1 - exp(-dt/tau_rise)) A (the
step METHOD cnexp computes, with the same rounding), with the factors 1 - exp(-dt/tau) cached and
recomputed only when dt or a time constant changes (fixed step only: no CVODE).
The slope di/dv = g (mgblock + (v - e) gamma mgblock (1 - mgblock)) (uS) is given to NEURON
(CONDUCTANCE), so the current (and its exp) is evaluated once per step. NEURON would otherwise
evaluate it twice, at v + 0.001 and v, for a difference quotient: the current is the same, the
linearisation (and so v) differs slightly.
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
    POINT_PROCESS RcsdSynNMDA
    RANGE tau_rise, tau_decay, e, weight, g_unit, g, i, factor
    RANGE gamma, mg, kd, v_shift
    RANGE plastic, stdp, nearest, tau_plus, tau_minus, a_plus, a_minus, w_max, tm, U, tau_rec, tau_facil, xpost, tpost
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
    (mM) = (milli/liter)
}

PARAMETER {
    tau_rise = 0.5 (ms)
    tau_decay = 80.0 (ms)
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
    gamma = 0.062 (/mV)
    mg = 1 (mM)
    kd = 3.57 (mM)
    v_shift = 0 (mV)
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
    LOCAL block, slope
    CONDUCTANCE slope
    SOLVE state
    g = B - A
    block = mgblock(v)
    i = g * block * (v - e)
    slope = g * (block + (v - e) * gamma * block * (1 - block))  : di/dv (uS)
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

FUNCTION mgblock(v (mV)) {
    mgblock = 1 / (1 + exp(-gamma * (v + v_shift)) * mg / kd)
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
