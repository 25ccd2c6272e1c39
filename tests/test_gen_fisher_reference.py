"""``generation.fisher`` against the paper's reference implementation (values in tests/data/README.md).

The reference's K-FAC ran on a small Keras network (conv, depthwise conv, strided conv, two dense
layers); its weights, its batch and its per-layer log-eigenvalues and CDFs are stored. The network is
rebuilt here in PyTorch from those weights: ``convention="reference"`` must give the stored spectra, and
``"kfac"`` must differ from them by exactly the constant that the two normalisations imply (conv and
dense layers; a depthwise conv's spectrum differs in shape, not only by a shift).
"""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from generation.fisher import kfac_factors, layer_cdf  # noqa: E402

pytestmark = pytest.mark.torch

REF = np.load(Path(__file__).parent / "data" / "kfac_reference_shared.npz", allow_pickle=False)
LAYERS = [str(n) for n in REF["layers"]]
BATCH = REF["X"].shape[0]
TOP_NATS = 12.0  # compare the top of each spectrum: far below it, float32 round-off decides the values
TOL = 0.02  # nats


class KerasNet(torch.nn.Module):
    """The reference's Keras network, in PyTorch, channels first; flattens in Keras' NHWC order."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(1, 5, 3, padding=1)
        self.dwconv = nn.Conv2d(5, 5, 3, padding=1, groups=5)
        self.conv2 = nn.Conv2d(5, 7, 3, stride=2)
        self.dense1 = nn.Linear(63, 9)
        self.dense2 = nn.Linear(9, 10)

    def forward(self, x):
        f = torch.nn.functional
        x = torch.sigmoid(self.conv1(x))
        x = torch.tanh(self.dwconv(x))
        x = f.elu(self.conv2(x))
        x = torch.tanh(self.dense1(x.permute(0, 2, 3, 1).flatten(1)))
        return self.dense2(x)  # logits; the softmax is in the loss


def _net(dtype=torch.float32) -> KerasNet:
    net = KerasNet().to(dtype)
    perm = {"conv1": (3, 2, 0, 1), "dwconv": (2, 3, 0, 1), "conv2": (3, 2, 0, 1)}
    with torch.no_grad():
        for name in LAYERS:
            mod = getattr(net, name)
            kernel = torch.from_numpy(REF[f"w_{name}_0"])
            mod.weight.copy_(kernel.permute(*perm[name]) if name in perm else kernel.T)
            mod.bias.copy_(torch.from_numpy(REF[f"w_{name}_1"]))
    return net


def _batch(dtype=torch.float32):
    return torch.from_numpy(REF["X"]).permute(0, 3, 1, 2).to(dtype), torch.from_numpy(REF["y"])


def _blocks(convention, *, dtype=torch.float32, per_example=False):
    x, y = _batch(dtype)
    ce = torch.nn.functional.cross_entropy
    loss = (lambda o, t: ce(o, t, reduction="none")) if per_example else ce
    return {b.name: b for b in kfac_factors(_net(dtype), x, y, loss, convention=convention)}


def _top(values: np.ndarray) -> np.ndarray:
    v = np.sort(values[np.isfinite(values)])
    return v[v >= v[-1] - TOP_NATS]


def test_fixture_is_the_documented_network():
    assert LAYERS == ["conv1", "dwconv", "conv2", "dense1", "dense2"]
    assert [int(REF[f"n_weights_{n}"]) for n in LAYERS] == [50, 50, 322, 576, 100]
    assert [REF[f"logeig_{n}"].size for n in LAYERS] == [50, 50, 322, 576, 100]


@pytest.mark.parametrize("per_example", [False, True])
@pytest.mark.parametrize("layer", LAYERS)
def test_reference_convention_gives_the_reference_spectrum(layer, per_example):
    block = _blocks("reference", per_example=per_example)[layer]
    assert block.n_weights == int(REF[f"n_weights_{layer}"])
    got, want = _top(block.log_eigenvalues()), _top(REF[f"logeig_{layer}"])
    assert got.size == want.size and want.size >= 5
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


@pytest.mark.parametrize("layer", [n for n in LAYERS if f"cdf_{n}" in REF.files])
def test_reference_convention_gives_the_reference_cdf(layer):
    block = _blocks("reference")[layer]
    np.testing.assert_allclose(layer_cdf(block), REF[f"cdf_{layer}"], rtol=0, atol=1e-12)


def test_depthwise_reference_pools_channels():
    ref, kfac = _blocks("reference")["dwconv"], _blocks("kfac")["dwconv"]
    assert ref.log_a.shape == (1, 3 * 3 + 1) and ref.log_g.shape == (1, 5)  # one A, a 5 x 5 G
    assert kfac.log_a.shape == (5, 3 * 3 + 1) and kfac.log_g.shape == (5, 1)  # one (A, G) per channel
    # the textbook spectrum is not the reference's shifted: its spread differs
    r, k = np.sort(ref.log_eigenvalues()), np.sort(kfac.log_eigenvalues())
    assert np.ptp((k - r)[-20:]) > 0.1


def _expected_shift(layer: str) -> float:
    """log(kfac / reference) of every eigenvalue: conv 2 log B - log L, dense 2 log(fan_in + 1)."""
    locations = {"conv1": 8 * 8, "conv2": 3 * 3}
    fan_in = {"dense1": 63, "dense2": 9}
    if layer in locations:
        return 2 * np.log(BATCH) - np.log(locations[layer])
    return 2 * np.log(fan_in[layer] + 1)


@pytest.mark.parametrize("layer", ["conv1", "conv2", "dense1", "dense2"])
def test_kfac_is_the_reference_shifted_by_a_constant(layer):
    ref, kfac = _blocks("reference", dtype=torch.float64)[layer], _blocks("kfac", dtype=torch.float64)[layer]
    shift = _expected_shift(layer)
    assert 4 < shift < 11  # the gap that mixing the two conventions would hide in the features
    np.testing.assert_allclose(_top(kfac.log_eigenvalues()) - shift, _top(ref.log_eigenvalues()), atol=1e-6)
    np.testing.assert_allclose(_top(kfac.log_eigenvalues()) - shift, _top(REF[f"logeig_{layer}"]), atol=TOL)


def test_unknown_convention_is_refused():
    x, y = _batch()
    with pytest.raises(ValueError, match="convention must be one of"):
        kfac_factors(_net(), x, y, torch.nn.functional.cross_entropy, convention="textbook")
