"""Data sets from their standard on-disk formats; nothing is downloaded.

* CIFAR-10 / CIFAR-100: the "python version" pickle batches (``cifar-10-batches-py/data_batch_1..5``,
  ``test_batch``; ``cifar-100-python/train``, ``test``). They are read with a restricted unpickler
  that only rebuilds dicts, lists, strings, bytes, numbers and NumPy arrays, so a tampered file
  cannot run code.
* Image folders (Imagenette, ImageNet): ``ROOT/train/<class>/*.JPEG`` and ``ROOT/val/<class>/...``,
  decoded with Pillow and resized.
  ``stream=True`` keeps only the file list and decodes each batch when it is indexed (ImageNet does
  not fit in memory as tensors).
* scikit-learn's bundled digits (8x8), for the small CPU benchmark.

Data sets are a registry (:data:`DATASETS`): a recipe names one, :func:`load_data` loads it, and
:func:`register_dataset` adds a user's own (a function returning :class:`DataSplits`).

Validation splits are held out of the training set with a fixed seed (documented per loader);
the test split is the data set's own test set (for Imagenette, its ``val`` folder).

Augmentation runs on whatever device the batch is on (the GPU in training): random crops with
padding and horizontal flips, random-resized crops, mixup and cutmix, and RandAugment.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["DATASETS", "DataNotFoundError", "DataSplits", "LazyImages", "Split", "augment", "load_cifar", "load_data",
           "load_digits", "load_image_folder", "register_dataset", "synthetic"]


class DataNotFoundError(FileNotFoundError):
    """A data set that is not on disk; the message says where to put it."""


@dataclass
class Split:
    """Images (N, C, H, W) float32 in [0, 1] and integer labels (N,). ``x`` is a tensor, or a
    :class:`LazyImages` that decodes the rows it is indexed with."""

    x: torch.Tensor | LazyImages
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class DataSplits:
    train: Split
    val: Split
    test: Split
    num_classes: int
    description: str
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)


class _SafeUnpickler(pickle.Unpickler):
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("builtins", "dict"), ("builtins", "list"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def _read_batch(path: Path) -> dict:
    with open(path, "rb") as f:
        return _SafeUnpickler(io.BytesIO(f.read()), encoding="bytes").load()


def _split_off(x: np.ndarray, y: np.ndarray, n_val: int, seed: int):
    perm = np.random.RandomState(seed).permutation(len(y))
    val, train = perm[:n_val], perm[n_val:]
    return (x[train], y[train]), (x[val], y[val])


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.astype(np.int64)))


def load_cifar(root: str | Path, *, classes: int = 10, n_val: int = 5000, seed: int = 0) -> DataSplits:
    """CIFAR-10 or CIFAR-100 from the python pickle batches under ``root``.

    The validation split is ``n_val`` training images chosen by ``RandomState(seed).permutation``;
    the rest train. Images are float32 in [0, 1], NCHW.

    Raises:
        DataNotFoundError: the batches are not there (the message names the expected files).
    """
    root = Path(root)
    if classes == 10:
        folder = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").exists() else root
        train_files = [folder / f"data_batch_{i}" for i in range(1, 6)]
        test_files, key = [folder / "test_batch"], b"labels"
    elif classes == 100:
        folder = root / "cifar-100-python" if (root / "cifar-100-python").exists() else root
        train_files, test_files, key = [folder / "train"], [folder / "test"], b"fine_labels"
    else:
        raise ValueError(f"classes must be 10 or 100, got {classes}")
    missing = [str(p) for p in train_files + test_files if not p.exists()]
    if missing:
        raise DataNotFoundError(
            f"CIFAR-{classes} not found: missing {', '.join(missing)}. Put the 'python version' of CIFAR-{classes} "
            f"(the extracted {'cifar-10-batches-py' if classes == 10 else 'cifar-100-python'} folder) under {root}; "
            "nothing is downloaded at run time.")

    def read(files):
        xs, ys = [], []
        for p in files:
            d = _read_batch(p)
            xs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(d[key], dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    xtr, ytr = read(train_files)
    xte, yte = read(test_files)
    (xtr, ytr), (xva, yva) = _split_off(xtr, ytr, n_val, seed)
    mean = tuple(float(m) for m in (xtr / 255.0).mean(axis=(0, 2, 3)))
    std = tuple(float(s) for s in (xtr / 255.0).std(axis=(0, 2, 3)))
    return DataSplits(_split(xtr / 255.0, ytr), _split(xva / 255.0, yva), _split(xte / 255.0, yte), classes,
                      f"CIFAR-{classes}: {len(ytr)} train / {len(yva)} val (held out, seed {seed}) / {len(yte)} test",
                      mean, std)


def _decode(path: Path, size: int) -> np.ndarray:
    """(3, size, size) uint8: shorter side resized to ``size`` (bilinear), then a center crop."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        scale = size / min(w, h)
        im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
        w, h = im.size
        left, top = (w - size) // 2, (h - size) // 2
        im = im.crop((left, top, left + size, top + size))
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)


