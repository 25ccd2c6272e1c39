"""Surrogates and offline search on the shipped mini table (real results of our own runs)."""

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")

from actbench import ActBench  # noqa: E402
from actbench.cli import main  # noqa: E402
from actbench.search import (  # noqa: E402
    RandomSearch,
    RegularizedEvolution,
    SearchSpace,
    Strategy,
    SurrogateSearch,
    make_strategy,
    run_search,
)
from actbench.surrogate import KNeighborsSurrogate, make_regressor, surrogate_quality  # noqa: E402


@pytest.fixture(scope="module")
def mini():
    return ActBench("mini")


def test_knr_matches_scikit_learn():
    from sklearn.neighbors import KNeighborsRegressor

    rng = np.random.default_rng(0)
    X, y, Q = rng.normal(size=(60, 2)), rng.uniform(size=60), rng.normal(size=(200, 2))
    ours = KNeighborsSurrogate(3).fit(X, y).predict(Q)
    np.testing.assert_allclose(ours, KNeighborsRegressor(3).fit(X, y).predict(Q), rtol=1e-12)
    assert KNeighborsSurrogate(3).fit(X[:2], y[:2]).predict(Q[:1])[0] == pytest.approx(y[:2].mean())
    with pytest.raises(ValueError, match="not fitted"):
        KNeighborsSurrogate().predict(Q)
    with pytest.raises(ValueError, match="fit needs X"):
        KNeighborsSurrogate().fit(X, y[:3])
    with pytest.raises(ValueError, match="n_neighbors must be >= 1"):
        KNeighborsSurrogate(0).fit(X, y)
    with pytest.raises(ValueError, match="did you mean 'svr'"):
        make_regressor("svm")


def test_incremental_knn_equals_refitting():
    from actbench.surrogate import IncrementalKNeighbors

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    inc = IncrementalKNeighbors(X, 3)
    added, ys = [], []
    for i in rng.choice(300, size=25, replace=False):
        y = float(rng.uniform())
        inc.add(int(i), y)
        added.append(int(i))
        ys.append(y)
        ref = KNeighborsSurrogate(3).fit(X[added], np.array(ys)).predict(X)
        np.testing.assert_allclose(inc.predict(), ref, rtol=1e-12)


def test_incremental_knn_keeps_ties_in_the_order_of_a_stable_sort():
    """Equidistant neighbours: the point added first stays nearer, as a stable sort of all distances
    (old points, then the new one) orders them; searches depend on it through the tie-broken predictions."""
    from actbench.surrogate import IncrementalKNeighbors

    rng = np.random.default_rng(2)
    X = rng.integers(0, 3, size=(200, 2)).astype(float)  # many duplicate points, many equal distances
    inc = IncrementalKNeighbors(X, 3)
    seen_d, seen_y = np.empty((200, 0)), np.empty((200, 0))
    for i in rng.choice(200, size=40, replace=False):
        y = float(rng.integers(0, 5))
        inc.add(int(i), y)
        seen_d = np.column_stack([seen_d, ((X - X[i]) ** 2).sum(axis=1)])
        seen_y = np.column_stack([seen_y, np.full(200, y)])
        order = np.argsort(seen_d, axis=1, kind="stable")[:, :3]
        k = order.shape[1]
        np.testing.assert_array_equal(inc.best_d[:, :k], np.take_along_axis(seen_d, order, axis=1))
        np.testing.assert_array_equal(inc.best_y[:, :k], np.take_along_axis(seen_y, order, axis=1))
        np.testing.assert_array_equal(inc.predict(), np.take_along_axis(seen_y, order, axis=1).mean(axis=1))


def test_random_search_trajectory_and_determinism(mini):
    a = run_search(mini, RandomSearch(), budget=30, seed=1)
    b = run_search(mini, RandomSearch(), budget=30, seed=1)
    c = run_search(mini, RandomSearch(), budget=30, seed=2)
    assert a.names == b.names and a.names != c.names
    assert len(a.names) == len(set(a.names)) == 30 and mini.budget.evaluations == 30
    assert np.all(np.diff(a.best_val) >= 0) and np.all(a.regret >= -1e-12)
    assert a.regret[-1] == pytest.approx(np.nanmax(mini.metric("val_acc")) - a.best_val[-1])
    assert np.all(np.diff(a.seconds) >= 0)
    assert list(a.to_frame().columns) == ["function", "val_acc", "test_acc", "best_val", "best_test", "regret", "seconds",
                                          "wall", "epoch"]


