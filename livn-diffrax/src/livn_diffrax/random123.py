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
:func:`normal_draws` draws one deviate per stream as the simulation needs it, trying pairs until
every stream has accepted one. The draws do not depend on the network's state, so they can also
be made ahead: :func:`draw_ahead` evaluates the next candidate pairs of every stream in one
vectorised pass and :func:`take_ahead` hands them out; the deviates and positions are the same.

Everything here is integer arithmetic on ``uint32`` (products in ``uint64``), so it needs x64
mode, which the backend always enables.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["draw_ahead", "normal_draws", "philox4x32", "take_ahead", "uniform_pair"]

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


def draw_ahead(position: jax.Array, ids: tuple[jax.Array, jax.Array, jax.Array], tries: int) -> dict[str, jax.Array]:
    """The next ``tries`` candidate pairs of every stream, evaluated at once, for :func:`take_ahead`.

    ``position`` (uint32 words used, even, shape ``S``) and ``ids`` as in :func:`normal_draws`.
    Returns float64 arrays (a diffrax state holds floats; whole numbers stay exact): ``start``
    ``S`` (the position the candidates start at), ``xi`` ``(tries,) + S`` (the deviate of each
    accepted candidate, 0 where rejected) and ``next`` ``(tries,) + S`` (the first accepted
    candidate at or after each, ``tries`` if none). The candidates lead (a row per candidate):
    the scan for ``next`` and the lookups of :func:`take_ahead` are cheapest that way.
    """
    position = jnp.asarray(position, jnp.uint32)
    shape = position.shape
    # candidate j uses words position + 2j and + 2j + 1: the blocks from position's, two pairs each
    n_blocks = tries // 2 + 1
    seq = (position >> jnp.uint32(2)) + jnp.arange(n_blocks, dtype=jnp.uint32).reshape((n_blocks,) + (1,) * len(shape))
    ids = tuple(jnp.broadcast_to(jnp.asarray(i, jnp.uint32), shape) for i in ids)
    zero = jnp.zeros_like(seq)
    c0, c1, c2, c3 = philox4x32((seq, *ids), (zero, zero))
    # the pairs in stream order: (c0, c1) then (c2, c3) of each block; an even position starts at
    # word 0 (candidate j is pair j) or word 2 (candidate j is pair j + 1)
    firsts = jnp.stack([c0, c2], axis=1).reshape((2 * n_blocks,) + shape)
    seconds = jnp.stack([c1, c3], axis=1).reshape((2 * n_blocks,) + shape)
    aligned = (position & jnp.uint32(3)) == 0
    first = jnp.where(aligned, firsts[:tries], firsts[1 : tries + 1])
    second = jnp.where(aligned, seconds[:tries], seconds[1 : tries + 1])
    u1 = 2.0 * ((first.astype(jnp.float64) + 1.0) * _SHIFT32) - 1.0
    u2 = 2.0 * ((second.astype(jnp.float64) + 1.0) * _SHIFT32) - 1.0
    w = u1 * u1 + u2 * u2
    accepted = w <= 1.0
    safe_w = jnp.where(accepted, w, 0.5)
    xi = jnp.where(accepted, u1 * jnp.sqrt(-2.0 * jnp.log(safe_w) / safe_w), 0.0)
    index = jnp.where(accepted, jnp.arange(tries, dtype=jnp.int32).reshape((tries,) + (1,) * len(shape)), tries)

    def earliest(found, row):
        found = jnp.minimum(found, row)
        return found, found

    _, following = jax.lax.scan(earliest, jnp.full(shape, tries, jnp.int32), index, reverse=True)
    return {"start": position.astype(jnp.float64), "xi": xi, "next": following.astype(jnp.float64)}


def take_ahead(
    ahead: dict[str, jax.Array], cursor: jax.Array, words: jax.Array,
    ids: tuple[jax.Array, jax.Array, jax.Array], need: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One deviate per stream where ``need``, from the candidates of :func:`draw_ahead`.

    ``cursor`` (int32, shape ``S``) is the first candidate not yet looked at, ``words`` (float64)
    the words each stream has used. Returns ``(xi, cursor, words)``: the deviates
    :func:`normal_draws` gives from ``words`` (by the same arithmetic) and the same positions. A
    stream whose candidates have run out draws on from its position with :func:`normal_draws`
    (rare when ``tries`` has a margin; no work otherwise).
    """
    tries = ahead["xi"].shape[0]
    # flat lookups of row `candidate` of each stream (cheaper than a gather along a trailing axis)
    streams = jnp.arange(cursor.size, dtype=jnp.int32).reshape(cursor.shape)

    def row(array, candidate):
        return array.reshape(-1)[jnp.minimum(candidate, tries - 1) * cursor.size + streams]

    found = jnp.where(cursor < tries, row(ahead["next"], cursor).astype(jnp.int32), tries)
    here = need & (found < tries)
    xi = jnp.where(here, row(ahead["xi"], found), 0.0)
    words = jnp.where(here, ahead["start"] + 2.0 * (found + 1).astype(jnp.float64), words)
    cursor = jnp.where(need, jnp.minimum(found + 1, tries), cursor)
    short = need & ~here

    def draw_on(args):
        xi, words = args
        late, position = normal_draws(words.astype(jnp.uint32), ids, short)
        return jnp.where(short, late, xi), jnp.where(short, position.astype(jnp.float64), words)

    xi, words = jax.lax.cond(jnp.any(short), draw_on, lambda args: args, (xi, words))
    return xi, cursor, words
