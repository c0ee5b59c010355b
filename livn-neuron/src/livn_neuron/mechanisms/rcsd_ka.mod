COMMENT
RCSD A-type potassium current of the V1 Renshaw interneuron (RCSD.md 2.2).
I = gmax * a * b * (v - ek); a, b relax with fixed time constants. Units: mV, S/cm2, mA/cm2, ms.
Each gate takes the exact step for v held over the step (what METHOD cnexp computes),
  x <- x + (1 - exp(-dt/tau)) * (xinf(v) - x),
written out so that the factors 1 - exp(-dt/tau) are cached and recomputed only when dt or a
time constant changes. The steady state enters as (xinf / tau) / (1 / tau), cnexp's rounding, so
results are the same to the last bit (fixed step only, as the rest of RCSD: no CVODE).
The slope di/dv = gmax a b is given to NEURON (CONDUCTANCE), so the current is evaluated once
per step instead of twice for a difference quotient.
ENDCOMMENT

NEURON {
    SUFFIX rcsd_ka
    USEION k READ ek WRITE ik
    RANGE gmax, ik, tau_a, tau_b
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gmax = 0.0059051355347037315 (S/cm2)
    tau_a = 1 (ms)
    tau_b = 15 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    step_a (1)
    step_b (1)
    cached_dt (ms)
    cached_tau_a (ms)
    cached_tau_b (ms)
}

STATE { a b }

INITIAL {
    a = ainf(v)
    b = binf(v)
    coefficients()
}

BREAKPOINT {
    LOCAL gk
    CONDUCTANCE gk USEION k
    SOLVE states
    gk = gmax * a * b
    ik = gk * (v - ek)
}

PROCEDURE coefficients() {
    step_a = 1 - exp(dt * (-1 / tau_a))
    step_b = 1 - exp(dt * (-1 / tau_b))
    cached_dt = dt
    cached_tau_a = tau_a
    cached_tau_b = tau_b
}

PROCEDURE states() {
    if (dt != cached_dt || tau_a != cached_tau_a || tau_b != cached_tau_b) {
        coefficients()
    }
    a = a + step_a * (ainf(v) / tau_a / (1 / tau_a) - a)
    b = b + step_b * (binf(v) / tau_b / (1 / tau_b) - b)
}

FUNCTION ainf(v (mV)) {
    ainf = 1 / (1 + exp(-(v + 36) / 8))
}

FUNCTION binf(v (mV)) {
    binf = 1 / (1 + exp((v + 66) / 8))
}
