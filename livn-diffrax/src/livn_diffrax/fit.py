"""Fitting parameters by gradient descent: constrained parameters, an optax optimiser, a plain loop.

:func:`fit` minimises ``loss_fn(params)`` (a scalar, e.g. a loss of :mod:`livn_diffrax.losses` on a
run of an env built with the functional setters ``env.with_cell_params``, ``env.with_weights``,
``env.with_noise``) over a pytree of parameters, and returns a :class:`FitResult`::

    def loss_fn(p):
        run = env.with_cell_params({"tau_m": p["tau_m"]}).run(30.0, stimulus=stim)
        return losses.voltage_mse(run.voltage.values, target)

    result = fit(loss_fn, {"tau_m": 8.0}, transforms={"tau_m": Positive()}, steps=100)
    result.params["tau_m"]

Constraints are transforms (:class:`Identity`, :class:`Positive`, :class:`Bounded`): the optimiser
works on unconstrained values ``u`` and the loss sees ``transform.forward(u)``, so a time constant
stays positive and a probability in (0, 1) whatever step the optimiser takes. ``transforms`` is a
pytree matched to the parameters: the same structure, or a prefix of it (one transform for a whole
sub-dict), with ``None`` meaning :class:`Identity`.

The step (value, gradient, optimiser update) is jit-compiled once per :func:`fit` call; compiling a
simulation takes seconds, each step after that runs at simulation speed. A NaN or infinite loss or
gradient stops the fit with :class:`NonFiniteLossError`, which says at which step and keeps the
history so far (``error.result``).

Progress: every ``log_every`` steps a line goes to the :mod:`logging` logger ``livn_diffrax.fit``
(level INFO), and is also printed when ``progress=True``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = ["Bounded", "FitResult", "Identity", "NonFiniteLossError", "Positive", "Transform", "constrain",
           "fit", "unconstrain"]

_log = logging.getLogger(__name__)

#: The default optimiser's learning rate (``optax.adam``), in unconstrained units per step.
DEFAULT_LEARNING_RATE = 0.05


# -- transforms -------------------------------------------------------------------------------------
class Transform:
    """A map from unconstrained reals to a parameter's allowed values: ``forward(u) -> x``, ``inverse(x) -> u``."""

    def forward(self, unconstrained: Any) -> jax.Array:
        raise NotImplementedError

    def inverse(self, constrained: Any) -> jax.Array:
        raise NotImplementedError

    def check(self, value: np.ndarray, where: str) -> None:
        """Raise ValueError when ``value`` (a parameter at ``where``) is outside the allowed range."""


class Identity(Transform):
    """No constraint: ``x = u``."""

    def forward(self, unconstrained: Any) -> jax.Array:
        return jnp.asarray(unconstrained)

    def inverse(self, constrained: Any) -> jax.Array:
        return jnp.asarray(constrained)

    def __repr__(self) -> str:
        return "Identity()"


class Positive(Transform):
    """Positive values: ``x = softplus(u) = log(1 + e^u)`` (default) or ``x = exp(u)`` (``method="exp"``).

    softplus is nearly the identity for large ``x`` (steps keep their size in the parameter's units);
    exp makes steps relative (suits values spanning decades).
    """

    def __init__(self, method: str = "softplus") -> None:
        if method not in ("softplus", "exp"):
            raise ValueError(f"Positive(method=...) is 'softplus' or 'exp', got {method!r}")
        self.method = method

    def forward(self, unconstrained: Any) -> jax.Array:
        u = jnp.asarray(unconstrained)
        return jnp.exp(u) if self.method == "exp" else jax.nn.softplus(u)

    def inverse(self, constrained: Any) -> jax.Array:
        x = jnp.asarray(constrained)
        if self.method == "exp":
            return jnp.log(x)
        # log(e^x - 1) = x + log(1 - e^-x), stable for large and small x
        return x + jnp.log(-jnp.expm1(-x))

    def check(self, value: np.ndarray, where: str) -> None:
        if np.any(~(value > 0)):
            raise ValueError(f"{where}: Positive() needs values > 0, got {_short(value)}")

    def __repr__(self) -> str:
        return f"Positive({self.method!r})"


