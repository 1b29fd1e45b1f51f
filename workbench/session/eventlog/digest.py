"""The log's digest: what a recording stores so a replay can prove it produced the same rows.

Nothing in a row comes from a clock, so the same scenario and commands give the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

# Changes with columns.COLUMNS, so digests of another row layout never match.
_PERSON = b"wb-eventlog-v1"


def digest_of(blocks: Iterable[np.ndarray]) -> str:
    """blake2b over the rows' little-endian bytes (structured blocks, in row order)."""
    h = hashlib.blake2b(digest_size=16, person=_PERSON)
    for block in blocks:
        h.update(block.data)
    return h.hexdigest()
