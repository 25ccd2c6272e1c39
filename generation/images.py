"""The standard ImageNet input pipeline, decoding image files per batch (:class:`LazyImages`).

- **Training**: a random-resized crop sampled from the *whole* image at decode time (area 8–100 % of the
  image, aspect ratio 3/4–4/3 on a log scale, ten tries and then the largest centred crop that fits the ratio
  range: the definition torchvision's ``RandomResizedCrop`` and the reference ImageNet recipes use), resized to
  ``size`` × ``size``. Each image's crop comes from its own generator, seeded by (run seed, epoch, image), so a
  crop does not depend on the batch it is in, the decoding threads, or how many processes share the batch.
- **Evaluation**: the shorter side resized to ``size / 0.875`` (256 px for 224), then a centred ``size`` crop.
- Batches leave the CPU as **uint8** (a quarter of float32's bytes) and become floats on the device; decoding
  runs in a pool of threads sized to the cores this process may use (``os.sched_getaffinity``: a Slurm job's
  ``--cpus-per-task``), and the next batch is decoded while the current one trains (``prefetch``).

Flips and RandAugment stay on the device (:func:`generation.augment.augment` with ``cropped=True``).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

__all__ = ["EVAL_RATIO", "LazyImages", "available_cores", "decode_eval", "decode_rate", "decode_train", "rrc_box"]

#: evaluation resizes the shorter side to size / EVAL_RATIO before the centre crop (256 -> 224)
EVAL_RATIO = 0.875
SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)


def available_cores() -> int:
    """Cores this process may run on (a Slurm job's allocation, a container's limit), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def rrc_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(left, top, w, h) of a random-resized crop of a ``width`` x ``height`` image: the standard definition
    (module docstring)."""
    area = width * height
    log_lo, log_hi = math.log(RATIO[0]), math.log(RATIO[1])
    for _ in range(10):
        target = area * rng.uniform(*SCALE)
        ratio = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    ratio = width / height  # fallback: the whole image, cut to the ratio range, centred
    if ratio < RATIO[0]:
        w, h = width, int(round(width / RATIO[0]))
    elif ratio > RATIO[1]:
        w, h = int(round(height * RATIO[1])), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def decode_train(path: Path, size: int, rng: np.random.Generator) -> np.ndarray:
    """(3, size, size) uint8: a random-resized crop of the whole image (:func:`rrc_box`), bilinear."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        left, top, w, h = rrc_box(im.width, im.height, rng)
        im = im.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))
        return np.array(im, dtype=np.uint8).transpose(2, 0, 1)


def decode_eval(path: Path, size: int) -> np.ndarray:
    """(3, size, size) uint8: the shorter side resized to ``size / EVAL_RATIO`` (bilinear), a centred crop."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        short = max(size, int(round(size / EVAL_RATIO)))
        scale = short / min(w, h)
        im = im.resize((max(short, round(w * scale)), max(short, round(h * scale))), Image.BILINEAR)
        w, h = im.size
        left, top = (w - size) // 2, (h - size) // 2
        return np.array(im.crop((left, top, left + size, top + size)), dtype=np.uint8).transpose(2, 0, 1)


class LazyImages:
    """Image files that look like an (N, 3, size, size) uint8 tensor: indexing with an integer tensor, array
    or slice decodes just those files, in a pool of ``threads`` threads (default: the cores available).

    ``train=True`` decodes random-resized crops (:func:`decode_train`) for the epoch set by
    :meth:`set_epoch` (each image's crop from a generator seeded by (seed, epoch, row)); otherwise the
    evaluation transform (:func:`decode_eval`). ``prefetch(idx)`` starts decoding a batch in the background;
    indexing with the same rows then waits for it instead of decoding again."""

    #: batches are uint8: the consumer scales them to [0, 1] on its device
    dtype = torch.uint8

    def __init__(self, files: list[Path], size: int, *, train: bool = False, threads: int | None = None) -> None:
        self.files, self.size, self.train = list(files), size, train
        self.threads = threads or available_cores()
        self._key: tuple[int, int] = (0, 0)  # (seed, epoch) of the training crops
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: ThreadPoolExecutor | None = None
        self._pending: tuple[bytes, object] | None = None

    @property
    def crops_at_decode(self) -> bool:
        """True for training images: they are random-resized crops already (the device only flips)."""
        return self.train

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), 3, self.size, self.size)

    def __len__(self) -> int:
        return len(self.files)

    def evaluation(self) -> LazyImages:
        """The same files under the evaluation transform (what the FIM of training images is computed on)."""
        return LazyImages(self.files, self.size, train=False, threads=self.threads)

    def set_epoch(self, seed: int, epoch: int) -> None:
        """Draw the training crops of run ``seed`` at ``epoch`` from now on."""
        self._key = (int(seed), int(epoch))
        self._pending = None

    def _rows(self, idx) -> np.ndarray:
        if isinstance(idx, slice):
            return np.arange(len(self.files))[idx]
        return np.asarray(idx, dtype=np.int64).reshape(-1)

    def _one(self, row: int) -> np.ndarray:
        if self.train:
            rng = np.random.default_rng([self._key[0], self._key[1], row])
            return decode_train(self.files[row], self.size, rng)
        return decode_eval(self.files[row], self.size)

    def _load(self, rows: np.ndarray) -> torch.Tensor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads)
        return torch.from_numpy(np.stack(list(self._pool.map(lambda i: self._one(int(i)), rows))))

    def prefetch(self, idx) -> None:
        rows = self._rows(idx)
        if self._ahead is None:
            self._ahead = ThreadPoolExecutor(1)  # a pool of its own: its task waits on the decoding pool
        self._pending = (rows.tobytes() + bytes(str(self._key), "ascii"), self._ahead.submit(self._load, rows))

    def __getitem__(self, idx) -> torch.Tensor:
        rows = self._rows(idx)
        if self._pending is not None and self._pending[0] == rows.tobytes() + bytes(str(self._key), "ascii"):
            future, self._pending = self._pending[1], None
            return future.result()
        return self._load(rows)


def decode_rate(size: int, *, n: int = 48, train: bool = True, width: int = 500, height: int = 375) -> float:
    """Images per second that one core decodes by this pipeline (one thread), on ``n`` JPEGs of ImageNet's
    typical size (500 x 375, smooth random content, quality 90) written to a temporary folder: the figure
    that says how many cores keep a GPU fed (``generation.cost``)."""
    import tempfile
    import time

    from PIL import Image

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        files = []
        for i in range(n):
            small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
            im = Image.fromarray(small).resize((width, height), Image.BICUBIC)
            files.append(Path(d) / f"{i}.JPEG")
            im.save(files[-1], "JPEG", quality=90)
        images = LazyImages(files, size, train=train, threads=1)
        images[[0]]  # warm-up
        t0 = time.perf_counter()
        images[np.arange(n)]
        return n / (time.perf_counter() - t0)
