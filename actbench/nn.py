"""PyTorch modules for functions of the language (needs the ``torch`` extra).

Example::

    import torch
    from actbench.nn import Activation

    act = Activation("mul(hard_sigmoid(hard_sigmoid(x)),elu(x))")
    y = act(torch.linspace(-3, 3, 7))

Each operator uses its registered torch implementation (:attr:`actbench.ops.Operator.torch`),
which follows the same semantics as the float64 NumPy reference.
"""

from __future__ import annotations

from actbench.base.errors import MissingExtraError

try:
    import torch
except ImportError as e:  # pragma: no cover - exercised by a test that hides torch
    raise MissingExtraError(
        "actbench.nn needs PyTorch, an optional extra: pip install 'actbench[torch]' "
        "(the default CUDA build, for GPU machines; on a CPU-only machine install the CPU wheel instead: "
        "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
    ) from e

from actbench.lang.expr import Expr, apply, parse

__all__ = ["Activation"]


class Activation(torch.nn.Module):
    """An elementwise activation function given by its name.

    Args:
        name: a function name such as ``"swish(x)"`` or a parsed :class:`actbench.Expr`.

    Raises:
        ParseError: the name is not valid (see :func:`actbench.parse`).
    """

    def __init__(self, name: str | Expr) -> None:
        super().__init__()
        self.expr = parse(name)
        self.name = str(self.expr)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply(self.expr, x, {}, "torch")

    def extra_repr(self) -> str:
        return repr(self.name)

