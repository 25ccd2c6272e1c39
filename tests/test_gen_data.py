import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gen_fixtures import write_cifar10, write_cifar100, write_image_folder  # noqa: E402

from generation.data import (  # noqa: E402
    DataNotFoundError,
    augment,
    load_cifar,
    load_digits,
    load_image_folder,
    mix,
    rand_augment,
)

pytestmark = pytest.mark.torch


def test_cifar10_pickles(tmp_path):
    write_cifar10(tmp_path, per_batch=12, n_test=10)
    d = load_cifar(tmp_path, n_val=10, seed=0)
    assert (len(d.train), len(d.val), len(d.test)) == (50, 10, 10)
    assert d.train.x.shape == (50, 3, 32, 32) and d.train.x.dtype == torch.float32
    assert 0 <= float(d.train.x.min()) and float(d.train.x.max()) <= 1
    # the pixel layout is the official one: 1024 red, then green, then blue values, row-major
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    np.testing.assert_allclose(d.test.x[0, 1, 0, :5].numpy(), raw[b"data"][0][1024:1029] / 255.0, rtol=1e-6)
    assert d.test.y.tolist() == raw[b"labels"]
    again = load_cifar(tmp_path, n_val=10, seed=0)
    assert torch.equal(again.val.x, d.val.x)  # the held-out split is fixed by the seed
    assert "10 val (held out, seed 0)" in d.description and len(d.mean) == 3


def test_cifar100_pickles(tmp_path):
    write_cifar100(tmp_path, n_train=40, n_test=10)
    d = load_cifar(tmp_path, classes=100, n_val=5)
    assert d.num_classes == 100 and (len(d.train), len(d.val), len(d.test)) == (35, 5, 10)


def test_missing_and_hostile_files(tmp_path):
    with pytest.raises(DataNotFoundError, match="Put the 'python version' of CIFAR-10") as info:
        load_cifar(tmp_path)
    assert isinstance(info.value, FileNotFoundError) and "nothing is downloaded" in str(info.value)
    with pytest.raises(ValueError, match="10 or 100"):
        load_cifar(tmp_path, classes=20)
    write_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.print"):
        load_cifar(tmp_path)
    with pytest.raises(DataNotFoundError, match="image folder"):
        load_image_folder(tmp_path / "imagenette")


def test_image_folder(tmp_path):
    write_image_folder(tmp_path / "imagenette2-160", per_class=3)
    d = load_image_folder(tmp_path / "imagenette2-160", size=32)
    assert d.num_classes == 2 and d.train.x.shape == (6, 3, 32, 32) and len(d.test) == 6
    assert torch.equal(d.val.x, d.test.x) and "val = test" in d.description
    held = load_image_folder(tmp_path / "imagenette2-160", size=32, n_val=2)
    assert (len(held.train), len(held.val)) == (4, 2)


def test_digits_split():
    d = load_digits()
    assert (len(d.train), len(d.val), len(d.test)) == (1200, 297, 300)
    assert d.train.x.shape[1:] == (1, 8, 8) and float(d.train.x.max()) <= 1.0


@pytest.mark.parametrize("kind", ["none", "crop_flip", "rrc_flip", "randaugment"])
def test_augment_keeps_shape_and_range(kind):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 16, 16)
    y = augment(x, kind, generator=g)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1 + 1e-6
    if kind == "none":
        assert y is x
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(x, "cutout")


def test_crop_flip_moves_pixels_not_values():
    g = torch.Generator().manual_seed(1)
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8) + 1
    y = augment(x, "crop_flip", generator=g)
    assert set(y.unique().tolist()) <= set(x.unique().tolist()) | {0.0}


def test_randaugment_every_op_runs():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(64, 3, 16, 16)
    y = rand_augment(x, n=2, m=6, generator=g)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_mix_labels_stay_distributions():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(8, 3, 16, 16)
    y = torch.nn.functional.one_hot(torch.arange(8) % 4, 4).float()
    for mixup, cutmix in ((0.1, 0.0), (0.0, 1.0), (0.1, 1.0)):
        xm, ym = mix(x, y, mixup=mixup, cutmix=cutmix, generator=g)
        assert xm.shape == x.shape
        torch.testing.assert_close(ym.sum(1), torch.ones(8))
    assert mix(x, y, mixup=0, cutmix=0)[1] is y