class LazyImages:
    """Image files that look like an (N, 3, size, size) float32 tensor in [0, 1]: indexing with an
    integer tensor, array or slice decodes just those files (Pillow, in ``threads`` threads).
    ``prefetch(idx)`` starts decoding a batch in the background; indexing with the same rows then
    waits for it instead of decoding again (training prefetches the next batch while it computes)."""

    def __init__(self, files: list[Path], size: int, *, threads: int = 8) -> None:
        self.files, self.size, self.threads = list(files), size, threads
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: ThreadPoolExecutor | None = None
        self._pending: tuple[bytes, object] | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), 3, self.size, self.size)

    def __len__(self) -> int:
        return len(self.files)

    def _rows(self, idx) -> np.ndarray:
        if isinstance(idx, slice):
            return np.arange(len(self.files))[idx]
        return np.asarray(idx, dtype=np.int64).reshape(-1)

    def _load(self, rows: np.ndarray) -> torch.Tensor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads)
        imgs = list(self._pool.map(lambda i: _decode(self.files[int(i)], self.size), rows))
        return torch.from_numpy(np.stack(imgs).astype(np.float32) / 255.0)

    def prefetch(self, idx) -> None:
        rows = self._rows(idx)
        if self._ahead is None:
            self._ahead = ThreadPoolExecutor(1)  # a pool of its own: its task waits on the decoding pool
        self._pending = (rows.tobytes(), self._ahead.submit(self._load, rows))

    def __getitem__(self, idx) -> torch.Tensor:
        rows = self._rows(idx)
        if self._pending is not None and self._pending[0] == rows.tobytes():
            future, self._pending = self._pending[1], None
            return future.result()
        return self._load(rows)


