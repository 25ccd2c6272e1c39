import numpy as np
import pytest

torch = pytest.importorskip("torch")

from actbench.nn import Activation  # noqa: E402
from generation.models import MODELS, all_cnn_c, count_parameters, mobilevitv2, register_model, resnet50, resnet_cifar  # noqa: E402

pytestmark = pytest.mark.torch


def _fim_dims(model) -> int:
    total = 0
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            total += max(sum(p.numel() for p in m.parameters(recurse=False)) // 100 - 1, 0)
    return total


def test_all_cnn_c_layer_weights_match_spec():
    m = all_cnn_c("relu(x)")
    convs = [l for l in m if isinstance(l, torch.nn.Conv2d)]
    assert [sum(p.numel() for p in c.parameters()) for c in convs] == [
        2688, 83040, 83040, 166080, 331968, 331968, 331968, 37056, 1930]
    assert _fim_dims(m) == 13683  # docs/generation.md: All-CNN-C's FIM feature has 13,683 dims
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_parameter_counts():
    assert count_parameters(resnet_cifar("relu(x)", depth=56)) == 853_018  # He et al. 2016: 0.85M
    assert count_parameters(resnet50("relu(x)")) == 25_557_032  # the standard ResNet-50
    v = mobilevitv2("swish(x)", num_classes=1000)
    assert 1.3e6 < count_parameters(v) < 1.45e6  # Mehta & Rastegari 2022: 1.4M for MobileViTv2-0.5
    assert _fim_dims(mobilevitv2("swish(x)", num_classes=10)) == 10948  # docs/generation.md: MobileViTv2-0.5 on Imagenette


@pytest.mark.parametrize("builder, shape", [
    (lambda a: all_cnn_c(a, width=0.1), (2, 3, 32, 32)),
    (lambda a: resnet_cifar(a, depth=8, width=0.5), (2, 3, 32, 32)),
    (lambda a: resnet50(a, width=0.125, num_classes=7), (2, 3, 64, 64)),
    (lambda a: mobilevitv2(a, width=0.25, num_classes=7), (2, 3, 64, 64)),
    (lambda a: mobilevitv2(a, width=0.25, num_classes=7), (2, 3, 36, 36)),  # not a multiple of the patch
])
def test_every_activation_is_replaced(builder, shape):
    m = builder("mul(tanh(x),sigmoid(x))")
    builtin = (torch.nn.ReLU, torch.nn.SiLU, torch.nn.GELU, torch.nn.Hardswish, torch.nn.ELU)
    assert not [x for x in m.modules() if isinstance(x, builtin)]
    acts = [x for x in m.modules() if isinstance(x, Activation)]
    assert acts and all(a.name == "mul(tanh(x),sigmoid(x))" for a in acts)
    out = m(torch.randn(*shape))
    assert out.shape[0] == 2 and torch.isfinite(out).all()


def test_attention_relu_can_be_kept():
    m = mobilevitv2("swish(x)", width=0.25, replace_attention_relu=False)
    assert any(isinstance(x, torch.nn.ReLU) for x in m.modules())


def test_errors():
    with pytest.raises(ValueError, match="6n\\+2"):
        resnet_cifar(depth=51)
    with pytest.raises(ValueError, match="already registered"):
        register_model("all_cnn_c")(all_cnn_c)
    assert set(MODELS) >= {"all_cnn_c", "resnet_cifar", "resnet50", "mobilevitv2"}


def test_shipped_fim_layouts_are_the_models():
    """actbench/data/fim_layouts.json (read by actbench without torch) equals what generation.models give."""
    from generation.layouts import derive_layouts, main as layouts_main
    from actbench.registry import BENCHMARKS

    assert layouts_main(["--check"]) == 0
    derived = derive_layouts()
    for bench in ("cnn", "resnet", "vit"):
        assert [list(l) for l in BENCHMARKS[bench].fim_layers] == derived[bench]


def test_dropout_masks_on_the_host_are_the_cpu_generators():
    """Inside host_masks() a Dropout's mask is the CPU generator's draw (the same on every device; a GPU's own
    generator draws other masks after the same seed, which made All-CNN-C's FIM feature device-dependent);
    outside it the module is nn.Dropout."""
    from generation.dropout import Dropout, host_masks

    x = torch.arange(1.0, 4001.0).reshape(40, 100)
    d = Dropout(0.5).train()
    torch.manual_seed(3)
    plain = d(x)
    torch.manual_seed(3)
    assert torch.equal(plain, torch.nn.Dropout(0.5).train()(x))
    torch.manual_seed(3)
    with host_masks():
        hosted = d(x)
    torch.manual_seed(3)
    by_hand = x * (torch.rand(x.shape) >= 0.5) / 0.5
    assert torch.equal(hosted, by_hand)
    assert 0.4 < (hosted == 0).float().mean() < 0.6
    with host_masks():
        assert torch.equal(d.eval()(x), x)  # evaluation mode: no dropout, as nn.Dropout
    assert isinstance(all_cnn_c("relu(x)").drop_in, Dropout)


def test_fim_of_a_network_with_dropout_is_deterministic():
    from generation.data import synthetic
    from generation.tasks import TASKS
    from generation.train import fim_blocks

    recipe = TASKS["cnn"].recipe.model_copy(update={"fim_batch": 8})
    data = synthetic(8, (3, 32, 32), 10, seed=0)
    a, b = (fim_blocks(recipe, "swish(x)", data) for _ in range(2))
    assert all(np.array_equal(p.log_g, q.log_g) for p, q in zip(a, b))
