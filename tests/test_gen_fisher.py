"""K-FAC against an explicit computation: factors built by hand, per example, without hooks or unfold."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from generation.fisher import KfacBlock, fim_feature, kfac_factors, kfac_log_eigenvalues, layer_cdf  # noqa: E402

pytestmark = pytest.mark.torch


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3, padding=1)  # dense conv with bias
        self.dw = torch.nn.Conv2d(3, 3, 3, stride=2, padding=1, groups=3, bias=False)  # depthwise
        self.fc = torch.nn.Linear(3 * 3 * 3, 4)

    def forward(self, x, keep=None):
        s1 = self.conv(x)
        a1 = torch.tanh(s1)
        s2 = self.dw(a1)
        a2 = torch.tanh(s2)
        s3 = self.fc(a2.flatten(1))
        if keep is not None:
            keep.update(x=x, s1=s1, a1=a1, s2=s2, a2=a2, s3=s3)
        return s3


def _patches(x, k, stride, pad):
    """im2col by explicit loops: (locations, C*k*k) for one example."""
    c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    rows = []
    for i in range(0, h + 2 * pad - k + 1, stride):
        for j in range(0, w + 2 * pad - k + 1, stride):
            rows.append(xp[:, i:i + k, j:j + k].reshape(-1))
    return np.array(rows)


def _explicit(model, x, y):
    """Factors by hand: per-example gradients from one backward pass per example."""
    n = x.shape[0]
    A = {"conv": 0, "dw": [0, 0, 0], "fc": 0}
    G = {"conv": 0, "dw": [0, 0, 0], "fc": 0}
    counts = {"conv": 0, "dw": 0, "fc": 0}
    for i in range(n):
        keep = {}
        out = model(x[i:i + 1], keep)
        for t in ("s1", "s2", "s3"):
            keep[t].retain_grad()
        torch.nn.functional.cross_entropy(out, y[i:i + 1]).backward()
        p1 = _patches(keep["x"][0].detach().numpy(), 3, 1, 1)
        p1 = np.hstack([p1, np.ones((len(p1), 1))])
        g1 = keep["s1"].grad[0].numpy().reshape(3, -1).T
        A["conv"] = A["conv"] + p1.T @ p1
        G["conv"] = G["conv"] + g1.T @ g1
        counts["conv"] += len(p1)
        a1 = keep["a1"][0].detach().numpy()
        g2 = keep["s2"].grad[0].numpy().reshape(3, -1).T
        for c in range(3):
            pc = _patches(a1[c:c + 1], 3, 2, 1)
            A["dw"][c] = A["dw"][c] + pc.T @ pc
            G["dw"][c] = G["dw"][c] + g2[:, c:c + 1].T @ g2[:, c:c + 1]
        counts["dw"] += g2.shape[0]
        a2 = np.append(keep["a2"][0].detach().numpy().reshape(-1), 1.0)[None]
        g3 = keep["s3"].grad.numpy()
        A["fc"] = A["fc"] + a2.T @ a2
        G["fc"] = G["fc"] + g3.T @ g3
        counts["fc"] += 1
        model.zero_grad()
    def eig(m):
        with np.errstate(divide="ignore"):
            return np.log(np.clip(np.linalg.eigvalsh(m), 0, None))
    return {
        "conv": ([eig(A["conv"] / counts["conv"])], [eig(G["conv"] / counts["conv"])]),
        "dw": ([eig(a / counts["dw"]) for a in A["dw"]], [eig(g / counts["dw"]) for g in G["dw"]]),
        "fc": ([eig(A["fc"] / counts["fc"])], [eig(G["fc"] / counts["fc"])]),
    }


def test_kfac_matches_explicit_factors():
    torch.manual_seed(0)
    model = Tiny().double()
    x = torch.randn(5, 2, 6, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (5,))
    blocks = kfac_factors(model, x.float().double(), y, torch.nn.functional.cross_entropy, convention="kfac")
    assert [b.name for b in blocks] == ["conv", "dw", "fc"]
    assert [b.n_weights for b in blocks] == [2 * 9 * 3 + 3, 3 * 9, 27 * 4 + 4]
    ref = _explicit(model, x, y)
    for b in blocks:
        la, lg = ref[b.name]
        assert b.log_a.shape == (len(la), len(la[0])) and b.log_g.shape == (len(lg), len(lg[0]))
        big = lambda v: v > -15  # compare eigenvalues above float32 Gram round-off
        for got, want in ((b.log_a, la), (b.log_g, lg)):
            for g_row, w_row in zip(got, want):
                np.testing.assert_allclose(g_row[big(w_row)], w_row[big(w_row)], rtol=1e-4, atol=1e-4)
        assert b.log_eigenvalues().size == b.n_weights


def test_log_eigenvalues_are_the_kronecker_spectrum():
    torch.manual_seed(1)
    model = Tiny()
    x, y = torch.randn(4, 2, 6, 6), torch.randint(0, 4, (4,))
    pairs = dict(kfac_log_eigenvalues(model, x, y, torch.nn.functional.cross_entropy))
    blocks = {b.name: b for b in kfac_factors(model, x, y, torch.nn.functional.cross_entropy)}
    b = blocks["fc"]
    A = np.diag(np.exp(b.log_a[0]))
    G = np.diag(np.exp(b.log_g[0]))
    kron = np.sort(np.log(np.clip(np.linalg.eigvalsh(np.kron(A, G)), 1e-300, None)))
    got = np.sort(pairs["fc"])
    finite = np.isfinite(got) & (got > -600)
    np.testing.assert_allclose(got[finite], kron[finite], rtol=1e-9, atol=1e-9)
    assert isinstance(pairs["conv"], np.ndarray) and pairs["conv"].dtype == np.float64


def test_per_example_and_mean_losses_agree():
    torch.manual_seed(2)
    model = Tiny()
    x, y = torch.randn(6, 2, 6, 6), torch.randint(0, 4, (6,))
    mean = kfac_factors(model, x, y, torch.nn.functional.cross_entropy)
    per = kfac_factors(model, x, y, lambda o, t: torch.nn.functional.cross_entropy(o, t, reduction="none"))
    for a, b in zip(mean, per):
        big = a.log_g > -15  # softmax gradients have a null direction: its eigenvalue is round-off
        np.testing.assert_allclose(a.log_g[big], b.log_g[big], rtol=1e-4, atol=1e-4)


def _reference_cdf(values, n_weights):
    edges = np.linspace(-100, 100, n_weights // 100)
    hist, _ = np.histogram(values[np.isfinite(values)], edges, density=True)
    c = np.cumsum(hist)
    return c / c[-1]


@pytest.mark.parametrize("groups, da, dg", [(1, 40, 30), (1, 300, 2), (8, 30, 1), (1, 3, 500)])
def test_cdf_methods_agree_with_np_histogram(groups, da, dg):
    rng = np.random.default_rng(groups * da + dg)
    la = rng.normal(-20, 15, (groups, da))
    lg = rng.normal(-10, 20, (groups, dg))
    la[0, 0] = -np.inf  # a zero eigenvalue: dropped
    lg[0, -1] = 90.0  # sums beyond 100: dropped
    block = KfacBlock("x", groups * da * dg, la, lg)
    ref = _reference_cdf(block.log_eigenvalues(), block.n_weights)
    for method in ("pairs", "search", "auto"):
        got = layer_cdf(block, method=method)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="method must be"):
        layer_cdf(block, method="fast")


def test_cdf_edge_cases_and_feature_layout():
    dead = KfacBlock("dead", 1000, np.zeros((1, 10)), np.full((1, 100), -np.inf))
    assert np.isnan(layer_cdf(dead)).all()  # no finite eigenvalue: no information
    small = KfacBlock("small", 150, np.zeros((1, 15)), np.zeros((1, 10)))
    assert layer_cdf(small).size == 0  # fewer than 200 weights: edges (-100, 100) give no bin
    ok = KfacBlock("ok", 1000, np.zeros((1, 10)), np.zeros((1, 100)))
    feat, layers = fim_feature([ok, small, ok])
    assert feat.dtype == np.float32 and feat.size == 18
    assert [(l.offset, l.n_bins) for l in layers] == [(0, 9), (9, 0), (9, 9)]


def test_twice_called_layer_is_refused():
    lin = torch.nn.Linear(3, 3)
    model = torch.nn.Sequential(lin, torch.nn.Tanh(), lin)
    with pytest.raises(RuntimeError, match="called twice"):
        kfac_factors(model, torch.randn(4, 3), torch.randint(0, 3, (4,)), torch.nn.functional.cross_entropy)


def test_layer_without_influence_has_zero_gradient():
    class Branch(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(30, 30), torch.nn.Linear(30, 30)

        def forward(self, x):
            self.b(x)  # computed, but the loss does not depend on it (like a layer followed by zero(x))
            return self.a(x)

    blocks = {b.name: b for b in kfac_factors(Branch(), torch.randn(4, 30), torch.randint(0, 3, (4,)),
                                              torch.nn.functional.cross_entropy)}
    assert np.isneginf(blocks["b"].log_g).all() and np.isfinite(blocks["a"].log_g).any()
    assert np.isnan(layer_cdf(blocks["b"])).all()


def test_overflowing_network_has_nan_feature():
    model = torch.nn.Sequential(torch.nn.Linear(30, 30), torch.nn.Linear(30, 30))
    with torch.no_grad():
        model[0].weight.fill_(1e30)
    blocks = kfac_factors(model, torch.randn(4, 30) * 1e10, torch.randint(0, 3, (4,)), torch.nn.functional.cross_entropy)
    assert np.isnan(blocks[1].log_a).all()  # inf activations: no eigenvalues, no feature
    assert np.isnan(layer_cdf(blocks[1])).all()


def test_lost_fractions_count_what_the_histogram_drops():
    rng = np.random.default_rng(7)
    la = rng.normal(-60, 40, (2, 30))
    lg = rng.normal(-30, 30, (2, 20))
    la[0, 3] = -np.inf  # a zero eigenvalue of A: its 20 sums are not finite
    block = KfacBlock("x", 2 * 30 * 20, la, lg)
    s = block.log_eigenvalues()
    got = block.lost_fractions()
    assert got["nonfinite"] == 20 / s.size
    assert got["below"] == np.sum(s[np.isfinite(s)] < -100) / s.size
    assert got["above"] == np.sum(s[np.isfinite(s)] > 100) / s.size
    assert 0 < got["below"] < 1
