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

Augmentation (on the batch's device) is :mod:`generation.augment`; ``augment`` and ``mix`` are importable
from here too.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from generation.augment import augment, mix, rand_augment  # noqa: F401  (re-exported: earlier paths)
from generation.images import EVAL_RATIO, LazyImages

__all__ = ["DATASETS", "DataNotFoundError", "DataSplits", "LazyImages", "Split", "augment", "decode_centre_crop",
           "load_cifar", "load_data",
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


def decode_centre_crop(path: Path, size: int) -> np.ndarray:
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


def load_image_folder(root: str | Path, *, size: int = 160, n_val: int = 0, seed: int = 0,
                      max_per_class: int | None = None, stream: bool = False, threads: int | None = None) -> DataSplits:
    """An ImageNet-style folder: ``root/train/<class>/*`` and ``root/val/<class>/*``.

    Images are resized (shorter side to ``size``, then a center crop) with Pillow. By default the
    ``val`` folder is both the validation and the test split, as in Act-Bench-ViT (Imagenette has
    no separate test set); ``n_val > 0`` holds that many training images out as validation instead.
    Decoding happens once, here, and training reads tensors; with ``stream=True`` (ImageNet) each batch
    is decoded when it is read, by the standard ImageNet pipeline (:mod:`generation.images`: random-resized
    crops of the whole image for training, resize and centre crop for evaluation, uint8 batches, ``threads``
    decoding threads, default the cores available), and the normalisation statistics are ImageNet's.
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
        mk = lambda p, y, train: Split(LazyImages(p, size, train=train, threads=threads), torch.from_numpy(y))
        return DataSplits(mk(ptr, ytr, True), mk(pva, yva, False), mk(pte, yte, False), len(classes),
                          desc + ", decoded per batch (training: random-resized crops of the whole image; "
                          f"evaluation: resize to {round(size / EVAL_RATIO)} px, centre crop {size} px)",
                          (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

    def read(folder: Path):
        paths, ys = listing(folder)
        return np.stack([decode_centre_crop(p, size) for p in paths]), ys

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
    from actbench.base.text import did_you_mean

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
