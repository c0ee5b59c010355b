COMMENT
RCSD N-type calcium current with a GHK-type driving force (RCSD.md 1.5, 1.6).
I = gmax * m^2 * h * ghk(v, cai, cao), ghk in mV with f = KTF/2,
KTF = (36/293.15) * (celsius + 273.15) mV. Units: mV, S/cm2, mA/cm2, mM, ms.
m and h relax with the fixed time constants tau_m, tau_h:
  x <- x + (1 - exp(-dt/tau)) * (xinf(v) - x),
the exact step for v held over the step (what METHOD cnexp computes), written out so that the
factors 1 - exp(-dt/tau) are cached and recomputed only when dt or a time constant changes.
The steady state enters as (xinf / tau) / (1 / tau), cnexp's rounding, so the gates are the same
to the last bit (fixed step only, as the rest of RCSD: no CVODE).
ghk computes the driving force and its slope d ghk / dv (1) from one exp(v / f); the slope of
the current, gmax m^2 h d ghk / dv (S/cm2), is given to NEURON (CONDUCTANCE), so the current is
evaluated once per step. NEURON would otherwise evaluate it twice, at v + 0.001 and v, for a
difference quotient: the current is the same, the linearisation (and so v) differs slightly.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_can
    USEION ca READ cai, cao WRITE ica
    RANGE gmax, ica, tau_m, tau_h
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
    (mM) = (milli/liter)
}

PARAMETER {
    gmax = 0.001 (S/cm2)
    tau_m = 4 (ms)
    tau_h = 40 (ms)
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
    step_h (1)
    cached_dt (ms)
    cached_tau_m (ms)
    cached_tau_h (ms)
}

STATE { m h }

INITIAL {
    m = minf(v)
    h = hinf(v)
    coefficients()
}

BREAKPOINT {
    LOCAL gca
    CONDUCTANCE gca USEION ca
    SOLVE states
    ghk(v, cai, cao)
    ica = gmax * m * m * h * drive
    gca = gmax * m * m * h * slope
}

PROCEDURE coefficients() {
    step_m = 1 - exp(dt * (-1 / tau_m))
    step_h = 1 - exp(dt * (-1 / tau_h))
    cached_dt = dt
    cached_tau_m = tau_m
    cached_tau_h = tau_h
}

PROCEDURE states() {
    if (dt != cached_dt || tau_m != cached_tau_m || tau_h != cached_tau_h) {
        coefficients()
    }
    m = m + step_m * (minf(v) / tau_m / (1 / tau_m) - m)
    h = h + step_h * (hinf(v) / tau_h / (1 / tau_h) - h)
}

FUNCTION minf(v (mV)) {
    minf = 1 / (1 + exp(-(v + 30) / 5))
}

FUNCTION hinf(v (mV)) {
    hinf = 1 / (1 + exp((v + 45) / 5))
}

PROCEDURE ghk(v (mV), ci (mM), co (mM)) {
    : drive = -f (1 - (ci/co) e^z) efun(z), z = v / f, efun(z) = z / (e^z - 1), and its slope
    : d drive / dv = (ci/co) e^z efun(z) - (1 - (ci/co) e^z) efun'(z)
    LOCAL f, z, ez, efun, defun
    f = (36 / 293.15) * (celsius + 273.15) / 2
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
