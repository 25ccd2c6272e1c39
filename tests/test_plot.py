"""Plot helpers: label placement without collisions, colour range, regret floor (numpy only), and that the
label placement holds in a real figure (matplotlib)."""

from __future__ import annotations

import numpy as np
import pytest

from actbench._plot import label_points, label_vlines, plot_regret, pyplot, regret_floor, spread, trained_range


def test_spread_keeps_order_gap_and_bounds():
    rng = np.random.default_rng(0)
    for _ in range(200):
        w = rng.uniform(0, 1, rng.integers(1, 12)) ** 3  # clustered near 0
        out = spread(w, 0.05, 0.0, 1.0)
        o = np.argsort(w, kind="stable")
        assert np.all(np.diff(out[o]) >= 0.05 - 1e-12)
        assert out.min() >= -1e-12 and out.max() <= 1 + 1e-12


def test_spread_is_least_squares_and_leaves_separated_points_alone():
    assert np.allclose(spread([0.1, 0.5, 0.9], 0.05), [0.1, 0.5, 0.9])
    # two points 0.02 apart, gap 0.1: each moves half the shortfall, symmetrically
    assert np.allclose(spread([0.50, 0.52], 0.1), [0.46, 0.56])
    # three equal points centre on their position
    assert np.allclose(spread([0.5, 0.5, 0.5], 0.1), [0.4, 0.5, 0.6])
    # input order is kept in the output positions
    assert np.allclose(spread([0.52, 0.50], 0.1), [0.56, 0.46])


def test_spread_shrinks_the_gap_when_the_range_is_too_small():
    out = spread(np.full(11, 0.5), 0.5, 0.0, 1.0)
    assert np.allclose(np.sort(out), np.linspace(0, 1, 11))
    assert len(spread([], 0.1)) == 0


def test_trained_range_spans_the_good_functions():
    val = np.r_[np.full(500, 0.1), np.linspace(0.9, 0.99, 500), np.nan]
    lo, hi = trained_range(val)
    assert hi == pytest.approx(0.99) and 0.9 <= lo < 0.92
    assert trained_range(np.array([np.nan])) == (0.0, 1.0)
    assert trained_range(np.array([0.5, 0.5])) == (0.5, 1.5)


def test_regret_floor_is_below_every_positive_regret():
    assert regret_floor([np.array([0.1, 0.004, 0.0]), np.array([0.02, 0.0])]) == pytest.approx(0.002)
    assert regret_floor([np.zeros(3)]) == pytest.approx(1e-6)


def _text_boxes(fig):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    from matplotlib.text import Text

    return [Text.get_window_extent(t, r) for t in fig.axes[0].texts]  # the text alone, not its leader line


def _overlaps(boxes):
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]


def test_labels_of_close_points_do_not_overlap_in_a_figure():
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    pts = np.array([[0.50, 0.50], [0.501, 0.502], [0.502, 0.499], [0.1, 0.1], [0.11, 0.105], [0.9, 0.9]])
    ax.scatter(pts[:, 0], pts[:, 1])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    label_points(ax, pts, ["softplus", "swish", "selu", "elu", "softsign", "relu"])
    assert len(ax.texts) == 6 and not _overlaps(_text_boxes(fig))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.set_xlim(0, 1)
    label_vlines(ax, [0.95, 0.951, 0.96, 0.962, 0.97, 0.1], list("abcdef"))
    assert len(ax.texts) == 6 and not _overlaps(_text_boxes(fig))
    plt.close(fig)


def test_plot_regret_draws_zero_at_the_floor_on_a_log_scale():
    plt = pyplot()
    fig, ax = plt.subplots()
    runs = {"a": np.array([[0.5, 0.01, 0.0], [0.4, 0.02, 0.01]]), "b": np.array([[np.nan, 0.3, 0.3]] * 2)}
    floor = plot_regret(ax, np.arange(1, 4), runs, xlabel="n")
    assert floor == pytest.approx(0.005) and ax.get_yscale() == "log"
    lo, hi = ax.get_ylim()
    assert lo < floor and hi <= 3 * 0.45 + 1e-9
    assert np.all(ax.lines[0].get_ydata() >= floor)
    plt.close(fig)
