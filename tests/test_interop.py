"""The objective every optimiser calls (actbench.interop.Objective), fidelities as optimisers send them, the
ConfigSpace export, and a table's values as arrays and DataFrames, on the shipped mini table.

DEHB itself is not installed by the tests (dehb 0.1.2 requires numpy < 2); the contract it uses is tested
here: its fidelities, computed by DEHB's own formula, and the ``{"fitness", "cost", "info"}`` answer."""

import math

import numpy as np
import pytest

from actbench import ActBench
from actbench.base.errors import BudgetExhausted
from actbench.interop import Objective, configspace, fidelity_space
from actbench.query.slots import INDEX_PARAM, name_of, params_of, row_of_params


@pytest.fixture(scope="module")
def mini():
    return ActBench("mini")


def _rows(mini):
    val = mini.metric("val_acc")
    good = int(np.flatnonzero(np.isfinite(val))[0])
    bad = int(np.flatnonzero(np.isnan(val))[0])
    return good, bad


def test_value_cost_and_info_of_a_trained_and_a_diverged_function(mini):
    good, bad = _rows(mini)
    obj = Objective(mini)
    r = obj.objective_function(params_of(mini, good))
    assert r["function_value"] == pytest.approx(1 - mini.metric("val_acc")[good])
    assert r["cost"] == pytest.approx(mini.metric("runtime_s")[good])
    assert r["info"]["function"] == mini.names[good] and r["info"]["new"] and not r["info"]["worst_value"]
    d = obj.objective_function(mini.names[bad])
    assert d["function_value"] == 1.0 and math.isfinite(d["cost"])  # the documented worst value, never NaN
    assert d["info"]["worst_value"] and math.isnan(d["info"]["val_acc"])
    assert d["info"]["diverged"] or d["info"]["missing"]
    assert obj.budget.evaluations == 2
    up = Objective(mini, direction="maximize")
    assert up(mini.names[good]) == pytest.approx(mini.metric("val_acc")[good]) and up(mini.names[bad]) == 0.0


def test_every_form_of_a_configuration_names_the_same_function_and_is_charged_once(mini):
    import optuna

    obj = Objective(mini)
    row = mini.resolver.resolve("swish(x)").row
    params = params_of(mini, row)
    cs = configspace(mini, seed=0)
    from ConfigSpace import Configuration

    v = [obj("swish(x)"), obj(params), obj(Configuration(cs, values=params)), obj("mul(sigmoid(x), x)")]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(params)
    study.optimize(obj, n_trials=1)
    v.append(study.trials[0].value)
    assert len(set(v)) == 1
    assert obj.budget.evaluations == 1 and obj.calls == 5
    assert study.trials[0].user_attrs["function"] == mini.names[row]


def test_configurations_of_the_configspace_name_rows(mini):
    cs = configspace(mini, seed=1)
    assert sorted(cs) == ["binary", "unary_1", "unary_2"]
    for config in cs.sample_configuration(50):
        assert row_of_params(mini, dict(config)) is not None
    fs = fidelity_space(mini)
    assert (fs["epoch"].lower, fs["epoch"].upper, fs["epoch"].default_value) == (1, 10, 10)
    idx = configspace(mini, form="index")
    assert list(idx) == [INDEX_PARAM] and idx[INDEX_PARAM].upper == len(mini) - 1
    with pytest.raises(ValueError, match="is not one of its"):
        name_of(mini, {"binary": "nope", "unary_1": "abs", "unary_2": "abs"})


def test_whole_number_float_fidelities_are_epochs_and_others_are_refused(mini):
    a = mini.query("swish(x)", epoch=3)
    for e in (3.0, np.float64(3.0), np.int32(3), 9 * 3.0 ** -2 * 3):  # the last: DEHB's arithmetic, 3.0000000000000004
        assert mini.query("swish(x)", epoch=e).val_acc == a.val_acc
    for e, msg in ((1.5, "not a whole number"), (0, "between 1 and 10"), (11.0, "between 1 and 10"),
                   (True, "whole number"), ("3", "whole number"), (float("nan"), "between")):
        with pytest.raises(ValueError, match=msg):
            mini.query("swish(x)", epoch=e)
    obj = Objective(mini, round_fidelity=True)
    assert obj.evaluate("swish(x)", 10 / 9).info["epoch"] == 2
    assert obj.evaluate("swish(x)", {"epoch": 3.0}).info["epoch"] == 3
    with pytest.raises(ValueError, match="round_fidelity=True"):
        Objective(mini).evaluate("swish(x)", 10 / 3)


