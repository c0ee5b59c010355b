COMMENT
Ornstein-Uhlenbeck conductance noise (Destexhe 2001; RCSD.md 4).
g_e = max(0, g_e0 + g_e1), g_i = max(0, g_i0 + g_i1) (uS);
i = g_e * (v - E_e) + g_i * (v - E_i) (nA, outward positive).
The deviations g_e1, g_i1 start at 0 and are updated exactly every `interval` ms
(at t = interval, 2 interval, ..., independent of dt; each takes effect in the first step whose
midpoint is at most 1 % of an interval before it), held constant in between:
  g_x1 <- exp(-interval/tau_x) g_x1 + std_x sqrt(1 - exp(-2 interval/tau_x)) xi_x
Each update draws xi_e then xi_i from this instance's Random123 stream `ran`, whose ids the Env
sets from (gid, section, seed); a component with std = 0 draws nothing (its deviation just
decays). The stream restarts at every finitialize. The decay and kick factors are cached and
recomputed only when tau or interval change. The mean conductances apply whether or not the
std are zero (the published `on` switch that dropped them is not reproduced).
The updates run at the top of BREAKPOINT, which NEURON evaluates once per step (the slope
di/dv = g_e + g_i is given as CONDUCTANCE) at the step's midpoint, right where a BEFORE
BREAKPOINT block would run: same times, same draws, same numbers, without a per-instance
callback.
ENDCOMMENT

NEURON {
    POINT_PROCESS RcsdNoise
    RANGE g_e0, g_i0, std_e, std_i, tau_e, tau_i, E_e, E_i, interval
    RANGE g_e, g_i, g_e1, g_i1, i
    NONSPECIFIC_CURRENT i
    RANDOM ran
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    g_e0 = 0 (uS)
    g_i0 = 0 (uS)
    std_e = 0 (uS)
    std_i = 0 (uS)
    tau_e = 2.728 (ms)
    tau_i = 10.49 (ms)
    E_e = 0 (mV)
    E_i = -75 (mV)
    interval = 0.025 (ms)
}

ASSIGNED {
    v (mV)
    i (nA)
    g_e (uS)
    g_i (uS)
    g_e1 (uS)
    g_i1 (uS)
    n_updates (1)
    decay_e (1)
    decay_i (1)
    kick_e (1)
    kick_i (1)
    cached_tau_e (ms)
    cached_tau_i (ms)
    cached_interval (ms)
}

INITIAL {
    random_setseq(ran, 0)
    g_e1 = 0
    g_i1 = 0
    n_updates = 0
    coefficients()
}

PROCEDURE coefficients() {
    decay_e = exp(-interval / tau_e)
    kick_e = sqrt(1 - decay_e * decay_e)
    decay_i = exp(-interval / tau_i)
    kick_i = sqrt(1 - decay_i * decay_i)
    cached_tau_e = tau_e
    cached_tau_i = tau_i
    cached_interval = interval
}

BREAKPOINT {
    LOCAL gsum
    CONDUCTANCE gsum
    : t is the midpoint of the current step here; updates scheduled up to it take effect now.
    : An update within 1 % of an interval after it counts too (livn-diffrax uses the same margin):
    : when an update time coincides with the midpoint (dt = 2 interval, ...), the accumulated t
    : would otherwise fall on either side of it from step to step.
    while ((n_updates + 1) * interval <= t + 0.01 * interval) {
        if (tau_e != cached_tau_e || tau_i != cached_tau_i || interval != cached_interval) {
            coefficients()
        }
        g_e1 = decay_e * g_e1
        if (std_e > 0) {
            g_e1 = g_e1 + std_e * kick_e * random_normal(ran)
        }
        g_i1 = decay_i * g_i1
        if (std_i > 0) {
            g_i1 = g_i1 + std_i * kick_i * random_normal(ran)
        }
        n_updates = n_updates + 1
    }
    g_e = g_e0 + g_e1
    if (g_e < 0) {
        g_e = 0
    }
    g_i = g_i0 + g_i1
    if (g_i < 0) {
        g_i = 0
    }
    i = g_e * (v - E_e) + g_i * (v - E_i)
    gsum = g_e + g_i
}
