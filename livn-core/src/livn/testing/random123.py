"""A plain-Python reference of NEURON's Random123 noise streams, for backends that draw them.

Written from the published definitions, not from any backend: Philox4x32-10 (Salmon et al.,
SC'11) on Python integers, checked against the known-answer vectors of the Random123
distribution (:data:`KNOWN_ANSWERS`); NEURON's ``nrnran123`` stream layout (counter
``(seq, id3, id1, id2)``, key ``(0, 0)``, the four words of a block used in order, uniforms
``(u + 1) / (2^32 + 1)``) and its polar (Marsaglia) normal deviate. livn keys each RCSD section's
stream ``(gid + 1, section + 1, seed)`` (RCSD.md 4). Slow (pure Python): for tests.
"""

from __future__ import annotations

import math

__all__ = ["KNOWN_ANSWERS", "Stream", "philox4x32"]

_MASK = 0xFFFFFFFF

#: Philox4x32-10 known answers from the Random123 distribution: (counter, key, output) words.
KNOWN_ANSWERS = (
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((_MASK,) * 4, (_MASK, _MASK), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
)


def philox4x32(counter: tuple[int, ...], key: tuple[int, int]) -> tuple[int, int, int, int]:
    """Philox4x32-10 of four 32-bit counter words under two key words."""
    c, k = list(counter), list(key)
    for rnd in range(10):
        if rnd:
            k = [(k[0] + 0x9E3779B9) & _MASK, (k[1] + 0xBB67AE85) & _MASK]
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & _MASK, (p0 >> 32) ^ c[3] ^ k[1], p0 & _MASK]
    return c[0], c[1], c[2], c[3]


class Stream:
    """One NEURON Random123 stream with ids ``(id1, id2, id3)``, drawn word by word from its start."""

    def __init__(self, id1: int, id2: int, id3: int) -> None:
        self.ids, self.words = (id3, id1, id2), 0

    def uniform(self) -> float:
        """The next uniform in (0, 1)."""
        seq, which = divmod(self.words, 4)
        self.words += 1
        return (philox4x32((seq, *self.ids), (0, 0))[which] + 1.0) / 4294967297.0

    def normal(self) -> float:
        """The next standard normal deviate (polar method; rejected pairs use up their words)."""
        while True:
            u1, u2 = 2.0 * self.uniform() - 1.0, 2.0 * self.uniform() - 1.0
            w = u1 * u1 + u2 * u2
            if w <= 1.0:
                return u1 * math.sqrt(-2.0 * math.log(w) / w)