def load_image_folder(root: str | Path, *, size: int = 160, n_val: int = 0, seed: int = 0,
                      max_per_class: int | None = None, stream: bool = False, threads: int = 8) -> DataSplits:
    """An ImageNet-style folder: ``root/train/<class>/*`` and ``root/val/<class>/*``.

    Images are resized (shorter side to ``size``, then a center crop) with Pillow. By default the
    ``val`` folder is both the validation and the test split, as in Act-Bench-ViT (Imagenette has
    no separate test set); ``n_val > 0`` holds that many training images out as validation instead.
    Decoding happens once, here, and training reads tensors; with ``stream=True`` (ImageNet) each batch
    is decoded when it is read (:class:`LazyImages`), and the normalisation statistics are ImageNet's.
    """
    root = Path(root)
    tr, va = root / "train", root / "val"
    if not tr.is_dir() or not va.is_dir():
        raise DataNotFoundError(f"image folder data set not found: expected {tr}/<class>/*.JPEG and {va}/<class>/*; "
                                "nothing is downloaded at run time.")
    classes = sorted(p.name for p in tr.iterdir() if p.is_dir())

    if not classes:
        raise DataNotFoundError(f"{tr} has no class folders; expected {tr}/<class>/<image files>")

    def listing(folder: Path):
        paths, ys = [], []
        for ci, c in enumerate(classes):
            files = sorted(p for p in (folder / c).iterdir() if p.is_file()) if (folder / c).is_dir() else []
            paths += files[:max_per_class]
            ys += [ci] * len(files[:max_per_class])
        return paths, np.asarray(ys, dtype=np.int64)

    if stream:
        (ptr, ytr), (pte, yte) = listing(tr), listing(va)
        if n_val:
            perm = np.random.RandomState(seed).permutation(len(ytr))
            val, train = perm[:n_val], perm[n_val:]
            pva, yva = [ptr[i] for i in val], ytr[val]
            ptr, ytr = [ptr[i] for i in train], ytr[train]
            desc = f"{root.name}: {len(ytr)} train / {len(yva)} val (held out, seed {seed}) / {len(yte)} test"
        else:
            pva, yva = pte, yte
            desc = f"{root.name}: {len(ytr)} train / {len(yte)} val = test (the val folder)"
        mk = lambda p, y: Split(LazyImages(p, size, threads=threads), torch.from_numpy(y))
        return DataSplits(mk(ptr, ytr), mk(pva, yva), mk(pte, yte), len(classes), desc + ", decoded per batch",
                          (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

    def read(folder: Path):
        paths, ys = listing(folder)
        return np.stack([_decode(p, size) for p in paths]), ys

    xtr, ytr = read(tr)
    xte, yte = read(va)
    if n_val:
        (xtr, ytr), (xva, yva) = _split_off(xtr, ytr, n_val, seed)
        desc = f"{root.name}: {len(ytr)} train / {len(yva)} val (held out, seed {seed}) / {len(yte)} test"
    else:
        xva, yva = xte, yte
        desc = f"{root.name}: {len(ytr)} train / {len(yte)} val = test (the val folder)"
    return DataSplits(_split(xtr / 255.0, ytr), _split(xva / 255.0, yva), _split(xte / 255.0, yte), len(classes),
                      desc, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def load_digits(*, n_val: int = 297, n_test: int = 300, seed: int = 0) -> DataSplits:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes): 1,200 train / 297 val / 300 test by
    ``RandomState(seed).permutation``; pixel values 0-16 scaled to [0, 1]."""
    from sklearn.datasets import load_digits as _sk

    d = _sk()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    y = d.target.astype(np.int64)
    perm = np.random.RandomState(seed).permutation(len(y))
    te, va, tr = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    return DataSplits(_split(x[tr], y[tr]), _split(x[va], y[va]), _split(x[te], y[te]), 10,
                      f"sklearn digits 8x8: {len(tr)} train / {len(va)} val / {len(te)} test (seed {seed})",
                      (float(x[tr].mean()),), (float(x[tr].std()),))


def synthetic(n: int, shape: tuple[int, int, int], num_classes: int, *, seed: int = 0) -> DataSplits:
    """Random tensors of a real task's shapes (throughput checks only; labelled synthetic)."""
    g = torch.Generator().manual_seed(seed)
    mk = lambda m: Split(torch.rand((m, *shape), generator=g), torch.randint(0, num_classes, (m,), generator=g))
    return DataSplits(mk(n), mk(max(n // 10, 1)), mk(max(n // 10, 1)), num_classes, f"synthetic {shape}")


# --- the registry --------------------------------------------------------------------------------

#: name -> (loader, needs_root). A loader takes ``root`` (when it needs one) and the recipe's data_kwargs.
DATASETS: dict[str, tuple[Callable[..., DataSplits], bool]] = {}


def register_dataset(name: str, *, needs_root: bool = True):
    """Decorator: add a data set loader under ``name``; a recipe with ``data=name`` then loads it.

    The loader is called as ``loader(root, **recipe.data_kwargs)`` (``root`` is ``--data-root``) or,
    with ``needs_root=False``, as ``loader(**recipe.data_kwargs)``, and returns :class:`DataSplits`.
    """

    def deco(fn):
        if name in DATASETS:
            raise ValueError(f"data set {name!r} is already registered")
        DATASETS[name] = (fn, needs_root)
        return fn

    return deco


def load_data(recipe, data_root: str | Path | None) -> DataSplits:
    """Load the data set a recipe names, with its ``data_kwargs``."""
    from actbench.errors import did_you_mean

    if recipe.data not in DATASETS:
        raise ValueError(f"recipe {recipe.name!r} uses unknown data set {recipe.data!r}"
                         f"{did_you_mean(recipe.data, DATASETS)}; data sets: {', '.join(DATASETS)} (a data set of "
                         "your own must be registered with generation.data.register_dataset, e.g. in a module "
                         "passed with --import)")
    fn, needs_root = DATASETS[recipe.data]
    if not needs_root:
        return fn(**recipe.data_kwargs)
    if data_root is None:
        raise ValueError(f"recipe {recipe.name!r} reads {recipe.data} from disk: give --data-root")
    return fn(Path(data_root), **recipe.data_kwargs)


register_dataset("cifar10")(lambda root, **kw: load_cifar(root, classes=10, **kw))
register_dataset("cifar100")(lambda root, **kw: load_cifar(root, classes=100, **kw))
register_dataset("imagenette")(load_image_folder)
register_dataset("imagenet")(load_image_folder)
register_dataset("image_folder")(load_image_folder)
register_dataset("digits", needs_root=False)(load_digits)
register_dataset("synthetic", needs_root=False)(synthetic)


# --- augmentation on the batch's device ----------------------------------------------------------


def augment(x: torch.Tensor, kind: str, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a batch (N, C, H, W) in [0, 1] on its own device.

    ``kind``: ``"none"``; ``"crop_flip"`` (pad 4, random crop, horizontal flip: the CIFAR recipes);
    ``"rrc_flip"`` (random-resized crop, scale (0.08, 1), and flip); ``"randaugment"`` (rrc_flip,
    then RandAugment with n=2, m=6 of 10).
    """
    if kind == "none":
        return x
    if kind == "crop_flip":
        return _flip(_pad_crop(x, 4, generator), generator)
    if kind == "rrc_flip":
        return _flip(_random_resized_crop(x, (0.08, 1.0), generator), generator)
    if kind == "randaugment":
        return rand_augment(_flip(_random_resized_crop(x, (0.08, 1.0), generator), generator), n=2, m=6,
                            generator=generator)
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
