"""The standard ImageNet input pipeline (generation.images): training crops are random-resized crops of the
whole image by the standard definition (area 8-100 %, aspect ratio 3/4-4/3 log-uniform, ten tries, then a
centred crop of the whole image cut to the ratio range), evaluation is resize to size/0.875 and a centre crop,
batches are uint8, and a crop depends only on (run seed, epoch, image): not on the batch, the threads or the
processes sharing a batch. Images are written by the tests (coordinates encoded in the pixels, or noise)."""

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

from generation.images import EVAL_RATIO, LazyImages, decode_eval, decode_train, rrc_box  # noqa: E402
from gen_fixtures import write_image_folder  # noqa: E402

pytestmark = pytest.mark.torch


def _coordinates_image(path: Path, w: int = 500, h: int = 375) -> Path:
    """A lossless image whose red channel is x * 255 / (w-1) and green y * 255 / (h-1)."""
    xs = np.linspace(0, 255, w)[None, :].repeat(h, 0)
    ys = np.linspace(0, 255, h)[:, None].repeat(w, 1)
    Image.fromarray(np.stack([xs, ys, np.zeros_like(xs)], -1).round().astype(np.uint8)).save(path)
    return path


def _reference_box(width, height, rng):
    """The standard random-resized-crop box, written out independently of generation.images (the test's
    oracle): the same draws in the same order."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(0.08, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    in_ratio = width / height
    if in_ratio < 3 / 4:
        w, h = width, int(round(width / (3 / 4)))
    elif in_ratio > 4 / 3:
        w, h = int(round(height * 4 / 3)), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def test_boxes_follow_the_standard_definition_and_cover_the_whole_image():
    boxes = []
    for seed in range(2000):
        box = rrc_box(500, 375, np.random.default_rng(seed))
        assert box == _reference_box(500, 375, np.random.default_rng(seed))
        left, top, w, h = box
        assert 0 <= left and left + w <= 500 and 0 <= top and top + h <= 375
        assert 0.08 * 0.95 <= w * h / (500 * 375) <= 1.0 and 3 / 4 * 0.95 <= w / h <= 4 / 3 * 1.05
        boxes.append(box)
    boxes = np.array(boxes)
    # the crops reach the parts of the image a 375 px centre crop cuts off (x < 62 or x > 437)
    assert (boxes[:, 0] < 62).mean() > 0.3 and ((boxes[:, 0] + boxes[:, 2]) > 437).mean() > 0.3
    assert (boxes[:, 2] * boxes[:, 3] / (500 * 375)).min() < 0.1  # small crops happen
    assert rrc_box(1000, 10, np.random.default_rng(0)) == (493, 0, 13, 10)  # no try fits: centred, ratio 4/3


def test_training_crop_is_that_box_of_the_whole_image_resized(tmp_path):
    path = _coordinates_image(tmp_path / "xy.png")
    for seed in range(20):
        left, top, w, h = rrc_box(500, 375, np.random.default_rng(seed))
        out = decode_train(path, 64, np.random.default_rng(seed))
        assert out.shape == (3, 64, 64) and out.dtype == np.uint8
        px = out.astype(float)
        # the crop's corners show the box's corners (in the coordinates the pixels encode)
        x0, x1 = px[0, 32, 0] * 499 / 255, px[0, 32, -1] * 499 / 255
        y0, y1 = px[1, 0, 32] * 374 / 255, px[1, -1, 32] * 374 / 255
        assert abs(x0 - left) <= 2 + w / 64 and abs(x1 - (left + w - 1)) <= 2 + w / 64
        assert abs(y0 - top) <= 2 + h / 64 and abs(y1 - (top + h - 1)) <= 2 + h / 64
        expect = Image.open(path).convert("RGB").resize((64, 64), Image.BILINEAR, box=(left, top, left + w, top + h))
        assert np.array_equal(out, np.asarray(expect).transpose(2, 0, 1))


def test_evaluation_is_resize_then_centre_crop(tmp_path):
    path = _coordinates_image(tmp_path / "xy.png")
    out = decode_eval(path, 224)
    short = round(224 / EVAL_RATIO)
    assert short == 256
    im = Image.open(path).convert("RGB").resize((round(500 * 256 / 375), 256), Image.BILINEAR)
    left, top = (im.width - 224) // 2, (256 - 224) // 2
    assert np.array_equal(out, np.asarray(im.crop((left, top, left + 224, top + 224))).transpose(2, 0, 1))


def test_streamed_batches_are_uint8_and_a_crop_depends_only_on_seed_epoch_and_image(tmp_path):
    root = write_image_folder(tmp_path / "img", per_class=4)
    files = sorted((root / "train").rglob("*.JPEG"))
    a, b = LazyImages(files, 24, train=True, threads=1), LazyImages(files, 24, train=True, threads=3)
    a.set_epoch(7, 2)
    b.set_epoch(7, 2)
    batch = a[torch.tensor([3, 0, 5])]
    assert batch.dtype == torch.uint8 and batch.shape == (3, 3, 24, 24)
    assert torch.equal(batch[1], b[[0]][0]) and torch.equal(batch[0], b[3:4][0])  # any batch, any threads
    b.set_epoch(7, 3)
    assert not torch.equal(batch[1], b[[0]][0])  # another epoch: another crop
    b.set_epoch(7, 2)
    b.prefetch([1, 2])
    b.set_epoch(7, 4)  # a prefetch of another epoch is not used
    assert torch.equal(b[[1, 2]], _at(files, 7, 4, [1, 2]))
    ev = a.evaluation()
    assert not ev.crops_at_decode and torch.equal(ev[[2]][0], torch.from_numpy(decode_eval(files[2], 24)))


def _at(files, seed, epoch, rows):
    x = LazyImages(files, 24, train=True, threads=2)
    x.set_epoch(seed, epoch)
    return x[rows]


def test_streamed_training_and_features_use_the_pipeline(tmp_path):
    from generation.data import load_image_folder
    from generation.recipes import Recipe
    from generation.train import fim_for, train_run

    write_image_folder(tmp_path / "img", per_class=4)
    data = load_image_folder(tmp_path / "img", size=8, n_val=2, stream=True, threads=2)
    assert data.train.x.crops_at_decode and not data.val.x.crops_at_decode and "random-resized crops" in data.description
    r = Recipe(name="s", benchmark="s", description="stream test (synthetic images)", model="digits_cnn",
               data="image_folder", data_kwargs={"size": 8, "n_val": 2, "stream": True, "threads": 2}, epochs=2,
               batch_size=2, lr=0.01, seeds=(0,), augment="rrc_flip", fim_batch=4)
    run = train_run(r, "relu(x)", data, seed=0, device="cpu")
    assert run.epochs_completed == 2 and math.isfinite(run.val_loss)
    first = fim_for(r, "relu(x)", data)[0]
    data.train.x.set_epoch(5, 1)  # the FIM's inputs do not depend on where training left the crops
    assert np.array_equal(first, fim_for(r, "relu(x)", data)[0])
