"""Augmentation on whatever device the batch is on (the GPU in training): random crops with padding and
horizontal flips, random-resized crops, mixup and cutmix, and RandAugment."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["augment", "mix", "rand_augment"]


def augment(x: torch.Tensor, kind: str, *, generator: torch.Generator | None = None,
            cropped: bool = False) -> torch.Tensor:
    """Augment a batch (N, C, H, W) in [0, 1] on its own device.

    ``kind``: ``"none"``; ``"crop_flip"`` (pad 4, random crop, horizontal flip: the CIFAR recipes);
    ``"rrc_flip"`` (random-resized crop, scale (0.08, 1), and flip); ``"randaugment"`` (rrc_flip,
    then RandAugment with n=2, m=6 of 10). ``cropped``: the images are random-resized crops already (taken
    from the whole image when decoded: :mod:`generation.images`), so ``rrc_flip`` and ``randaugment`` do not
    crop again.
    """
    if kind == "none":
        return x
    if kind == "crop_flip":
        return _flip(_pad_crop(x, 4, generator), generator)
    rrc = (lambda t: t) if cropped else (lambda t: _random_resized_crop(t, (0.08, 1.0), generator))
    if kind == "rrc_flip":
        return _flip(rrc(x), generator)
    if kind == "randaugment":
        return rand_augment(_flip(rrc(x), generator), n=2, m=6, generator=generator)
    raise ValueError(f"unknown augmentation {kind!r}; use none, crop_flip, rrc_flip or randaugment")


def _rand(shape, generator, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device="cpu").to(device)


def _flip(x, generator):
    flip = _rand((x.shape[0],), generator, x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def _pad_crop(x, pad, generator):
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = (_rand((n,), generator, x.device) * (2 * pad + 1)).long()
    dx = (_rand((n,), generator, x.device) * (2 * pad + 1)).long()
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None])  # (n, h)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None])  # (n, w)
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _affine(x, theta):
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def _random_resized_crop(x, scale, generator):
    n = x.shape[0]
    area = scale[0] + (scale[1] - scale[0]) * _rand((n,), generator, x.device)
    log_ratio = (torch.log(torch.tensor(3 / 4)) + (torch.log(torch.tensor(4 / 3)) - torch.log(torch.tensor(3 / 4)))
                 * _rand((n,), generator, "cpu")).to(x.device)
    ratio = torch.exp(log_ratio)
    sw = torch.sqrt(area * ratio).clamp(max=1.0)
    sh = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (1 - sw) * (2 * _rand((n,), generator, x.device) - 1)
    cy = (1 - sh) * (2 * _rand((n,), generator, x.device) - 1)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sw, cx, sh, cy
    return _affine(x, theta)


def _gray(x):
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]) if x.shape[1] == 3 else x.mean(1, keepdim=True)


def _blend(a, b, f):
    return (b + (a - b) * f).clamp(0, 1)


def rand_augment(x: torch.Tensor, *, n: int = 2, m: int = 6, generator: torch.Generator | None = None) -> torch.Tensor:
    """RandAugment (Cubuk et al. 2020) on a batch: each image gets ``n`` operations drawn uniformly from
    14 (identity, autocontrast, equalize-like contrast stretch, rotate, solarize, color, posterize,
    contrast, brightness, sharpness, shear x/y, translate x/y) at magnitude ``m`` of 10, with a random sign."""
    mag = m / 10.0
    for _ in range(n):
        ops = (_rand((x.shape[0],), generator, "cpu") * 14).long()
        sign = torch.where(_rand((x.shape[0],), generator, "cpu") < 0.5, -1.0, 1.0)
        out = x.clone()
        for k in range(14):
            sel = (ops == k).nonzero().flatten().to(x.device)
            if sel.numel():
                out[sel] = _OPS[k](x[sel], mag, sign[ops == k].to(x.device).to(x.dtype))
        x = out
    return x


def _op_affine(x, kind, mag, sign):
    n = x.shape[0]
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    if kind == "rotate":
        ang = sign * mag * 30 * np.pi / 180
        theta[:, 0, 0], theta[:, 0, 1] = torch.cos(ang), -torch.sin(ang)
        theta[:, 1, 0], theta[:, 1, 1] = torch.sin(ang), torch.cos(ang)
    elif kind == "shear_x":
        theta[:, 0, 1] = sign * mag * 0.3
    elif kind == "shear_y":
        theta[:, 1, 0] = sign * mag * 0.3
    elif kind == "translate_x":
        theta[:, 0, 2] = sign * mag * 0.45 * 2
    else:
        theta[:, 1, 2] = sign * mag * 0.45 * 2
    return _affine(x, theta)


def _autocontrast(x, *_):
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    return torch.where(hi > lo, (x - lo) / (hi - lo).clamp_min(1e-8), x)


def _equalize_like(x, *_):
    # a per-channel percentile stretch: the tensor analogue of histogram equalization's effect
    flat = x.flatten(2)
    lo = flat.quantile(0.02, dim=2)[..., None, None]
    hi = flat.quantile(0.98, dim=2)[..., None, None]
    return ((x - lo) / (hi - lo).clamp_min(1e-3)).clamp(0, 1)


def _sharpness(x, mag, sign):
    k = torch.tensor([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=x.dtype, device=x.device) / 13
    c = x.shape[1]
    blurred = torch.nn.functional.conv2d(x, k.expand(c, 1, 3, 3), padding=1, groups=c)
    return _blend(x, blurred, (1 + sign * mag * 0.9)[:, None, None, None])


_OPS = [
    lambda x, mag, sign: x,
    _autocontrast,
    _equalize_like,
    lambda x, mag, sign: _op_affine(x, "rotate", mag, sign),
    lambda x, mag, sign: torch.where(x >= 1 - mag, 1 - x, x),  # solarize above a threshold
    lambda x, mag, sign: _blend(x, _gray(x), (1 + sign * mag * 0.9)[:, None, None, None]),  # color
    lambda x, mag, sign: torch.floor(x * 2 ** (8 - int(round(mag * 4)))) / 2 ** (8 - int(round(mag * 4))),
    lambda x, mag, sign: _blend(x, _gray(x).mean(dim=(1, 2, 3), keepdim=True), (1 + sign * mag * 0.9)[:, None, None, None]),
    lambda x, mag, sign: _blend(x, torch.zeros_like(x), (1 + sign * mag * 0.9)[:, None, None, None]),  # brightness
    _sharpness,
    lambda x, mag, sign: _op_affine(x, "shear_x", mag, sign),
    lambda x, mag, sign: _op_affine(x, "shear_y", mag, sign),
    lambda x, mag, sign: _op_affine(x, "translate_x", mag, sign),
    lambda x, mag, sign: _op_affine(x, "translate_y", mag, sign),
]


def mix(x: torch.Tensor, y_onehot: torch.Tensor, *, mixup: float, cutmix: float,
        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Beta(mixup, mixup)) or CutMix (Beta(cutmix, cutmix)), one of the two per batch with equal
    probability when both are on; labels are mixed in proportion."""
    if mixup <= 0 and cutmix <= 0:
        return x, y_onehot
    use_cut = cutmix > 0 and (mixup <= 0 or float(_rand((1,), generator, "cpu")) < 0.5)
    alpha = cutmix if use_cut else mixup
    lam = float(np.random.default_rng(int(_rand((1,), generator, "cpu") * 2**31)).beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    if not use_cut:
        return lam * x + (1 - lam) * x[perm], lam * y_onehot + (1 - lam) * y_onehot[perm]
    _, _, h, w = x.shape
    rh, rw = int(h * np.sqrt(1 - lam)), int(w * np.sqrt(1 - lam))
    cy, cx = int(_rand((1,), generator, "cpu") * h), int(_rand((1,), generator, "cpu") * w)
    y0, y1, x0, x1 = max(cy - rh // 2, 0), min(cy + rh // 2, h), max(cx - rw // 2, 0), min(cx + rw // 2, w)
    x = x.clone()
    x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
    lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return x, lam * y_onehot + (1 - lam) * y_onehot[perm]
