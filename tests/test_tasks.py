"""Task registry, a user's own task through --import, the large-extra space, CoAtNet, streamed image
folders, and the feature precompute (sample -> FIM-only worker -> feature table)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gen_fixtures import write_image_folder  # noqa: E402

from actbench import ActBench, get_space  # noqa: E402
from actbench.ops import BASELINES, EXTRA_UNARY  # noqa: E402
from generation.data import DATASETS, LazyImages, load_data, load_image_folder  # noqa: E402
from generation.merge import merge  # noqa: E402
from generation.models import coatnet, count_parameters  # noqa: E402
from generation.precompute import feature_table, main as precompute_main, sample_functions  # noqa: E402
from generation.recipes import Recipe  # noqa: E402
from generation.tasks import TASKS, Task, get_task, import_plugin, register_task  # noqa: E402
from generation.worker import main as worker_main, result_key  # noqa: E402

pytestmark = pytest.mark.torch
ROOT = Path(__file__).resolve().parents[1]


def test_paper_tasks_are_registered():
    expect = {"cifar100-cnn": ("all_cnn_c", "cifar100", "large"), "cifar100-resnet": ("resnet_cifar", "cifar100", "large"),
              "imagenet-vit": ("mobilevitv2", "imagenet", "large"), "imagenet-resnet50": ("resnet50", "imagenet", "large"),
              "coatnet": ("coatnet", "imagenet", "large-extra")}
    for name, (model, data, space) in expect.items():
        t = get_task(name)
        assert (t.recipe.model, t.recipe.data, t.space) == (model, data, space)
        assert t.data_help and t.recipe.notes  # every task says what its data root holds and what we chose
    assert get_task("cifar100-resnet").recipe.data_kwargs == get_task("resnet").recipe.data_kwargs
    with pytest.raises(KeyError, match="did you mean 'coatnet'"):
        get_task("coatnett")
    with pytest.raises(ValueError, match="already registered"):
        register_task(TASKS["digits"])
    with pytest.raises(ValueError, match="unknown space"):
        register_task(TASKS["digits"].model_copy(update={"name": "x", "space": "nope"}))
    with pytest.raises(ValueError, match="unknown model"):
        register_task(Task(name="y", space="act-bench", recipe=TASKS["digits"].recipe.model_copy(update={"model": "no"})))


def test_coatnet_is_coatnet_0_with_every_activation_replaced():
    from actbench.nn import Activation

    assert count_parameters(coatnet("gelu(x)")) == 25_718_196  # Dai et al. 2021 report about 25 M
    m = coatnet("mish(x)", num_classes=10, image_size=32, width=0.25, depths=(2, 1, 1, 1, 1))
    assert not any(isinstance(mod, torch.nn.GELU) for mod in m.modules())
    acts = [mod for mod in m.modules() if isinstance(mod, Activation)]
    assert len(acts) == 1 + 2 * 3 + 2  # stem; per MBConv: two + squeeze-excitation; per transformer: FFN
    out = m(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_large_extra_space():
    s = get_space("large-extra")
    assert s.n_names == 31**4 + 4 * 31**3 + 3 * 7 * 31**3 + 8 + 4 == 1_668_308
    assert abs(s.n_classes - 654_358) <= 10  # 654,355 with AVX2: CPU-dependent by a few (docs/spaces.md)
    for op in EXTRA_UNARY:
        assert f"{op}(x)" in s and s.canonical(f"mul({op}(x),one(x))") == s.canonical(f"{op}(x)")
    assert s.canonical("gelu(x)") != s.canonical("swish(x)")


def test_user_task_via_import(tmp_path, capsys):
    plugin = tmp_path / "my_task.py"
    plugin.write_text('''
from torch import nn
from actbench.nn import Activation
from generation.data import register_dataset, synthetic
from generation.models import register_model
from generation.recipes import Recipe
from generation.tasks import Task, register_task

@register_model("test_mlp")
def test_mlp(activation, *, num_classes, in_channels, **kw):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 16, 64), Activation(activation), nn.Linear(64, num_classes))

@register_dataset("test_noise", needs_root=False)
def test_noise(**kw):
    return synthetic(40, (1, 4, 4), 3, seed=1)

register_task(Task(name="test-task", space="act-bench", data_help="nothing (synthetic noise, a test)",
                   recipe=Recipe(name="test-task", benchmark="test-task", description="test MLP on noise (synthetic)",
                                 model="test_mlp", data="test_noise", epochs=1, batch_size=8, lr=0.01, seeds=(0,),
                                 fim_batch=8)))
''')
    fn = tmp_path / "f.txt"
    fn.write_text("relu(x)\nswish(x)\n")
    out = tmp_path / "res"
    assert worker_main(["--task", "test-task", "--functions", str(fn), "--out", str(out)]) == 2  # not imported yet
    assert "unknown task 'test-task'" in capsys.readouterr().err
    assert worker_main(["--import", str(plugin), "--task", "test-task", "--functions", str(fn), "--out", str(out)]) == 0
    doc = json.loads((out / f"{result_key('swish(x)')}.json").read_text())
    assert doc["recipe"]["model"] == "test_mlp" and len(doc["runs"]) == 1
    assert merge(out, tmp_path / "t.h5")["rows"] == 2
    assert ActBench(tmp_path / "t.h5")._table.n_fim == 1088 // 100 - 1  # the first layer's bins; the second is too small
    import_plugin(str(plugin))  # importing twice is harmless
    with pytest.raises(FileNotFoundError, match="no such file"):
        import_plugin(str(tmp_path / "missing.py"))
    with pytest.raises(FileNotFoundError, match="Python path"):
        import_plugin("no_such_module_here")


def test_unknown_dataset_says_how_to_register():
    r = Recipe(name="z", benchmark="z", description="z", model="digits_cnn", data="cifar1000", epochs=1,
               batch_size=1, lr=0.1)
    with pytest.raises(ValueError, match="did you mean 'cifar100'.*register_dataset"):
        load_data(r, None)
    assert {"cifar10", "cifar100", "imagenette", "imagenet", "digits", "synthetic"} <= set(DATASETS)


def test_streamed_image_folder_decodes_per_batch(tmp_path):
    """Streamed folders (ImageNet) decode each batch by the standard pipeline (tests/test_images.py checks the
    crops): the same files and labels as the folder decoded once, uint8 batches, and a prefetched batch used."""
    from generation.images import decode_eval

    write_image_folder(tmp_path / "img", per_class=4)
    eager = load_image_folder(tmp_path / "img", size=16, n_val=2)
    lazy = load_image_folder(tmp_path / "img", size=16, n_val=2, stream=True, threads=2)
    assert isinstance(lazy.train.x, LazyImages) and lazy.train.x.shape == tuple(eager.train.x.shape)
    assert torch.equal(lazy.val.y, eager.val.y) and torch.equal(lazy.train.y, eager.train.y)
    assert "decoded per batch" in lazy.description
    test = lazy.test.x[0:3]
    assert test.dtype == torch.uint8
    assert torch.equal(test, torch.from_numpy(np.stack([decode_eval(f, 16) for f in lazy.test.x.files[:3]])))
    lazy.train.x.prefetch(torch.tensor([1, 2]))
    first = lazy.train.x[torch.tensor([1, 2])]
    assert lazy.train.x._pending is None  # the prefetched batch was used
    assert torch.equal(first, lazy.train.x[torch.tensor([1, 2])])  # and is what decoding now gives


def test_training_on_streamed_folders(tmp_path):
    from generation.train import train_run

    write_image_folder(tmp_path / "img", per_class=4)
    r = Recipe(name="s", benchmark="s", description="stream test (synthetic images)", model="digits_cnn",
               data="image_folder",
               data_kwargs={"size": 8, "n_val": 2, "stream": True, "threads": 2}, epochs=2, batch_size=2, lr=0.01,
               seeds=(0,))
    data = load_data(r, tmp_path / "img")
    res = train_run(r, "relu(x)", data, seed=0)
    assert res.epochs_completed == 2 and 0.0 <= res.val_acc <= 1.0


def test_precompute_sample(tmp_path):
    names = sample_functions("act-bench", 20, seed=3)
    sp = get_space("act-bench")
    assert [sp.canonical(n) for n in names[:8]] == [sp.canonical(b) for b in BASELINES]
    assert len({sp.class_index(n) for n in names}) == 20  # one per class
    assert sample_functions("act-bench", 20, seed=3) == names and sample_functions("act-bench", 20, seed=4) != names
    assert len(sample_functions("act-bench", 5, include_baselines=False)) == 5
    with pytest.raises(ValueError, match="between 1 and"):
        sample_functions("act-bench", 10**6)


@pytest.mark.slow
def test_precompute_fim_features_and_feature_table(tmp_path, capsys):
    fns = tmp_path / "fim.txt"
    assert precompute_main(["sample", "--task", "digits", "--n", "12", "--seed", "0", "-o", str(fns)]) == 0
    names = [n for n in fns.read_text().splitlines() if not n.startswith("#")]
    assert len(names) == 12
    fim = tmp_path / "fim"
    for shard in ("0/2", "1/2"):  # sharded like any worker job
        assert worker_main(["--task", "digits", "--fim-only", "--functions", str(fns), "--shard", shard,
                            "--out", str(fim), "--threads", "1"]) == 0
    docs = [json.loads(p.read_text()) for p in fim.glob("*.json")]
    assert len(docs) == 12 and all(d["kind"] == "fim" and d["runs"] == [] for d in docs)
    with pytest.raises(ValueError, match="FIM-only results"):
        merge(fim, tmp_path / "no.h5")

    small = tmp_path / "small.h5"
    assert precompute_main(["table", "--task", "digits", "--fim", str(fim), "--only-fim", "-o", str(small)]) == 0
    b = ActBench(small)
    assert len(b) == 12 and not b._table.fim_missing().any() and b.name == "mini-features"
    assert all(math.isnan(v) for v in b.metric("val_acc"))
    assert b.query("relu(x)").representative in b  # baselines resolve, by any spelling
    # the FIM features are the ones the mini benchmark was built with (same recipe, same seed)
    mini = ActBench("mini")
    r_small, r_mini = b.resolver.resolve("swish(x)").row, mini.resolver.resolve("swish(x)").row
    np.testing.assert_allclose(b.features("fim", [r_small]), mini.features("fim", [r_mini]), atol=0.02)

    full = feature_table("act-bench", tmp_path / "full.h5", fim=fim, log=None)
    assert full == {"rows": 2791, "with_fim": 12}
    fb = ActBench(tmp_path / "full.h5")
    assert int((~fb._table.fim_missing()).sum()) == 12 and len(fb.features("outputs", [0, 1])[0]) == 1000
    assert precompute_main(["table", "--space", "act-bench", "--fim", str(tmp_path / "nope"), "-o", "x.h5"]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_table_with_layers_too_small_for_a_histogram(tmp_path):
    from actbench.table import Provenance, TableInfo, TableWriter, fim_layout

    layers = fim_layout([("fc1", 136), ("fc2", 27)])  # under 200 weights: no bins
    with TableWriter(tmp_path / "t.h5", info=TableInfo(benchmark="t", description="test fixture (synthetic)"),
                     provenance=Provenance.now(source="test-fixture", description="synthetic"), fim_layers=layers) as w:
        w.add("relu(x)", {"val_acc": 0.5}, fim=np.zeros(0))
    b = ActBench(tmp_path / "t.h5")
    assert b._table.n_fim == 0 and b.query("relu(x)").val_acc == 0.5


def test_cost_model_measures_and_projects(capsys):
    from generation.cost import main as cost_main, project, task_shape

    assert task_shape(get_task("imagenet-resnet50").recipe)[:3] == ((3, 224, 224), 1000, 1_271_167)
    assert task_shape(get_task("cifar100-cnn").recipe)[:3] == ((3, 32, 32), 100, 45_000)
    assert task_shape(get_task("vit").recipe)[:3] == ((3, 160, 160), 10, 9_469)
    row = {"seeds": 3, "run_h": 2.0, "fim_s": 36.0, "image_passes_per_function": 1000, "train_gflop_per_image": 2.0}
    p = project(row, fim_n=100, budget=10)
    assert (p["train_h"], p["precompute_h"], p["study_h"]) == (6.0, 1.0, 10 * (6.0 + 0.01))
    assert p["study_pflop"] == 10 * 1000 * 2.0 / 1e6
    assert cost_main(["--tasks", "digits", "--steps", "2", "--fim-n", "10", "--budget", "5"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "GFLOP/img" in out
    assert cost_main(["--tasks", "nope"]) == 2
    import torch

    before = torch.get_num_threads()
    try:
        assert cost_main(["--tasks", "digits", "--steps", "1", "--fim-n", "10", "--budget", "5", "--threads", "1"]) == 0
        assert "cpu (1 threads)" in capsys.readouterr().out
    finally:
        torch.set_num_threads(before)
    with pytest.raises(SystemExit):
        cost_main(["--threads", "0"])


def test_error_paths_say_what_to_do(tmp_path, capsys):
    from generation.cost import task_shape
    from generation.launch import main as launch_main
    from generation.tasks import main as tasks_main

    with pytest.raises(ValueError, match="unknown data set"):
        register_task(Task(name="q", space="act-bench",
                           recipe=TASKS["digits"].recipe.model_copy(update={"data": "nope"})))
    with pytest.raises(ValueError, match="give --data-root"):
        load_data(get_task("cifar100-cnn").recipe, None)
    assert tasks_main(["--show", "nope"]) == 2 and "unknown task" in capsys.readouterr().err
    assert tasks_main([]) == 0 and "coatnet" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no known shape"):
        task_shape(TASKS["digits"].recipe.model_copy(update={"data": "image_folder"}))
    assert launch_main(["--procs", "1", "--study", str(tmp_path), "--"]) == 2
    assert "is not a study" in capsys.readouterr().err
    (tmp_path / "img" / "train").mkdir(parents=True)
    (tmp_path / "img" / "val").mkdir()
    with pytest.raises(FileNotFoundError, match="no class folders"):
        load_image_folder(tmp_path / "img")

    # precompute: a space is needed, results must be of the space and of one recipe
    assert precompute_main(["sample", "--n", "3", "-o", str(tmp_path / "s.txt")]) == 2
    assert "give --space or --task" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no FIM results"):
        feature_table("act-bench", tmp_path / "x.h5", fim=empty, only_fim=True, log=None)
    res = tmp_path / "res"
    res.mkdir()
    doc = {"name": "exp(exp(exp(exp(x))))", "recipe": TASKS["digits"].recipe.model_dump(), "fim_layout": []}
    (res / "a.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="not in space 'act-bench'"):
        feature_table("act-bench", tmp_path / "x.h5", fim=res, log=None)
    (res / "a.json").write_text(json.dumps({**doc, "name": "relu(x)"}))
    (res / "b.json").write_text(json.dumps({**doc, "name": "tanh(x)",
                                            "recipe": get_task("cnn").recipe.model_dump()}))
    with pytest.raises(ValueError, match="mixes results of 2 recipes"):
        feature_table("act-bench", tmp_path / "x.h5", fim=res, log=None)
    assert not (tmp_path / "x.h5").exists()