def test_dehb_fidelities_and_answers(mini):
    """The fidelities DEHB 0.1.2 computes (max * eta ** -linspace(...)), and what its function must return."""

    def dehb_fidelities(lo, hi, eta):
        n = -int(np.log(lo / hi) / np.log(eta)) + 1
        return hi * np.power(eta, -np.linspace(start=n - 1, stop=0, num=n))

    whole = dehb_fidelities(1, 9, 3)
    obj = Objective(mini)
    cs = obj.get_configuration_space(seed=0)
    for config, f in zip(cs.sample_configuration(len(whole)), whole):
        r = obj.dehb(config, f)
        assert set(r) == {"fitness", "cost", "info"} and math.isfinite(r["fitness"]) and math.isfinite(r["cost"])
        assert r["info"]["epoch"] == round(f)
    frac = dehb_fidelities(1, 10, 3)  # 1.11, 3.33, 10
    with pytest.raises(ValueError, match="not a whole number"):
        obj.dehb(cs.sample_configuration(), frac[0])
    rounded = Objective(mini, round_fidelity=True)
    assert [rounded.dehb("swish(x)", f)["info"]["epoch"] for f in frac] == [2, 4, 10]


def test_a_later_epoch_is_charged_only_the_seconds_between(mini):
    obj = Objective(mini)
    e3 = obj.evaluate("swish(x)", 3)
    e10 = obj.evaluate("swish(x)", 10)
    assert e3.cost == e3.info["charged_s"] == e3.info["cost_s"] == mini.cost("swish(x)", epoch=3)
    assert e10.cost == e10.info["charged_s"] == pytest.approx(e10.info["cost_s"] - e3.info["cost_s"])
    five = obj.evaluate("swish(x)", 5)
    assert five.cost == five.info["charged_s"] == 0.0 and five.info["cost_s"] == mini.cost("swish(x)", epoch=5)
    assert obj.budget.seconds == pytest.approx(e10.info["cost_s"]) and obj.budget.evaluations == 1


def test_max_evaluations_stops_new_functions_and_refunds_nothing_twice(mini):
    obj = Objective(mini, max_evaluations=3)
    names = mini.names[:4]
    for n in names[:3]:
        obj(n)
    assert obj.exhausted
    before = (obj.budget.evaluations, obj.budget.seconds)
    with pytest.raises(BudgetExhausted, match="budget is spent") as e:
        obj(names[3])
    assert e.value.evaluations == 3
    assert (obj.budget.evaluations, obj.budget.seconds) == before  # the refused evaluation is not charged
    assert obj(names[0]) == obj(names[0])  # evaluated functions are still answered, free
    assert obj.budget.paid(mini.resolver.resolve(names[3]).row) is None


def test_max_seconds_stops_after_the_evaluation_that_crosses_it(mini):
    limit = float(mini.metric("runtime_s")[:2].sum()) * 0.75
    obj = Objective(mini, max_seconds=limit)
    obj(mini.names[0])
    assert not obj.exhausted
    obj(mini.names[1])  # crosses the limit: made, as run_search makes it
    assert obj.exhausted and obj.budget.seconds > limit
    with pytest.raises(BudgetExhausted):
        obj.evaluate(mini.names[2], 1)


def test_test_values_are_free_and_per_seed(mini):
    good, _ = _rows(mini)
    obj = Objective(mini)
    r = obj.objective_function_test(mini.names[good])
    assert r["function_value"] == pytest.approx(1 - mini.metric("test_acc")[good])
    assert obj.budget.evaluations == 0
    s1 = Objective(mini, seed=1)
    assert s1.objective_function_test(mini.names[good])["function_value"] == pytest.approx(
        1 - mini.per_seed("test_acc")[good, 1])
    assert s1(mini.names[good]) == pytest.approx(1 - mini.per_seed("val_acc")[good, 1])
    with pytest.raises(ValueError, match="not one of the table's seeds"):
        Objective(mini, seed=7)
    with pytest.raises(ValueError, match="end of training"):
        obj.objective_function_test(mini.names[good], fidelity=3)


def test_optuna_pruning_reports_the_curve_and_charges_up_to_the_epoch_reached(mini):
    import optuna

    obj = Objective(mini, max_evaluations=40, optuna_pruning=True)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
    study.optimize(obj, n_trials=500, callbacks=[obj.stopper])
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.PRUNED in states and optuna.trial.TrialState.COMPLETE in states
    assert obj.budget.evaluations == 40 and all(t.value is None or math.isfinite(t.value) for t in study.trials)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    full = mini.metric("runtime_s")
    # a pruned trial was charged up to its last reported epoch, less than the whole run
    t = pruned[0]
    row = mini.resolver.resolve(t.user_attrs["function"]).row
    assert mini.budget.paid(row) < full[row] and max(t.intermediate_values) < 10


def test_meta_information_and_fidelity_range(mini):
    obj = Objective(mini)
    meta = obj.get_meta_information()
    assert meta["functions"] == len(mini) and meta["epochs"] == 10 and "validation error" in meta["value"]
    assert obj.fidelity_range == (1, 10)
    with pytest.raises(ValueError, match="direction"):
        Objective(mini, direction="up")


# --- arrays and frames ---------------------------------------------------------------------------


