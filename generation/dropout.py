"""Dropout whose masks can be drawn on the host, so that a computation with dropout gives the same result on
every device.

``torch.nn.Dropout`` draws its mask with the generator of the device the tensor is on: after the same
``torch.manual_seed``, the CPU and a GPU draw different masks. Training does not need them to agree (the
masks are noise either way), but the FIM feature is computed in training mode on one batch and must be the
same function of the activation on any machine. Inside :func:`host_masks`, every :class:`Dropout` draws its
mask with the CPU generator and moves it to the tensor's device; outside it, it is ``nn.Dropout``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["Dropout", "host_masks"]

_state = threading.local()


@contextmanager
def host_masks() -> Iterator[None]:
    """Within the block, :class:`Dropout` masks come from the CPU generator (the same on every device)."""
    before = getattr(_state, "on", False)
    _state.on = True
    try:
        yield
    finally:
        _state.on = before


class Dropout(nn.Dropout):
    """``nn.Dropout``, whose mask inside :func:`host_masks` is drawn on the host (see the module)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.p > 0 and getattr(_state, "on", False)):
            return super().forward(x)
        if self.p >= 1:
            return x * 0
        keep = torch.rand(x.shape, device="cpu") >= self.p
        return x * keep.to(device=x.device, dtype=x.dtype) / (1 - self.p)
