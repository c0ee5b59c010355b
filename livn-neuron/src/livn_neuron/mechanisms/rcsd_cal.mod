COMMENT
RCSD L-type calcium current (dendrite only; RCSD.md 1.5, 1.6).
I = gmax * m * ghk(v, cai, cao), ghk in mV with f = KTF/2,
KTF = (25/293.15) * (celsius + 273.15) mV. A density current in mA/cm2, gmax in S/cm2.
m relaxes with the fixed time constant tau_m (ms):
  m <- m + (1 - exp(-dt/tau_m)) * (minf(v) - m),
the exact step for v held over the step (what METHOD cnexp computes), written out so that the
factor 1 - exp(-dt/tau_m) is cached and recomputed only when dt or tau_m changes. The steady
state enters as (minf / tau_m) / (1 / tau_m), cnexp's rounding, so the gate is the same to the
last bit (fixed step only, as the rest of RCSD: no CVODE).
ghk computes the driving force and its slope d ghk / dv (1) from one exp(v / f); the slope of
the current, gmax m d ghk / dv (S/cm2), is given to NEURON (CONDUCTANCE), so the current is
evaluated once per step. NEURON would otherwise evaluate it twice, at v + 0.001 and v, for a
difference quotient: the current is the same, the linearisation (and so v) differs slightly.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_cal
    USEION ca READ cai, cao WRITE ica
    RANGE gmax, ica, tau_m
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
    (mM) = (milli/liter)
}

PARAMETER {
    gmax = 1.3888775426905302e-05 (S/cm2)
    tau_m = 60 (ms)
}

ASSIGNED {
    v (mV)
    celsius (degC)
    cai (mM)
    cao (mM)
    ica (mA/cm2)
    drive (mV)
    slope (1)
    step_m (1)
    cached_dt (ms)
    cached_tau_m (ms)
}

STATE { m }

INITIAL {
    m = minf(v)
    coefficients()
}

BREAKPOINT {
    LOCAL gca
    CONDUCTANCE gca USEION ca
    SOLVE states
    ghk(v, cai, cao)
    ica = gmax * m * drive
    gca = gmax * m * slope
}

PROCEDURE coefficients() {
    step_m = 1 - exp(dt * (-1 / tau_m))
    cached_dt = dt
    cached_tau_m = tau_m
}

PROCEDURE states() {
    if (dt != cached_dt || tau_m != cached_tau_m) {
        coefficients()
    }
    m = m + step_m * (minf(v) / tau_m / (1 / tau_m) - m)
}

FUNCTION minf(v (mV)) {
    minf = 1 / (1 + exp(-(v + 40) / 7))
}

PROCEDURE ghk(v (mV), ci (mM), co (mM)) {
    : drive = -f (1 - (ci/co) e^z) efun(z), z = v / f, efun(z) = z / (e^z - 1), and its slope
    : d drive / dv = (ci/co) e^z efun(z) - (1 - (ci/co) e^z) efun'(z)
    LOCAL f, z, ez, efun, defun
    f = (25 / 293.15) * (celsius + 273.15) / 2
    z = v / f
    ez = exp(z)
    if (fabs(z) < 1e-4) {
        efun = 1 - z / 2
        defun = -1 / 2 + z / 6
    } else {
        efun = z / (ez - 1)
        defun = (ez - 1 - z * ez) / ((ez - 1) * (ez - 1))
    }
    drive = -f * (1 - (ci / co) * ez) * efun
    slope = (ci / co) * ez * efun - (1 - (ci / co) * ez) * defun
}
