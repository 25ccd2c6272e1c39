"""Features, distances and 2-D embeddings of a table's functions (docs/search.md, docs/generation.md).

* Outputs: the function on the 1000 sample points; distance: RMS difference.
* FIM: the concatenated per-layer CDFs of the Fisher log-eigenvalues; distance: the per-layer
  1-Wasserstein distance (area between CDFs, bin width × |ΔF| summed over bins) summed over layers.
  When a table does not know its layout every bin counts with width 1: the L1 distance of the
  concatenated CDFs, as in the reference.
* Embeddings: UMAP of the outputs (euclidean), of the FIM features (manhattan on width-scaled CDFs,
  which is exactly the summed per-layer Wasserstein distance; ``n_neighbors=3``), and their fuzzy
  union (``both``), in 2-D. UMAP is unsupervised, so on a fixed table the embedding does not depend
  on which functions a search has evaluated: it is computed once per table, feature set and seed,
  and cached on disk (keyed by the table's sha256), so that a search never refits it.

Before embedding, non-finite values are made finite: outputs are clipped to ±:data:`OUTPUT_CLIP`
(NaN → 0), and a missing FIM feature (NaN) is read as a CDF of zeros (no mass in range).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

import numpy as np

from actbench.base.errors import MissingExtraError
from actbench.base.files import atomic_write, sha256_file
from actbench.base.settings import cache_dir as _cache_dir
from actbench.table.schema import FimLayer

__all__ = ["EMBEDDING_METHODS", "EXACT_UP_TO", "FAST_COMPONENTS", "FEATURE_SETS", "OUTPUT_CLIP", "embedding",
           "fim_distance", "fim_matrix", "outputs_matrix", "outputs_projection", "resolve_method", "rms_distance"]

FeatureSet = Literal["fim", "outputs", "both"]
FEATURE_SETS: tuple[str, ...] = ("fim", "outputs", "both")
OUTPUT_CLIP = 100.0
_EMBEDDING_VERSION = 1
EMBEDDING_METHODS: tuple[str, ...] = ("auto", "exact", "fast")
#: ``method="auto"`` fits the paper's UMAP (``exact``) up to this many rows, ``fast`` above
EXACT_UP_TO = 50_000
#: principal components of the outputs that the fast embedding's UMAP sees
FAST_COMPONENTS = 32
_FAST_EPOCHS = 100
_CHUNK = 16_384


def rms_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Root-mean-square difference of two output vectors."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean(d * d)))


def bin_widths(layers: list[FimLayer] | None, n_fim: int) -> np.ndarray:
    """(n_fim,) width of each CDF bin in log-eigenvalue units (1 everywhere when the layout is unknown)."""
    if not layers:
        return np.ones(n_fim)
    w = np.ones(n_fim)
    for layer in layers:
        if layer.n_bins:
            w[layer.offset:layer.offset + layer.n_bins] = 200.0 / layer.n_bins
    return w


def fim_distance(a: np.ndarray, b: np.ndarray, layers: list[FimLayer] | None = None) -> float:
    """Per-layer 1-Wasserstein distance between two FIM features, summed over layers."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.sum(np.abs(a - b) * bin_widths(layers, a.size)))


def fim_matrix(bench) -> np.ndarray:
    """(n_rows, n_fim) FIM features scaled by bin width (so that L1 = summed Wasserstein), NaN → 0."""
    cdf = np.nan_to_num(bench.features("fim").astype(np.float64), nan=0.0)
    return cdf * bin_widths(bench.fim_layers, cdf.shape[1])[None, :]


def _clipped(out: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=OUTPUT_CLIP, neginf=-OUTPUT_CLIP), -OUTPUT_CLIP, OUTPUT_CLIP)


def outputs_matrix(bench) -> np.ndarray:
    """(n_rows, 1000) outputs clipped to ±OUTPUT_CLIP, NaN → 0."""
    return _clipped(bench.features("outputs").astype(np.float64))


def outputs_projection(bench, n_components: int = FAST_COMPONENTS) -> tuple[np.ndarray, np.ndarray]:
    """(n_rows, n_components) float32 principal components of the clipped outputs, and the fraction of the
    variance each keeps. Exact PCA, read in chunks of rows: the covariance is accumulated in float64 from
    float32 rows, so memory stays at a few chunks plus the result, whatever the table's size."""
    data = bench.data
    n = len(bench)
    k = min(n_components, n, 1000)
    total, gram = np.zeros(1000), np.zeros((1000, 1000))
    for lo in range(0, n, _CHUNK):
        x = _clipped(data.outputs(slice(lo, lo + _CHUNK))).astype(np.float64)
        total += x.sum(axis=0)
        gram += x.T @ x
    mean = total / max(n, 1)
    cov = gram / max(n, 1) - np.outer(mean, mean)
    values, vectors = np.linalg.eigh(cov)
    top = np.argsort(values)[::-1][:k]
    basis = vectors[:, top]
    basis *= np.where(basis[np.abs(basis).argmax(axis=0), np.arange(k)] < 0, -1.0, 1.0)  # a fixed sign per axis
    out = np.empty((n, k), dtype=np.float32)
    for lo in range(0, n, _CHUNK):
        x = _clipped(data.outputs(slice(lo, lo + _CHUNK))).astype(np.float64)
        out[lo:lo + len(x)] = (x - mean) @ basis
    kept = np.clip(values[top], 0, None) / max(float(np.clip(values, 0, None).sum()), 1e-300)
    return out, kept