def test_table_with_per_seed_columns_and_slot_parameters(mini):
    df = mini.table(per_seed=True, params=True)
    assert len(df) == len(mini)
    np.testing.assert_array_equal(df["val_acc_seed2"].to_numpy(), mini.per_seed("val_acc")[:, 2])
    np.testing.assert_array_equal(df["diverged_seed0"].to_numpy(), mini.seed_diverged()[:, 0])
    for row in (0, 100, 2000):
        p = {k: df[k].iloc[row] for k in ("binary", "unary_1", "unary_2")}
        assert row_of_params(mini, p) == row
    assert mini.budget.evaluations == 0
    plain = mini.table()
    assert list(plain.columns) == list(df.columns[:len(plain.columns)])
    eq = mini.table(equivalents=True)
    assert (eq["equivalents"].map(len) == eq["n_equivalents"]).all()
    assert eq["equivalents"].iloc[1] == tuple(mini.resolver.equivalents(1))
    mini.query("swish(x)", seed=0)  # per-seed values loaded by a query do not leak into a plain table()
    assert list(mini.table().columns) == list(plain.columns)
    mini.budget.reset()


def test_curves_frame_and_elapsed_match_the_arrays(mini):
    rows = np.array([5, 17, 400])
    df = mini.curves_frame(rows=rows)
    assert len(df) == 3 * 3 * 10 and list(df.columns[:4]) == ["function", "row", "seed", "epoch"]
    curves = mini.curves("val_acc", rows)
    pick = df[(df.row == 17) & (df.seed == mini.seeds[1])]
    np.testing.assert_array_equal(pick["val_acc"].to_numpy(), curves[1, 1])
    assert (pick["function"] == mini.names[17]).all()
    el = mini.elapsed(rows)
    reached = ~np.isnan(mini.curves("val_acc", rows)[:, :, -1])
    runtime = mini.per_seed("runtime_s")[rows]
    np.testing.assert_allclose(el[:, :, -1][reached], runtime[reached])  # the last epoch costs the whole run
    step = np.diff(el, axis=2)
    ran = ~np.isnan(mini.curves("val_acc", rows))[:, :, 1:]
    assert (step[ran] > 0).all() and (step[~ran] == 0).all()  # after a run stopped, it costs nothing more
    whole = mini.curves_frame(columns=["val_acc"])
    assert len(whole) == len(mini) * 3 * 10
    assert list(whole.columns) == ["function", "row", "seed", "epoch", "val_acc", "diverged"]
    # a run has diverged by an epoch where it has no value; at the last epoch also where the table flags it
    # diverged at the end of training (9 runs of mini diverged after their last validation)
    want = np.isnan(mini.curves("val_acc"))
    want[:, :, -1] |= mini.seed_diverged()
    np.testing.assert_array_equal(whole["diverged"].to_numpy(), want.ravel())
    assert (want[:, :, -1] & ~np.isnan(mini.curves("val_acc")[:, :, -1])).sum() == 9
    assert mini.budget.evaluations == 0


def _no_curves(tmp_path):
    """A SYNTHETIC two-row table without learning curves (written here; not the paper's data)."""
    from actbench.table import Provenance, TableInfo, TableWriter

    path = tmp_path / "flat.h5"
    prov = Provenance.now(source="test-fixture", description="synthetic values for this test")
    with TableWriter(path, info=TableInfo(benchmark="flat", space="act-bench", n_seeds=1), provenance=prov) as w:
        w.add("add(relu(x),zero(x))", {"val_acc": 0.9, "test_acc": 0.89, "runtime_s": 60.0})
        w.add("mul(tanh(x),sigmoid(x))", {"val_acc": 0.8, "test_acc": 0.79, "runtime_s": 50.0})
    return ActBench(path)


def test_bad_arguments_and_fidelities_say_what_to_do(mini, tmp_path):
    with pytest.raises(ValueError, match="max_evaluations must be a whole number of distinct functions, at least 1"):
        Objective(mini, max_evaluations=0)
    obj = Objective(mini)
    with pytest.raises(TypeError, match="a configuration is a function name, a dict"):
        obj(3.5)
    with pytest.raises(ValueError, match=r"a fidelity is \{'epoch': k\}"):
        obj.evaluate("swish(x)", {"epochs": 3})
    flat = _no_curves(tmp_path)
    assert Objective(flat)("relu(x)") == pytest.approx(0.1) and Objective(flat).fidelity_range is None
    with pytest.raises(ValueError, match="no learning curves, so no fidelity"):
        Objective(flat).evaluate("relu(x)", 1)
    with pytest.raises(ValueError, match="no learning curves, so no fidelity"):
        fidelity_space(flat)
    from actbench.interop import syne_tune_blackbox

    with pytest.raises(ValueError, match="needs values per epoch"):
        syne_tune_blackbox(flat)
    with pytest.raises(ValueError, match="export it with form='index'"):  # the table lacks the space's functions
        syne_tune_blackbox(_with_curves_missing_rows(tmp_path))


def _with_curves_missing_rows(tmp_path):
    """A stand-in for a table of the act-bench space with learning curves whose resolver answers no name (every
    slot combination missing): what the export reads before any value."""
    import types

    return types.SimpleNamespace(epochs=10, name="subset", info=ActBench("mini").info,
                                 resolver=types.SimpleNamespace(find=lambda name: None))
