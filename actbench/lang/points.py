"""The sample points and the equivalence rule: which outputs make two functions the same function.

The bottom of the function language, and all of it that the table format needs: a table records its
outputs' keys and the rule's constants, and reading a table never imports more of the language than this.

Two functions are equivalent when their float64 outputs on the 1000 sample points (:func:`sample_points`)
are the same after rounding each value to :data:`EQUIVALENCE_BITS` significant bits (a relative tolerance
of about 2**-33 ≈ 1.2e-10), with NaN and ±inf in the same places (all NaNs are alike; ``-0.0 == 0.0``).
:func:`output_keys` turns rows of outputs into two independent 64-bit keys.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["EQUIVALENCE_BITS", "N_POINTS", "output_keys", "sample_points"]

#: Significant bits (of float64's 53) kept when outputs are compared for equivalence.
EQUIVALENCE_BITS = 32
#: Number of sample points.
N_POINTS = 1000


@functools.lru_cache(maxsize=1)
def _points() -> np.ndarray:
    # The reference: np.random.seed(0); np.clip(np.random.normal(size=1000), -5, 5).
    # RandomState(0) draws the same stream without touching NumPy's global state.
    pts = np.clip(np.random.RandomState(0).normal(size=N_POINTS), -5, 5)
    pts.setflags(write=False)
    return pts


def sample_points() -> np.ndarray:
    """The 1000 sample points of the reference, float64, read-only, bit-identical to
    ``np.random.seed(0); np.clip(np.random.normal(size=1000), -5, 5)``."""
    return _points()


# --- rounding and hashing ------------------------------------------------------------------

@functools.cache
def _weights() -> tuple[np.ndarray, np.ndarray]:
    """The two hashes' odd 64-bit weights, drawn once (not at import: numpy.random costs a query's time)."""
    rng = np.random.RandomState(20231210)
    w1 = rng.randint(0, 2**63 - 1, size=N_POINTS, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    w2 = rng.randint(0, 2**63 - 1, size=N_POINTS, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    return w1, w2

_DROP = 52 - (EQUIVALENCE_BITS - 1)  # stored mantissa bits that rounding removes
_NAN_BITS = np.uint64(0x7FF8000000000000)


def _rounded(outputs: np.ndarray) -> np.ndarray:
    """Rows of ``outputs`` (n, P) as uint64 codes: equal codes <=> equal after rounding."""
    v = np.asarray(outputs, dtype=np.float64) + 0.0  # + 0.0 turns -0.0 into 0.0
    bits = v.view(np.uint64)
    bits = np.where(np.isnan(v), _NAN_BITS, bits)
    # round half up on the magnitude; a carry moves into the exponent, as it should
    bits += np.uint64(1 << (_DROP - 1))
    bits >>= np.uint64(_DROP)
    return bits


def output_keys(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes per row of ``outputs`` (n_functions, n_points).

    Equivalent rows (see the module docstring) get equal keys; distinct rows collide with
    probability about 2**-64 per hash. Returns ``(h1, h2)``, each uint64 of shape (n_functions,).
    """
    outputs = np.atleast_2d(outputs)
    if outputs.shape[-1] != N_POINTS:
        raise ValueError(f"outputs must have {N_POINTS} columns (the sample points), got {outputs.shape}")
    q = _rounded(outputs)
    w1, w2 = _weights()
    return (q * w1).sum(axis=1, dtype=np.uint64), (q * w2).sum(axis=1, dtype=np.uint64)


def _dedupe(h1: np.ndarray, h2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first index of each distinct h1, inverse map); raises if h2 disagrees within a group."""
    _, first, inverse = np.unique(h1, return_index=True, return_inverse=True)
    if not np.array_equal(h2[first][inverse], h2):
        raise RuntimeError("64-bit hash collision while deduplicating outputs; please report this")
    return first, inverse.ravel()