class Bounded(Transform):
    """Values in the open interval ``(low, high)``: ``x = low + (high - low) * sigmoid(u)``."""

    def __init__(self, low: float, high: float) -> None:
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"Bounded(low, high) needs finite low < high, got ({low}, {high})")
        self.low, self.high = low, high

    def forward(self, unconstrained: Any) -> jax.Array:
        return self.low + (self.high - self.low) * jax.nn.sigmoid(jnp.asarray(unconstrained))

    def inverse(self, constrained: Any) -> jax.Array:
        fraction = (jnp.asarray(constrained) - self.low) / (self.high - self.low)
        return jnp.log(fraction) - jnp.log1p(-fraction)

    def check(self, value: np.ndarray, where: str) -> None:
        if np.any(~((value > self.low) & (value < self.high))):
            raise ValueError(f"{where}: initial value {_short(value)} is outside Bounded({self.low}, {self.high}) "
                             f"(the open interval); start inside it or widen the bounds")

    def __repr__(self) -> str:
        return f"Bounded({self.low}, {self.high})"


def _short(value: np.ndarray) -> str:
    value = np.asarray(value)
    return repr(value.item()) if value.size == 1 else np.array2string(value, threshold=6)


def _is_transform_leaf(x: Any) -> bool:
    return x is None or isinstance(x, Transform)


def _broadcast_transforms(transforms: Any, params: Any) -> Any:
    """The transform tree with one transform per parameter leaf (prefixes expanded, None -> Identity)."""
    if transforms is None:
        return jax.tree_util.tree_map(lambda _: Identity(), params)
    for leaf in jax.tree_util.tree_leaves(transforms, is_leaf=_is_transform_leaf):
        if not _is_transform_leaf(leaf):
            raise TypeError(f"transforms holds {leaf!r}; each entry must be a Transform (Identity, Positive, "
                            f"Bounded) or None")

    def expand(transform, subtree):
        transform = Identity() if transform is None else transform
        return jax.tree_util.tree_map(lambda _: transform, subtree)

    try:
        expanded = jax.tree_util.tree_map(expand, transforms, params, is_leaf=_is_transform_leaf)
    except (ValueError, TypeError) as exc:
        shown_t = jax.tree_util.tree_structure(transforms, is_leaf=_is_transform_leaf)
        shown_p = jax.tree_util.tree_structure(params)
        raise ValueError(f"the transforms do not match the parameters: transforms {shown_t}, parameters "
                         f"{shown_p}; give one transform per parameter (or one for a whole sub-tree)") from exc
    # the expanded tree of Transform leaves, flattened in the parameters' order
    leaves = jax.tree_util.tree_leaves(expanded, is_leaf=_is_transform_leaf)
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params), leaves)


def constrain(unconstrained: Any, transforms: Any = None) -> Any:
    """The constrained parameters ``forward(u)`` of a tree of unconstrained values."""
    expanded = _broadcast_transforms(transforms, unconstrained)
    return jax.tree_util.tree_map(lambda t, u: t.forward(u), expanded, unconstrained, is_leaf=_is_transform_leaf)


def unconstrain(params: Any, transforms: Any = None) -> Any:
    """The unconstrained values ``inverse(x)`` of a tree of parameters (checks they are in range)."""
    expanded = _broadcast_transforms(transforms, params)

    def invert(path, transform, value):
        transform.check(np.asarray(value), f"parameter {jax.tree_util.keystr(path) or '(root)'}")
        return transform.inverse(value)

    return jax.tree_util.tree_map_with_path(invert, expanded, params, is_leaf=_is_transform_leaf)


