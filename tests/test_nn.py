import subprocess
import sys

import numpy as np
import pytest

from actbench import OPERATORS, evaluate, sample_points


@pytest.mark.torch
@pytest.mark.parametrize("name", list(OPERATORS))
def test_torch_path_matches_reference(name):
    import torch

    from actbench.nn import Activation

    op = OPERATORS[name]
    args = {"unary": "x", "binary": "x,sigmoid(x)", "nary": "x,sigmoid(x),square(x)"}[op.kind]
    fn = f"{name}({args})"
    x = torch.tensor(sample_points(), dtype=torch.float64)
    got = Activation(fn)(x).numpy()
    want = evaluate(fn)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, equal_nan=True)


@pytest.mark.torch
def test_activation_module_trains_and_reprs():
    import torch

    from actbench.nn import Activation

    act = Activation("mul(hard_sigmoid(hard_sigmoid(x)), elu(x))")
    assert act.name == "mul(hard_sigmoid(hard_sigmoid(x)),elu(x))"
    assert "hard_sigmoid" in repr(act)
    x = torch.linspace(-3, 3, 13, requires_grad=True)
    act(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), Activation("swish(x)"))
    assert net(torch.zeros(2, 4)).shape == (2, 4)


def test_nn_without_torch_names_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "try:\n"
        "    import actbench.nn\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("MissingExtraError")
    assert "pip install 'actbench[torch]'" in out