def test_surrogate_search_starts_with_the_baselines(mini):
    r = run_search(mini, SurrogateSearch("knr", "both"), budget=20, seed=0)
    baseline_rows = {mini.lookup(b) for b in ("elu(x)", "relu(x)", "selu(x)", "sigmoid(x)", "softplus(x)",
                                              "softsign(x)", "swish(x)", "tanh(x)")}
    assert set(r.names[:len(baseline_rows)]) == baseline_rows
    assert run_search(mini, SurrogateSearch("knr", "both"), budget=20, seed=0).names == r.names  # deterministic


def test_surrogate_beats_random_over_repeats(mini):
    """The paper's claim, on our table: KNR on the FIM embedding finds better functions than random search.

    Over 100 repeats at 100 evaluations (docs/search.md) the mean regret is 0.0038 for knr-fim and 0.0064
    for random search (0.0033 and 0.0063 on the first mini); here 20 repeats must show a gap of at least
    0.0015, about half a validation image (measured: 0.0034). On mini the output features do not beat
    random search (docs/search.md says so)."""
    knr = [run_search(mini, SurrogateSearch("knr", "fim"), budget=100, seed=s).regret[-1] for s in range(20)]
    rnd = [run_search(mini, RandomSearch(), budget=100, seed=s).regret[-1] for s in range(20)]
    assert np.mean(knr) + MARGIN <= np.mean(rnd), (np.mean(knr), np.mean(rnd))


MARGIN = 0.0015  # regret, in accuracy units


def test_evolution_and_user_strategies(mini):
    r = run_search(mini, RegularizedEvolution(), budget=40, seed=0)
    assert len(set(r.names)) == 40

    class Alphabetical:
        name = "alphabetical"

        def setup(self, space, rng):
            self.todo = sorted(space.names)

        def ask(self):
            return self.todo.pop(0)

        def tell(self, name, val_acc):
            pass

    assert isinstance(Alphabetical(), Strategy)
    res = run_search(mini, Alphabetical(), budget=5, seed=0)
    assert res.names == sorted(mini)[:5]

    class Stuck(Alphabetical):
        def ask(self):
            return "relu(x)"

    with pytest.raises(RuntimeError, match="keeps repeating itself"):
        run_search(mini, Stuck(), budget=3, seed=0)

    class Outsider(Alphabetical):
        def setup(self, space, rng):
            self.todo = ["tanh(tanh(tanh(x)))"] * 3 + sorted(space.names)

    assert len(run_search(mini, Outsider(), budget=2, seed=0).names) == 2  # unknown names are told NaN, not charged
    with pytest.raises(ValueError, match="budget must be between 1"):
        run_search(mini, RandomSearch(), budget=0)
    with pytest.raises(ValueError, match="did you mean 'random'"):
        make_strategy("randm")


def test_search_space_hides_metrics(mini):
    space = SearchSpace(mini)
    assert len(space.names) == len(mini) and space.find("relu(x)") == space.row("sub(relu(x),zero(x))")
    assert space.find("tanh(tanh(tanh(x)))") is None
    assert space.embedding("both").shape == (len(mini), 2)
    assert not any(hasattr(space, a) for a in ("metric", "table", "query"))


def test_surrogate_quality_is_positive(mini):
    q = surrogate_quality(mini, features="both", regressor="knr")
    assert q["spearman"] > QUALITY and q["kendall"] > 0


QUALITY = 0.3  # measured Spearman is higher (docs/search.md)


def test_embedding_cache_and_errors(tmp_path, monkeypatch, mini):
    from actbench import features as F

    e1 = F.embedding(mini, "both")  # the shipped, precomputed embedding: no UMAP fit
    monkeypatch.setattr(F, "_fit", lambda *a: (_ for _ in ()).throw(AssertionError("refit")))
    assert np.array_equal(F.embedding(mini, "both"), e1)
    with pytest.raises(ValueError, match="features must be one of"):
        F.embedding(mini, "eigen")
    assert F.rms_distance(np.ones(4), np.zeros(4)) == 1.0
    layers = mini.fim_layers
    a, b = np.zeros(377), np.zeros(377)
    b[layers[1].offset] = 1.0  # one bin of conv2 (45 bins over 200 units)
    assert F.fim_distance(a, b, layers) == pytest.approx(200 / 45)
    assert F.fim_distance(a, b) == 1.0