# -- the loop ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FitResult:
    """What :func:`fit` found.

    ``params``: the constrained parameters after the last step; ``best_params`` those with the lowest
    loss seen (``best_loss`` at step ``best_step``); ``losses`` ``[steps + 1]`` the loss at the start
    of each step and after the last one; ``steps`` how many optimiser steps were taken; ``wall_time``
    seconds (compilation included); ``converged`` whether ``tol`` stopped it; ``aux`` the auxiliary
    output of the last evaluation (with ``has_aux=True``).
    """

    params: Any
    best_params: Any
    losses: np.ndarray
    best_loss: float
    best_step: int
    steps: int
    wall_time: float
    converged: bool = False
    aux: Any = None

    @property
    def final_loss(self) -> float:
        """The loss of :attr:`params`."""
        return float(self.losses[-1])


class NonFiniteLossError(FloatingPointError):
    """The loss or its gradient became NaN or infinite during :func:`fit`; ``result`` holds the fit so far."""

    def __init__(self, message: str, result: FitResult | None = None) -> None:
        super().__init__(message)
        self.result = result


def _scalar_loss(output: Any, has_aux: bool) -> tuple[jax.Array, Any]:
    """The loss and aux of ``loss_fn``'s output, with the errors a wrong output deserves."""
    if has_aux:
        if not (isinstance(output, tuple) and len(output) == 2):
            raise TypeError(f"with has_aux=True loss_fn must return (loss, aux), got {type(output).__name__}")
        loss, aux = output
    else:
        if isinstance(output, tuple):
            raise TypeError(f"loss_fn returned a tuple of {len(output)}; return a scalar, or (loss, aux) with "
                            f"has_aux=True")
        loss, aux = output, None
    shape = jnp.shape(loss)
    if shape != ():
        raise ValueError(f"loss_fn must return a scalar loss, got shape {shape}; reduce it (jnp.sum, jnp.mean)")
    loss = jnp.asarray(loss)
    if not jnp.issubdtype(loss.dtype, jnp.floating):
        raise TypeError(f"loss_fn must return a real floating-point scalar, got dtype {loss.dtype}")
    return loss, aux


def _as_float_tree(params: Any) -> Any:
    def convert(path, value):
        array = jnp.asarray(value)
        if jnp.issubdtype(array.dtype, jnp.complexfloating) or array.dtype == bool:
            raise TypeError(f"parameter {jax.tree_util.keystr(path)} has dtype {array.dtype}; parameters are real")
        if not jnp.issubdtype(array.dtype, jnp.floating):
            array = array.astype(jnp.result_type(float))
        if not bool(jnp.all(jnp.isfinite(array))):
            raise ValueError(f"parameter {jax.tree_util.keystr(path)} is not finite: {_short(np.asarray(array))}")
        return array

    return jax.tree_util.tree_map_with_path(convert, params)


def _strong(tree: Any) -> Any:
    """The tree without weak types, so the updated values keep the compiled step's signature."""
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.asarray(a).dtype), tree)


def _to_numpy(tree: Any) -> Any:
    return jax.tree_util.tree_map(np.asarray, tree)


