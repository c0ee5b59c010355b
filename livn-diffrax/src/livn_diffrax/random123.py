"""NEURON's Random123 noise streams in JAX, so that RCSD noise is the same on both backends.

The NEURON backend draws each section's OU noise (RCSD.md 4) from a Random123 stream keyed
``(gid + 1, section + 1, seed)`` (soma = section 0, dendrite = 1), with NEURON's ``nrnran123``
conventions: a Philox4x32-10 block of four 32-bit words per counter value, counter
``(seq, seed, gid + 1, section + 1)``, key ``(0, 0)`` (NEURON's global index 0), words used in
order, and normal deviates by the polar (Marsaglia) method on uniforms ``(u + 1) / (2^32 + 1)``,
keeping the first deviate of each accepted pair. This module reproduces those draws exactly, so a
diffrax RCSD run with seed ``s`` sees the very noise the NEURON run with seed ``s`` sees, and the
two backends give the same network activity for the same seed (not only the same statistics).

A stream's state is the number of 32-bit words it has consumed (``position``); it starts at 0
whenever the network is initialised, as NEURON's streams restart at every ``finitialize``.
Everything here is integer arithmetic on ``uint32`` (products in ``uint64``), so it needs x64
mode, which the backend always enables.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["normal_draws", "philox4x32", "uniform_pair"]

_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_WEYL = (0x9E3779B9, 0xBB67AE85)
_LOW32 = 0xFFFFFFFF
#: NEURON's map from a 32-bit word u to (0, 1): (u + 1) / (2^32 + 1).
_SHIFT32 = 1.0 / 4294967297.0


def _mulhilo(a: jax.Array, multiplier: int) -> tuple[jax.Array, jax.Array]:
    product = a.astype(jnp.uint64) * jnp.uint64(multiplier)
    return (product >> jnp.uint64(32)).astype(jnp.uint32), (product & jnp.uint64(_LOW32)).astype(jnp.uint32)


def philox4x32(counter: tuple[jax.Array, ...], key: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, ...]:
    """The Philox4x32-10 block cipher: four ``uint32`` counter words and two key words -> four words.

    Arrays broadcast elementwise (one block per element).
    """
    c0, c1, c2, c3 = (jnp.asarray(c, jnp.uint32) for c in counter)
    k0, k1 = (jnp.asarray(k, jnp.uint32) for k in key)
    for rnd in range(10):
        if rnd:
            k0 = k0 + jnp.uint32(_WEYL[0])
            k1 = k1 + jnp.uint32(_WEYL[1])
        hi0, lo0 = _mulhilo(c0, _MULTIPLIERS[0])
        hi1, lo1 = _mulhilo(c2, _MULTIPLIERS[1])
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def uniform_pair(position: jax.Array, ids: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """The two uniforms (float64 in (0, 1)) at words ``position`` and ``position + 1`` of each stream.

    ``position`` (uint32, even) counts the words a stream has used; ``ids`` is ``(seed, id1, id2)``
    as uint32 arrays broadcastable to ``position``. An even position never straddles a block.
    """
    seq = position >> jnp.uint32(2)
    which = (position & jnp.uint32(3)).astype(jnp.int32)
    zero = jnp.zeros_like(seq)
    block = jnp.stack(philox4x32((seq, ids[0], ids[1], ids[2]), (zero, zero)), axis=-1)
    first = jnp.take_along_axis(block, which[..., None], axis=-1)[..., 0]
    second = jnp.take_along_axis(block, which[..., None] + 1, axis=-1)[..., 0]
    return (first.astype(jnp.float64) + 1.0) * _SHIFT32, (second.astype(jnp.float64) + 1.0) * _SHIFT32


def normal_draws(
    position: jax.Array, ids: tuple[jax.Array, jax.Array, jax.Array], need: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """One standard normal deviate per stream where ``need`` (NEURON's ``nrnran123_normal``).

    ``position`` (uint32 words used, even), ``ids`` as in :func:`uniform_pair`, ``need`` (bool)
    all of one shape. Returns ``(xi, new_position)``: ``xi`` is 0 where nothing was drawn, and a
    stream that drew advanced by two words per tried pair (rejected pairs included).
    """

    def cond(carry):
        return jnp.any(carry[2])

    def body(carry):
        pos, xi, todo = carry
        u1, u2 = uniform_pair(pos, ids)
        u1 = 2.0 * u1 - 1.0
        u2 = 2.0 * u2 - 1.0
        w = u1 * u1 + u2 * u2
        accepted = todo & (w <= 1.0)
        safe_w = jnp.where(accepted, w, 0.5)
        xi = jnp.where(accepted, u1 * jnp.sqrt(-2.0 * jnp.log(safe_w) / safe_w), xi)
        pos = jnp.where(todo, pos + jnp.uint32(2), pos)
        return pos, xi, todo & ~accepted

    position = jnp.asarray(position, jnp.uint32)
    start = (position, jnp.zeros(position.shape, jnp.float64), jnp.asarray(need, bool))
    new_position, xi, _ = jax.lax.while_loop(cond, body, start)
    return xi, new_position
