"""Data-parallel training of one run on several GPUs (or CPU processes) under ``torchrun``, with PyTorch's
DistributedDataParallel: the recipe, its global batch and its results are those of one process.

    torchrun --standalone --nproc-per-node 8 -m generation.worker --task imagenet-resnet50 \\
        --functions chosen.txt --out results/in1k --data-root /datasets/imagenet

How one step keeps the single-process recipe: every rank takes the same permutation of the training set (the
run's generator), decodes only its slice of the global batch (``batch_size / world`` images), and the slices
are gathered so that augmentation and mixup/cutmix draw the same random numbers, over the same global batch,
as one process does; each rank then trains on its slice, and DDP averages the gradients (the mean over equal
slices is the global batch's mean). Batch-norm statistics are those of the global batch on CUDA
(``SyncBatchNorm``); PyTorch has no synchronised batch norm on the CPU, where each process normalises its
slice. Losses, accuracies and the divergence check are reduced over ranks; evaluation is split over ranks
and summed; rank 0 writes results and checkpoints, and a stop (a signal on any rank) stops every rank at
the same step. Dropout and stochastic depth draw their masks per rank: the same distribution as one
process, other numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["SINGLE", "Dist", "from_env"]


@dataclass(frozen=True)
class Dist:
    """This process's place in a data-parallel run (``world == 1``: a single process)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on the process that writes results, checkpoints and logs (rank 0)."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1

    def check_batch(self, batch: int) -> int:
        """Each rank's share of a global batch of ``batch``; the batch must split evenly."""
        if batch % self.world:
            raise ValueError(f"the global batch of {batch} does not split over {self.world} processes: use a "
                             f"process count that divides it")
        return batch // self.world

    def local(self, rows: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch's rows."""
        b = len(rows) // self.world
        return rows[self.rank * b:(self.rank + 1) * b]

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """The slices of every rank concatenated in rank order: the global batch, on every rank."""
        if not self.parallel:
            return t
        out = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(out, t.contiguous())
        return torch.cat(out)

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` summed over ranks (in place, returned)."""
        if self.parallel:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def any(self, *flags: bool, device=None) -> list[bool]:
        """Each flag true on any rank (one all-reduce for all of them)."""
        if not self.parallel:
            return [bool(f) for f in flags]
        t = torch.tensor([float(f) for f in flags], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def barrier(self) -> None:
        if self.parallel:
            dist.barrier()

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``model`` in DistributedDataParallel (with synchronised batch norm on CUDA), or itself."""
        if not self.parallel:
            return model
        if device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)


SINGLE = Dist()


def from_env(device: str) -> tuple[Dist, str]:
    """The data-parallel setting ``torchrun`` gives this process (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``), the
    process group started (NCCL on CUDA, gloo on the CPU), and the device of this rank (``cuda:LOCAL_RANK``);
    :data:`SINGLE` and ``device`` unchanged outside torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE, device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, local), device