@functools.lru_cache(maxsize=32)
def _table_digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def embedding(bench, features: FeatureSet = "both", *, seed: int = 0, cache_dir: str | os.PathLike | None = None,
              use_cache: bool = True, method: str = "auto") -> np.ndarray:
    """(n_rows, 2) float64 UMAP embedding of a table's functions, computed once and cached.

    Args:
        bench: an :class:`actbench.ActBench`.
        features: ``"fim"``, ``"outputs"`` or ``"both"`` (fuzzy union of the two).
        seed: UMAP's random state (deterministic for a seed on one machine).
        cache_dir: default ``$ACTBENCH_CACHE/embeddings`` (``~/.cache/actbench/embeddings``).
        use_cache: read and write the cache.
        method: ``"exact"``, the paper's: UMAP of the 1000 outputs themselves; ``"fast"``: UMAP (low-memory
            nearest-neighbour search, 100 epochs, initialised by PCA instead of a spectral layout) of the outputs' first :data:`FAST_COMPONENTS` principal
            components (:func:`outputs_projection`), which embeds the large space's 387,232 functions in
            minutes instead of an hour (docs/performance.md); ``"auto"`` (default): exact up to
            :data:`EXACT_UP_TO` rows, fast above. FIM features are embedded the same way by both (their
            tables hold a sample, a few thousand rows).

    Raises:
        ValueError: unknown feature set, or FIM features asked of a table without them.
        MissingExtraError: umap-learn is not installed (``pip install 'actbench[search]'``).
    """
    if features not in FEATURE_SETS:
        raise ValueError(f"features must be one of {FEATURE_SETS}, got {features!r}")
    method = resolve_method(method, len(bench))
    st = bench.path.stat()
    digest = _table_digest(str(bench.path), st.st_size, st.st_mtime_ns)
    folder = Path(cache_dir) if cache_dir is not None else _cache_dir() / "embeddings"
    fast = "-fast" if method == "fast" and features != "fim" else ""
    fname = f"{digest[:24]}-{features}{fast}-seed{seed}-v{_EMBEDDING_VERSION}.npy"
    path = folder / fname
    shipped = _shipped_embeddings() / fname  # precomputed for the shipped mini table
    if use_cache and not path.exists() and shipped.exists():
        path = shipped
    if use_cache and path.exists():
        emb = np.load(path, allow_pickle=False)
        if emb.shape == (len(bench), 2):
            return emb
    emb = _fit(bench, features, seed, method)
    if use_cache:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / fname, hidden=True) as tmp, open(tmp, "wb") as f:
            np.save(f, emb, allow_pickle=False)
    return emb


def _shipped_embeddings() -> Path:
    from importlib import resources

    return Path(str(resources.files("actbench").joinpath("data", "embeddings")))


def resolve_method(method: str, n_rows: int) -> str:
    """``"exact"`` or ``"fast"`` for a table of ``n_rows`` (``"auto"``: exact up to :data:`EXACT_UP_TO`)."""
    if method not in EMBEDDING_METHODS:
        raise ValueError(f"embedding method must be one of {EMBEDDING_METHODS}, got {method!r}")
    return ("exact" if n_rows <= EXACT_UP_TO else "fast") if method == "auto" else method


def _fit(bench, features: str, seed: int, method: str = "exact") -> np.ndarray:
    if features in ("fim", "both") and not bench.data.n_fim:
        raise ValueError(f"{bench.path.name} has no FIM features; use features='outputs'")
    try:
        import umap
    except ImportError as e:
        raise MissingExtraError("embeddings need umap-learn: pip install 'actbench[search]'") from e
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UMAP warns that a random_state disables parallelism
        mappers = []
        if features in ("fim", "both"):
            mappers.append(umap.UMAP(n_components=2, n_neighbors=3, metric="manhattan", random_state=seed)
                           .fit(fim_matrix(bench)))
        if features in ("outputs", "both") and method == "fast":
            mappers.append(umap.UMAP(n_components=2, metric="euclidean", random_state=seed, low_memory=True,
                                     n_epochs=_FAST_EPOCHS, init="pca").fit(outputs_projection(bench)[0]))
        elif features in ("outputs", "both"):
            outputs = _clipped(bench.features("outputs").astype(np.float32))  # UMAP computes in float32
            mappers.append(umap.UMAP(n_components=2, metric="euclidean", random_state=seed).fit(outputs))
        mapper = mappers[0] if len(mappers) == 1 else mappers[0] + mappers[1]
    return np.asarray(mapper.embedding_, dtype=np.float64)
