COMMENT
Four-state opsin kinetics (C1, O1, O2, C2) as a density mechanism: livn.optogenetics.opsins has the
model, its parameters and units; livn_neuron.opsins sets every PARAMETER from the opsin spec when it
inserts the mechanism, so the defaults below are placeholders. livn_gtacr2.mod is the same
mechanism under another SUFFIX, so that a cell can express both opsins.

light is the irradiance (mW/mm2) held over the step, scale the opsin's light_scale at the stimulus
wavelength (1/(mW/mm2)); the states advance once per step after the voltage update by classical
Runge-Kutta substeps with the light constant (substep <= 1 / rate_bound, as on every livn backend).
i = gbar (O1 + gamma O2) D(v), D = v1 (1 - exp(-(v - erev)/v0)) when rectifying, else v - erev.
ENDCOMMENT

NEURON {
    SUFFIX livn_chr2
    NONSPECIFIC_CURRENT i
    RANGE gbar, light, scale, i, o1, o2, c2
    RANGE gamma, erev, k1, k2, p, q, gf0, kf, gb0, kb, gd1, gd2, gr0, v0, v1, rectifying, rate_bound
    THREADSAFE
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0 (S/cm2)
    light = 0
    scale = 0
    gamma = 0.05
    erev = 0 (mV)
    k1 = 1 (/ms)
    k2 = 1 (/ms)
    p = 1
    q = 1
    gf0 = 0 (/ms)
    kf = 0 (/ms)
    gb0 = 0 (/ms)
    kb = 0 (/ms)
    gd1 = 0.1 (/ms)
    gd2 = 0.01 (/ms)
    gr0 = 0.001 (/ms)
    v0 = 43 (mV)
    v1 = 17.1 (mV)
    rectifying = 1
    rate_bound = 2 (/ms)
}

ASSIGNED {
    v (mV)
    i (mA/cm2)
    o1
    o2
    c2
}

INITIAL {
    o1 = 0
    o2 = 0
    c2 = 0
}

BREAKPOINT {
    SOLVE advance
    i = gbar * (o1 + gamma * o2) * drive(v)
}

FUNCTION drive(v (mV)) (mV) {
    if (rectifying > 0) {
        drive = v1 * (1 - exp(-(v - erev) / v0))
    } else {
        drive = v - erev
    }
}

PROCEDURE advance() {
    LOCAL x, xp, xq, ga1, ga2, gf, gb, n, h, j, a1, a2, a3, b1, b2, b3, c1, c2s, c3, d1, d2, d3, y1, y2, y3
    UNITSOFF
    x = light * scale
    xp = pow(x, p)
    xq = pow(x, q)
    ga1 = k1 * xp / (1 + xp)
    ga2 = k2 * xp / (1 + xp)
    gf = gf0 + kf * xq / (1 + xq)
    gb = gb0 + kb * xq / (1 + xq)
    n = ceil(dt * rate_bound - 1e-9)
    if (n < 1) {
        n = 1
    }
    h = dt / n
    FROM j = 1 TO n {
        y1 = o1
        y2 = o2
        y3 = c2
        a1 = ga1 * (1 - y1 - y2 - y3) + gb * y2 - (gd1 + gf) * y1
        a2 = ga2 * y3 + gf * y1 - (gd2 + gb) * y2
        a3 = gd2 * y2 - (gr0 + ga2) * y3
        y1 = o1 + 0.5 * h * a1
        y2 = o2 + 0.5 * h * a2
        y3 = c2 + 0.5 * h * a3
        b1 = ga1 * (1 - y1 - y2 - y3) + gb * y2 - (gd1 + gf) * y1
        b2 = ga2 * y3 + gf * y1 - (gd2 + gb) * y2
        b3 = gd2 * y2 - (gr0 + ga2) * y3
        y1 = o1 + 0.5 * h * b1
        y2 = o2 + 0.5 * h * b2
        y3 = c2 + 0.5 * h * b3
        c1 = ga1 * (1 - y1 - y2 - y3) + gb * y2 - (gd1 + gf) * y1
        c2s = ga2 * y3 + gf * y1 - (gd2 + gb) * y2
        c3 = gd2 * y2 - (gr0 + ga2) * y3
        y1 = o1 + h * c1
        y2 = o2 + h * c2s
        y3 = c2 + h * c3
        d1 = ga1 * (1 - y1 - y2 - y3) + gb * y2 - (gd1 + gf) * y1
        d2 = ga2 * y3 + gf * y1 - (gd2 + gb) * y2
        d3 = gd2 * y2 - (gr0 + ga2) * y3
        o1 = o1 + h / 6 * (a1 + 2 * b1 + 2 * c1 + d1)
        o2 = o2 + h / 6 * (a2 + 2 * b2 + 2 * c2s + d2)
        c2 = c2 + h / 6 * (a3 + 2 * b3 + 2 * c3 + d3)
    }
    UNITSON
}