@pytest.mark.slow
def test_umap_fit_on_a_small_synthetic_table(tmp_path):
    pytest.importorskip("umap")
    from fixtures import official_records, write_official_json

    from actbench import features as F
    from actbench.convert import convert_official_json

    src = write_official_json(tmp_path / "s.json", official_records(120, 250, seed=9))
    convert_official_json(src, tmp_path / "s.h5", bench="resnet", source="test-fixture")
    bench = ActBench(tmp_path / "s.h5")
    e = F.embedding(bench, "both", cache_dir=tmp_path / "cache")
    assert e.shape == (120, 2) and np.isfinite(e).all()
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    assert np.array_equal(F.embedding(bench, "both", cache_dir=tmp_path / "cache"), e)
    fast = F.embedding(bench, "both", cache_dir=tmp_path / "cache", method="fast")  # the large space's method
    assert fast.shape == (120, 2) and np.isfinite(fast).all() and not np.array_equal(fast, e)
    assert sorted(p.name.split("-", 1)[1] for p in (tmp_path / "cache").glob("*.npy")) == [
        "both-fast-seed0-v1.npy", "both-seed0-v1.npy"]
    assert np.array_equal(F.embedding(bench, "both", use_cache=False, method="fast"), fast)  # deterministic
    assert np.array_equal(F.embedding(bench, "both", cache_dir=tmp_path / "cache", method="auto"), e)  # 120 rows: exact
    with pytest.raises(ValueError, match="embedding method must be one of"):
        F.embedding(bench, "both", method="quick")


def test_outputs_projection_is_pca_in_chunks(tmp_path, monkeypatch):
    """The fast embedding's input: exact principal components of the clipped outputs, accumulated over chunks
    of rows (here 7 rows a chunk), against numpy's SVD of the whole matrix."""
    from fixtures import official_records, write_official_json

    from actbench import features as F
    from actbench.convert import convert_official_json

    src = write_official_json(tmp_path / "s.json", official_records(60, 250, seed=4))
    convert_official_json(src, tmp_path / "s.h5", bench="resnet", source="test-fixture")
    bench = ActBench(tmp_path / "s.h5")
    monkeypatch.setattr(F, "_CHUNK", 7)
    proj, kept = F.outputs_projection(bench, 5)
    x = F.outputs_matrix(bench)
    x = x - x.mean(axis=0)
    _, sv, vt = np.linalg.svd(x, full_matrices=False)
    expected = x @ vt[:5].T
    assert proj.shape == (60, 5) and proj.dtype == np.float32
    np.testing.assert_allclose(np.abs(proj), np.abs(expected), rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(kept, sv[:5] ** 2 / (sv ** 2).sum(), rtol=1e-6)
    assert np.all(np.diff(kept) <= 0)


def test_cli_search_and_plot(tmp_path, capsys):
    out = tmp_path / "curve.png"
    assert main(["search", "--strategy", "knr", "random", "--budget", "20", "--repeats", "3", "--plot", str(out),
                 "--json", str(tmp_path / "t.json")]) == 0
    text = capsys.readouterr().out
    assert "knr-both" in text and "random" in text and out.stat().st_size > 1000
    assert set(json.loads((tmp_path / "t.json").read_text())) == {"knr-both", "random"}
    assert main(["plot", "embedding", "--features", "both", "-o", str(tmp_path / "map.png")]) == 0
    assert (tmp_path / "map.png").stat().st_size > 1000
    assert main(["search", "--strategy", "nope", "--repeats", "1"]) == 2


def test_embedding_needs_fim_and_umap(tmp_path, monkeypatch):
    import sys

    from actbench import MissingExtraError
    from actbench import features as F
    from actbench.table import Provenance, TableInfo, TableWriter

    path = tmp_path / "nofim.h5"
    with TableWriter(path, info=TableInfo(benchmark="nofim"), provenance=Provenance.now(
            source="test-fixture", description="synthetic")) as w:
        w.add("relu(x)", {"val_acc": 0.5})
    bench = ActBench(path)
    with pytest.raises(ValueError, match="has no FIM features; use features='outputs'"):
        F.embedding(bench, "fim", cache_dir=tmp_path)
    monkeypatch.setitem(sys.modules, "umap", None)
    with pytest.raises(MissingExtraError, match="pip install 'actbench\\[search\\]'"):
        F.embedding(bench, "outputs", cache_dir=tmp_path)


def test_plots_need_matplotlib(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["plot", "embedding", "-o", str(tmp_path / "m.png")]) == 2
    assert "plots need matplotlib" in capsys.readouterr().err
