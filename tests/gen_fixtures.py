"""Tiny SYNTHETIC data sets in the real on-disk formats (CIFAR python pickle batches, image folders).

Random pixels and labels, written by tests into tmp_path; never shipped, never the real data.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_cifar10(root: Path, *, per_batch: int = 12, n_test: int = 10, seed: int = 0) -> Path:
    """cifar-10-batches-py/data_batch_1..5 and test_batch, as the official python version lays them out."""
    rng = np.random.RandomState(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        batch = {b"batch_label": f"training batch {i} of 5".encode(), b"labels": rng.randint(0, 10, per_batch).tolist(),
                 b"data": rng.randint(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"filenames": [f"img{j}.png".encode() for j in range(per_batch)]}
        with open(d / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch, f, protocol=2)
    test = {b"batch_label": b"testing batch 1 of 1", b"labels": rng.randint(0, 10, n_test).tolist(),
            b"data": rng.randint(0, 256, (n_test, 3072), dtype=np.uint8)}
    with open(d / "test_batch", "wb") as f:
        pickle.dump(test, f, protocol=2)
    return root


def write_cifar100(root: Path, *, n_train: int = 40, n_test: int = 10, seed: int = 0) -> Path:
    rng = np.random.RandomState(seed)
    d = root / "cifar-100-python"
    d.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        with open(d / name, "wb") as f:
            pickle.dump({b"fine_labels": rng.randint(0, 100, n).tolist(), b"coarse_labels": rng.randint(0, 20, n).tolist(),
                         b"data": rng.randint(0, 256, (n, 3072), dtype=np.uint8)}, f, protocol=2)
    return root


def write_image_folder(root: Path, classes=("n01440764", "n02102040"), per_class: int = 3, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.RandomState(seed)
    for split in ("train", "val"):
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for j in range(per_class):
                h, w = rng.randint(40, 90), rng.randint(40, 90)
                Image.fromarray(rng.randint(0, 256, (h, w, 3), dtype=np.uint8)).save(d / f"{c}_{j}.JPEG", "JPEG")
    return root