def fit(
    loss_fn: Callable[[Any], Any],
    init_params: Any,
    *,
    transforms: Any = None,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float | None = None,
    steps: int = 100,
    has_aux: bool = False,
    callback: Callable[..., Any] | None = None,
    progress: bool = False,
    log_every: int = 10,
    jit: bool = True,
    tol: float | None = None,
) -> FitResult:
    """Minimise ``loss_fn(params)`` from ``init_params`` by gradient descent; a :class:`FitResult`.

    ``loss_fn`` takes the constrained parameters (the pytree structure of ``init_params``) and returns
    a real scalar, or ``(loss, aux)`` with ``has_aux=True``. ``transforms``: a pytree of
    :class:`Transform` matched to the parameters (see the module docstring); the initial values must
    lie in their ranges. ``optimizer``: any optax ``GradientTransformation`` (default
    ``optax.adam(learning_rate)``, ``learning_rate`` default :data:`DEFAULT_LEARNING_RATE`; it acts on
    the unconstrained values). ``steps``: at most this many updates. ``tol``: stop once the loss
    changes by less than ``tol`` (absolute) from one step to the next. ``callback(step, params, loss,
    aux)`` runs after each evaluation (concrete values); returning True stops the fit. ``jit``:
    compile the step (False runs it op by op, for debugging). Progress every ``log_every`` steps
    goes to the ``livn_diffrax.fit`` logger, and to stdout with ``progress=True``.

    Raises ``ValueError``/``TypeError`` for bad input (non-scalar loss, transforms that do not match,
    initial values outside a :class:`Bounded` range) and :class:`NonFiniteLossError` when the loss or
    gradient becomes NaN or infinite.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if tol is not None and not tol >= 0:
        raise ValueError(f"tol must be None or >= 0, got {tol!r}")
    if isinstance(log_every, bool) or not isinstance(log_every, (int, np.integer)) or log_every < 1:
        raise ValueError(f"log_every must be a positive int (steps), got {log_every!r}")
    if optimizer is None:
        learning_rate = DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate
        if not (isinstance(learning_rate, (int, float)) and learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
        optimizer = optax.adam(learning_rate)
    elif learning_rate is not None:
        raise ValueError("learning_rate sets the default optimizer's rate; with optimizer=... set the rate there")
    if not jax.tree_util.tree_leaves(init_params):
        raise ValueError("init_params holds no parameters")

    params0 = _as_float_tree(init_params)
    expanded = _broadcast_transforms(transforms, params0)
    u0 = _strong(unconstrain(params0, expanded))
    for path, value in jax.tree_util.tree_leaves_with_path(u0):
        if not bool(jnp.all(jnp.isfinite(value))):
            raise ValueError(f"parameter {jax.tree_util.keystr(path)}: its initial value is at the edge of "
                             f"its transform's range; start inside it")

    def objective(u):
        loss, aux = _scalar_loss(loss_fn(constrain(u, expanded)), has_aux)
        return loss, aux

    def step(u, opt_state):
        (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(u)
        finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]))
        updates, new_state = optimizer.update(grads, opt_state, u)
        return optax.apply_updates(u, updates), new_state, loss, aux, finite

    run_step = jax.jit(step) if jit else step
    start = time.perf_counter()
    u, opt_state = u0, _strong(optimizer.init(u0))
    losses: list[float] = []
    best = (math.inf, 0, u0)
    converged = False
    aux = None
    taken = 0

    def result() -> FitResult:
        params = _to_numpy(constrain(u, expanded))
        best_loss, best_step, best_u = best
        return FitResult(params=params, best_params=_to_numpy(constrain(best_u, expanded)),
                         losses=np.asarray(losses, dtype=np.float64), best_loss=float(best_loss),
                         best_step=int(best_step), steps=taken, wall_time=time.perf_counter() - start,
                         converged=converged, aux=aux)

    for index in range(steps + 1):
        new_u, new_state, loss, aux, finite = run_step(u, opt_state)
        value = float(loss)
        if not math.isfinite(value) or not bool(finite):
            what = f"the loss was {value}" if not math.isfinite(value) else "the gradient was not finite"
            if index == 0:
                hint = "at the initial parameters: check loss_fn there (and the transforms' ranges)"
            else:
                hint = (f"after {index} steps (last finite loss {losses[-1]:.6g}); the steps were probably too "
                        f"large: try a smaller learning_rate")
            raise NonFiniteLossError(f"fit stopped at step {index}: {what} {hint}", result())
        losses.append(value)
        if value < best[0]:
            best = (value, index, u)
        if index % log_every == 0 or index == steps:
            line = f"step {index}/{steps}  loss {value:.6g}  best {best[0]:.6g}  {time.perf_counter() - start:.1f} s"
            _log.info(line)
            if progress:
                print(line, flush=True)
        stop = callback is not None and bool(callback(index, _to_numpy(constrain(u, expanded)), value, aux))
        if tol is not None and index > 0 and abs(losses[-2] - value) < tol:
            converged = True
        if stop or converged or index == steps:
            break
        u, opt_state = new_u, new_state
        taken += 1
    return result()
