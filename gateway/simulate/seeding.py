"""Deterministic randomness keyed by a seed and a name, independent of call order.

``random.Random(hash(...))`` would change between runs (string hashing is salted), and one
shared generator would make a citizen's reply depend on how many other citizens were surveyed
before. Hashing ``seed`` and the key with SHA-256 gives every (seed, number, n) its own stream.
"""

from __future__ import annotations

import hashlib
import random


def rng_for(seed: int | str, *key: object) -> random.Random:
    """A generator that depends only on ``seed`` and ``key``."""
    material = ":".join([str(seed), *map(str, key)]).encode("utf-8")
    return random.Random(int.from_bytes(hashlib.sha256(material).digest()[:8], "big"))
