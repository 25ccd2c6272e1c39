"""K-FAC Fisher-information features of a network at initialization.

For every ``nn.Linear`` and ``nn.Conv2d`` (depthwise and grouped included), in forward order, the
empirical Fisher block of its weights is approximated by K-FAC as ``A ⊗ G``: ``A`` from the layer's
inputs (im2col patches for a conv, with a column of ones when the layer has a bias), ``G`` from the
gradients of the loss w.r.t. the layer's outputs (Martens & Grosse 2015 for dense layers, Grosse &
Martens 2016 for convolutions). The eigenvalues of ``A ⊗ G`` are all products ``λ_A λ_G``, so the
layer's log-eigenvalues are all pairwise sums ``log λ_A + log λ_G``: exactly ``n_weights`` of them
(bias included). They are kept as factor eigenvalues and combined only as NumPy arrays, never as
Python lists.

Two normalisations (``convention=``), documented side by side in ``docs/generation.md``:

``"reference"`` (the default)
    What the paper's reference implementation computes, and so the scale of the official release's
    ``Fisher log eigenvalue CDF``: gradients of the batch-**mean** loss; conv ``A = Σ a aᵀ / batch``
    and ``G = Σ g gᵀ / (batch × locations)``; a depthwise (or grouped) conv has **one** ``A`` pooled
    over channels (groups) from patches of ``k·k·C_in/groups`` values and the full ``C_out × C_out``
    ``G`` divided by batch × locations × groups; dense ``A = Σ a aᵀ / (fan_in + 1)`` and
    ``G = Σ g gᵀ / (fan_in + 1)`` (the reference divides by the input size plus one where the batch
    size was meant). Use it for every feature meant to sit beside the official ones.
``"kfac"``
    The textbook normalisation: per-example gradients, ``A`` and ``G`` averaged over batch ×
    locations, one ``(A_j, G_j)`` pair per group of a grouped conv (its Fisher block is
    block-diagonal over groups). For a conv or dense layer it differs from ``"reference"`` by a
    constant shift of every log-eigenvalue: ``2 log(batch) − log(locations)`` for a conv,
    ``2 log(fan_in + 1)`` for a dense layer; for a depthwise conv the spectrum itself differs.

The feature of a layer is the CDF of a histogram of those log-eigenvalues with edges
``np.linspace(-100, 100, n_weights // 100)`` (density, cumulative sum, divided by its last value);
non-finite and out-of-range values are dropped, as ``np.histogram`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch
from torch import nn

from actbench.table import FIM_CONVENTIONS, FimConvention, FimLayer

__all__ = ["CONVENTIONS", "Convention", "KfacBlock", "fim_feature", "kfac_factors", "kfac_log_eigenvalues",
           "layer_cdf"]

Convention = FimConvention
#: The K-FAC normalisations ``kfac_factors`` knows (the vocabulary of the table format's
#: ``fim_convention``); ``"reference"`` is the official release's.
CONVENTIONS: tuple[str, ...] = FIM_CONVENTIONS

_PAIR_CHUNK = 4_000_000  # pairwise sums materialised at once, at most
_GRAM_BMM_MAX_D = 256  # factor sizes up to this are summed slice by slice (see _gram)
_GRAM_CHUNK_BYTES = 1 << 26  # memory of the per-slice products held at once


@dataclass
class KfacBlock:
    """The K-FAC factors' eigenvalues of one layer.

    Attributes:
        name: the module's qualified name.
        n_weights: weights incl. bias (= number of log-eigenvalues).
        log_a: (blocks, d_A) natural logs of A's eigenvalues (-inf where an eigenvalue is <= 0).
        log_g: (blocks, d_G) natural logs of G's eigenvalues. ``blocks`` is the number of groups of a
            grouped conv under ``"kfac"``, else 1.
    """

    name: str
    n_weights: int
    log_a: np.ndarray
    log_g: np.ndarray

    def log_eigenvalues(self) -> np.ndarray:
        """All ``n_weights`` pairwise sums, (blocks · d_A · d_G,) float64."""
        return (self.log_a[:, :, None] + self.log_g[:, None, :]).ravel()

    def lost_fractions(self, lo: float = -100.0, hi: float = 100.0) -> dict[str, float]:
        """Which share of the ``n_weights`` log-eigenvalues the histogram (edges ``lo`` .. ``hi``) cannot
        see: ``below`` lo, ``above`` hi, and ``nonfinite`` (a zero or negative factor eigenvalue, or no
        eigenvalues at all). Counted without forming the pairwise sums."""
        below = above = finite = 0
        for la, lg in zip(self.log_a, self.log_g):
            a, g = la[np.isfinite(la)], np.sort(lg[np.isfinite(lg)])
            finite += a.size * g.size
            below += int(np.searchsorted(g, lo - a, side="left").sum())
            above += int((g.size - np.searchsorted(g, hi - a, side="right")).sum())
        n = self.log_a.size * self.log_g.shape[1]
        return {"below": below / n, "above": above / n, "nonfinite": (n - finite) / n}


def kfac_factors(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn, *,
                 convention: Convention = "reference") -> list[KfacBlock]:
    """K-FAC factor eigenvalues of every Linear/Conv2d layer of ``model``, in forward order, from one batch.

    Args:
        model: the network (its current mode is used: call ``model.train()`` for training-mode BN).
        inputs: one batch's inputs.
        targets: its targets.
        loss_fn: ``loss_fn(outputs, targets)``: either per-example losses (``reduction="none"``, summed
            over any non-batch dimension) or their batch mean (a scalar). Both give the same factors:
            the gradients are rescaled to what the convention needs (per-example for ``"kfac"``, the
            batch mean's for ``"reference"``).
        convention: ``"reference"`` (the official release's scale) or ``"kfac"`` (textbook); see the
            module's docstring.

    Raises:
        ValueError: an unknown convention.
        RuntimeError: a layer is called twice in one forward pass.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    records: list[dict] = []
    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            handles.append(mod.register_forward_hook(_forward_hook(name, records)))
    try:
        model.zero_grad(set_to_none=True)
        out = model(inputs)
        for r in records:
            r["out"].register_hook(_grad_hook(r))
        loss = loss_fn(out, targets)
        batch = inputs.shape[0]
        per_example = loss.ndim > 0
        if per_example:
            loss = loss.reshape(batch, -1).sum()
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    # what the recorded gradients are multiplied by: per-example gradients for "kfac", the batch
    # mean's for "reference" (applied to G in float64, where tiny gradients cannot underflow)
    if convention == "kfac":
        g_scale = 1.0 if per_example else float(batch)
    else:
        g_scale = 1.0 / batch if per_example else 1.0
    blocks = []
    for r in records:
        if "grad" not in r:
            # the loss does not depend on this layer's output (e.g. the activation after it is zero(x)):
            # its gradient is exactly zero, and so is G
            r["grad"] = torch.zeros_like(r["out"])
        blocks.append(_block(r, g_scale, convention))
    model.zero_grad(set_to_none=True)
    return blocks


def _forward_hook(name: str, records: list[dict]):
    def hook(mod, args, out):
        if any(r["module"] is mod for r in records):
            raise RuntimeError(f"layer {name} is called twice in one forward pass; K-FAC here assumes once")
        records.append({"name": name, "module": mod, "input": args[0].detach(), "out": out})
    return hook


def _grad_hook(record: dict):
    def hook(grad):
        record["grad"] = grad.detach()
    return hook


def _block(r: dict, g_scale: float, convention: str) -> KfacBlock:
    """One layer's factors. The Gram matrices are accumulated in float32 (float64 would triple the
    cost of the largest im2col products); scaling and eigen-decompositions run in float64."""
    mod, x, g = r["module"], r["input"], r["grad"]
    n_weights = sum(p.numel() for p in mod.parameters(recurse=False))
    reference = convention == "reference"
    if isinstance(mod, nn.Linear):
        a = x.reshape(-1, x.shape[-1]).float()  # (N, in): every token is a location
        gg = g.reshape(-1, g.shape[-1]).float()  # (N, out)
        A, sums, G = (a.T @ a)[None], a.sum(0)[None], (gg.T @ gg)[None]
        rows = a.shape[0]
        div_a = div_g = float(mod.in_features + 1) if reference else float(rows)
    else:
        patches = nn.functional.unfold(x.float(), mod.kernel_size, dilation=mod.dilation, padding=mod.padding,
                                       stride=mod.stride)  # (B, Cin*k*k, L)
        b, _, locs = patches.shape
        groups = mod.groups
        pa = patches.reshape(b, groups, -1, locs)  # a view: no transposed copy of the patches
        if reference and groups > 1:
            # one A pooled over the groups (channels, for a depthwise conv); the full Cout x Cout G
            A = _gram(pa.reshape(b * groups, 1, -1, locs))
            sums = pa.sum(dim=(0, 1, 3))[None]
            G = _gram(g.float().reshape(b, 1, -1, locs))
            rows = b * locs * groups
            div_a, div_g = float(b), float(b * locs * groups)
        else:
            A = _gram(pa)
            sums = pa.sum(dim=(0, 3))  # (groups, dA)
            G = _gram(g.float().reshape(b, groups, -1, locs))
            rows = b * locs
            div_a, div_g = (float(b), float(b * locs)) if reference else (float(b * locs), float(b * locs))
    if mod.bias is not None:  # the ones column: [[Σaaᵀ, Σa], [Σaᵀ, rows]]
        k = A.shape[0]
        A = torch.cat([torch.cat([A, sums[:, :, None]], 2),
                       torch.cat([sums[:, None, :], torch.full((k, 1, 1), float(rows), dtype=A.dtype,
                                                               device=A.device)], 2)], 1)
    A = A.double() / div_a  # (blocks, dA, dA)
    G = G.double() * (g_scale * g_scale / div_g)  # (blocks, dG, dG)
    return KfacBlock(r["name"], n_weights, _log_eigvalsh(A), _log_eigvalsh(G))


def _gram(t: torch.Tensor) -> torch.Tensor:
    """(groups, d, d) sums over examples and locations of the outer products of ``t``: (n, groups, d, L).

    Small ``d`` (depthwise and other grouped convs, G of narrow layers) as batched products of one slice
    each, summed in chunks of bounded size: a single contraction over n·L would first copy the whole
    im2col tensor into another order, which costs far more than the arithmetic (measured 15-20x on a
    depthwise conv of MobileViTv2). Large ``d`` as one contraction, which is the faster there."""
    n, groups, d, locs = t.shape
    if d > _GRAM_BMM_MAX_D:
        return torch.einsum("bgil,bgjl->gij", t, t)
    flat = t.reshape(n * groups, d, locs)
    step = max(1, _GRAM_CHUNK_BYTES // (4 * d * d * groups)) * groups  # whole examples per chunk
    out = torch.zeros(groups, d, d, dtype=t.dtype, device=t.device)
    for lo in range(0, n * groups, step):
        blk = flat[lo:lo + step]
        out += torch.bmm(blk, blk.transpose(1, 2)).reshape(-1, groups, d, d).sum(0)
    return out


def _log_eigvalsh(m: torch.Tensor) -> np.ndarray:
    """log of the eigenvalues of symmetric matrices (groups, d, d); NaN for a matrix with non-finite
    entries (a network whose activations or gradients overflow at initialization has no feature)."""
    out = np.full(m.shape[:2], np.nan)
    ok = torch.isfinite(m).flatten(1).all(1).cpu().numpy()
    if ok.any():
        sub = m[torch.from_numpy(ok).to(m.device)]
        try:
            ev = torch.linalg.eigvalsh(sub).cpu().numpy()
        except RuntimeError:  # LAPACK did not converge on an ill-conditioned matrix: the general solver
            ev = np.sort(np.linalg.eigvals(sub.cpu().numpy()).real, axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[ok] = np.log(np.clip(ev, 0, None))
    return out


def kfac_log_eigenvalues(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn, *,
                         convention: Convention = "reference") -> list[tuple[str, np.ndarray]]:
    """``(layer_name, log_eigenvalues)`` for every Linear/Conv2d layer in forward order; each array
    has ``n_weights`` float64 entries (the pairwise sums of the factors' log-eigenvalues)."""
    return [(b.name, b.log_eigenvalues())
            for b in kfac_factors(model, inputs, targets, loss_fn, convention=convention)]


def layer_cdf(block: KfacBlock, *, method: str = "auto") -> np.ndarray:
    """The layer's CDF feature, ``(n_weights // 100 - 1,)`` float64 (empty for layers under 200 weights).

    ``method="pairs"`` histograms the pairwise sums in bounded chunks; ``"search"`` counts, for each
    value of the smaller factor, how many sums fall below each edge with a binary search over the
    sorted larger factor, never forming the sums; ``"auto"`` picks the cheaper. Both give the same
    counts except for sums within a rounding error of a bin edge. NaN everywhere when no sum is finite
    and in range (e.g. a network whose gradients are all zero).
    """
    edges = np.linspace(-100, 100, block.n_weights // 100)
    if len(edges) < 2:
        return np.zeros(0)
    small, large = (block.log_a, block.log_g) if block.log_a.shape[1] <= block.log_g.shape[1] else \
        (block.log_g, block.log_a)
    n_pairs = small.size * large.shape[1]
    if method == "auto":
        method = "search" if small.size * len(edges) * 4 < n_pairs else "pairs"
    if method == "pairs":
        counts = _counts_pairs(block.log_a, block.log_g, edges)
    elif method == "search":
        counts = _counts_search(small, large, edges)
    else:
        raise ValueError(f"method must be 'auto', 'pairs' or 'search', got {method!r}")
    widths = np.diff(edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        density = counts / counts.sum() / widths
        cdf = np.cumsum(density)
        return cdf / cdf[-1]


def _counts_pairs(log_a: np.ndarray, log_g: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.zeros(len(edges) - 1, dtype=np.int64)
    rows = max(1, _PAIR_CHUNK // max(log_g.shape[1], 1))
    for j in range(log_a.shape[0]):
        for lo in range(0, log_a.shape[1], rows):
            s = (log_a[j, lo:lo + rows, None] + log_g[j, None, :]).ravel()
            counts += np.histogram(s[np.isfinite(s)], edges)[0]
    return counts


def _counts_search(small: np.ndarray, large: np.ndarray, edges: np.ndarray) -> np.ndarray:
    below = np.zeros(len(edges), dtype=np.int64)  # pairs with sum < edge (the last edge: <=)
    for j in range(small.shape[0]):
        s = small[j][np.isfinite(small[j])]
        big = np.sort(large[j][np.isfinite(large[j])])
        if not s.size or not big.size:
            continue
        targets = edges[None, :] - s[:, None]  # (n_small, n_edges)
        below[:-1] += np.searchsorted(big, targets[:, :-1], side="left").sum(axis=0)
        below[-1] += np.searchsorted(big, targets[:, -1], side="right").sum()
    return np.diff(below)


def fim_feature(blocks: list[KfacBlock]) -> tuple[np.ndarray, list[FimLayer]]:
    """The concatenated per-layer CDFs (float32) and their layout."""
    parts, layers, offset = [], [], 0
    for b in blocks:
        cdf = layer_cdf(b)
        parts.append(cdf)
        layers.append(FimLayer(b.name, b.n_weights, offset, cdf.size))
        offset += cdf.size
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32), layers
