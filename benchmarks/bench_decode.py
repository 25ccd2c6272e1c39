"""Images per second that the ImageNet input pipeline decodes, per core and with every core, beside the
earlier one (a 224 px centre crop decoded to float32), interleaved in rounds on the same files.

Usage: python benchmarks/bench_decode.py [--n 96] [--rounds 5] [--size 224]

The files are JPEGs of ImageNet's typical size (500 x 375, smooth random content, quality 90) written to a
temporary folder. Pipelines, each over all files:

* ``centre crop, float32 (earlier)``: shorter side to 224, centre crop, float32 in [0, 1];
* ``train: random-resized crop, uint8``: generation.images.decode_train (a crop of the whole image);
* ``eval: resize 256 + centre crop, uint8``: generation.images.decode_eval.

Medians over rounds, with one thread and with one thread per available core; ratios are within one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generation.data import decode_centre_crop  # noqa: E402
from generation.images import available_cores, decode_eval, decode_train  # noqa: E402


def _earlier(path: Path, size: int) -> np.ndarray:
    """The earlier pipeline: the centre crop the folder loader decodes once (shorter side to ``size``), as
    float32 in [0, 1] (what streamed batches were before)."""
    return decode_centre_crop(path, size).astype(np.float32) / 255.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    from PIL import Image

    rng = np.random.default_rng(0)
    cores = available_cores()
    with tempfile.TemporaryDirectory() as d:
        files = []
        for i in range(args.n):
            small = rng.integers(0, 256, (375 // 8, 500 // 8, 3), dtype=np.uint8)
            files.append(Path(d) / f"{i}.JPEG")
            Image.fromarray(small).resize((500, 375), Image.BICUBIC).save(files[-1], "JPEG", quality=90)
        pipes = {"centre crop, float32 (earlier)": lambda p, i: _earlier(p, args.size),
                 "train: random-resized crop, uint8": lambda p, i: decode_train(p, args.size, np.random.default_rng(i)),
                 "eval: resize 256 + centre crop, uint8": lambda p, i: decode_eval(p, args.size)}
        times: dict[tuple[str, int], list[float]] = {(k, t): [] for k in pipes for t in (1, cores)}
        for _ in range(args.rounds):
            for name, fn in pipes.items():
                for threads in (1, cores):
                    with ThreadPoolExecutor(threads) as pool:
                        t0 = time.perf_counter()
                        out = list(pool.map(lambda a: fn(*a), [(f, i) for i, f in enumerate(files)]))
                        times[(name, threads)].append(time.perf_counter() - t0)
                    assert len(out) == args.n
    print(f"{args.n} JPEGs of 500 x 375, {args.size} px out, median of {args.rounds} rounds, {cores} cores available")
    print(f"| pipeline | img/s, 1 thread | img/s, {cores} threads | bytes per image out |")
    print("|---|---|---|---|")
    for name in pipes:
        one = args.n / statistics.median(times[(name, 1)])
        many = args.n / statistics.median(times[(name, cores)])
        nbytes = 3 * args.size * args.size * (4 if "float32" in name else 1)
        print(f"| {name} | {one:.0f} | {many:.0f} | {nbytes:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
