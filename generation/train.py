"""Train one network with one activation function under a recipe, and compute its features.

``train_run`` returns a :class:`RunResult` for one seed; ``fim_for`` computes the FIM feature of the
network at initialization (seed ``recipe.fim_seed``, one training batch of ``recipe.fim_batch``).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from actbench.table import FimLayer
from generation.augment import augment, mix
from generation.checkpoint import Preempted, RunCheckpoint
from generation.data import DataSplits, Split
from generation.distributed import SINGLE, Dist
from generation.dropout import host_masks
from generation.fisher import KfacBlock, fim_feature, kfac_factors
from generation.models import MODELS
from generation.recipes import Recipe

__all__ = ["RunResult", "build_model", "fim_blocks", "fim_for", "lr_at", "train_run"]


class RunResult(BaseModel):
    """One training run. Metrics are NaN when the run diverged (a non-finite training loss)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seed: int
    train_acc: float
    val_acc: float
    test_acc: float
    train_loss: float
    val_loss: float
    test_loss: float
    runtime_s: float
    diverged: bool
    epochs_completed: int
    curve: dict[str, list[float]] | None = Field(
        default=None, description="per completed epoch: epoch_s (training seconds of the epoch), train_loss and "
        "train_acc (running means over the epoch's training batches, as trained: augmented and mixed), val_loss "
        "and val_acc (the validation split evaluated after the epoch); the last epoch's validation values are "
        "the run's. None when not recorded")


def build_model(recipe: Recipe, activation: str, num_classes: int, in_channels: int) -> torch.nn.Module:
    return MODELS[recipe.model](activation, num_classes=num_classes, in_channels=in_channels, **recipe.model_kwargs)


def lr_at(recipe: Recipe, epoch_float: float) -> float:
    """Learning rate at a (fractional) epoch: linear warm-up, then the schedule, then a cool-down at the
    schedule's last value."""
    e, w, c, total = epoch_float, recipe.warmup_epochs, recipe.cooldown_epochs, recipe.epochs
    if w and e < w:
        return recipe.lr * (e + 1e-9) / w
    main = max(total - w - c, 1)
    t = min(max(e - w, 0.0), main) / main
    if recipe.schedule == "cosine":
        return recipe.lr * 0.5 * (1 + math.cos(math.pi * t))
    if recipe.schedule == "step":
        return recipe.lr * recipe.gamma ** sum(e >= m * total for m in recipe.milestones)
    return recipe.lr


def _optimizer(recipe: Recipe, model: torch.nn.Module) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                               weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def _to_device(x: torch.Tensor, device) -> torch.Tensor:
    """A batch on ``device`` as float32 in [0, 1]: uint8 batches (streamed images) are scaled there."""
    x = x.to(device, non_blocking=True)
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


def _normalise(x: torch.Tensor, data: DataSplits) -> torch.Tensor:
    mean = torch.tensor(data.mean, device=x.device, dtype=x.dtype)[None, :, None, None]
    std = torch.tensor(data.std, device=x.device, dtype=x.dtype)[None, :, None, None]
    return (x - mean) / std


def _loss(recipe: Recipe, logits: torch.Tensor, y: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy on (soft) targets, or BCE on one-hot (soft) targets summed over classes."""
    if y.ndim == 1:
        y = torch.nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
    logits = logits.float()
    if recipe.loss == "bce":
        per = torch.nn.functional.binary_cross_entropy_with_logits(logits, y.float(), reduction="none").sum(1)
    else:
        per = -(y.float() * torch.log_softmax(logits, dim=1)).sum(1)
    return per.mean() if reduction == "mean" else per


@torch.no_grad()
def _evaluate(recipe: Recipe, model, split: Split, data: DataSplits, device, batch: int,
              dist: Dist = SINGLE) -> tuple[float, float]:
    """(accuracy, mean loss) over a split; under data parallelism each rank evaluates every world-th batch and
    the sums are reduced."""
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # correct, total loss
    for k, lo in enumerate(range(0, len(split), batch)):
        if k % dist.world != dist.rank:
            continue
        x = _normalise(_to_device(split.x[lo:lo + batch], device), data)
        y = split.y[lo:lo + batch].to(device)
        logits = model(x).float()
        sums[1] += _loss(recipe, logits, y, reduction="none").sum().double()
        sums[0] += (logits.argmax(1) == y).sum()
    correct, total_loss = dist.sum(sums).tolist()
    return int(round(correct)) / len(split), total_loss / len(split)


def train_run(recipe: Recipe, activation: str, data: DataSplits, *, seed: int,
              device: str | torch.device = "cpu", curves: bool = True,
              checkpoint: RunCheckpoint | None = None, dist: Dist = SINGLE) -> RunResult:
    """Train from scratch with ``seed`` and evaluate on train (no augmentation), val and test.

    With ``curves`` the run also records its learning curve (:attr:`RunResult.curve`): the validation split
    is evaluated after every epoch, and the training batches' loss and accuracy are averaged per epoch.
    Recording neither consumes random numbers nor changes the model, so the final values are the same
    either way (a test checks it).

    With ``checkpoint`` (:class:`generation.checkpoint.RunCheckpoint`) the run continues from the checkpoint's
    state when there is one, saves its state at step boundaries when the checkpoint says so, and after a
    stop request (a signal) saves and raises :class:`generation.checkpoint.Preempted`. A resumed run ends
    with the values of an uninterrupted one; ``runtime_s`` and ``epoch_s`` count the seconds of both parts.

    With ``dist`` (:mod:`generation.distributed`, under torchrun) the run is one of several data-parallel
    processes: each trains on its slice of every global batch, and every process returns the same result."""
    device = torch.device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    core = build_model(recipe, activation, data.num_classes, data.train.x.shape[1]).to(device)
    model = dist.wrap(core, device)  # the model itself in a single process
    opt = _optimizer(recipe, model)
    dist.check_batch(recipe.batch_size)
    n = len(data.train)
    steps = max(1, n // recipe.batch_size)
    use_amp = recipe.amp and device.type == "cuda"
    diverged, epochs_done = False, 0
    ev = max(recipe.batch_size, 256)
    curve: dict[str, list[float]] | None = (
        {k: [] for k in ("epoch_s", "train_loss", "train_acc", "val_loss", "val_acc")} if curves else None)
    state = checkpoint.load() if checkpoint is not None else None
    start_epoch, start_step, carried = 0, 0, 0.0
    if state is not None:
        core.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        start_epoch, start_step, carried = int(state["epoch"]), int(state["step"]), float(state["seconds"])
        epochs_done, curve = int(state["epochs_done"]), state["curve"]
    t0 = time.perf_counter() - carried
    images = data.train.x
    for epoch in range(start_epoch, recipe.epochs):
        model.train()
        if hasattr(images, "set_epoch"):  # crops decoded from files: this run's crops of this epoch
            images.set_epoch(seed, epoch)
        first = 0
        if state is not None and epoch == start_epoch:  # continue the epoch the checkpoint is in
            perm, first = state["perm"], start_step
            run_loss, run_correct = state["run_loss"].to(device), state["run_correct"].to(device)
            t_epoch = time.perf_counter() - float(state["epoch_seconds"])
        else:
            t_epoch = time.perf_counter()
            run_loss = torch.zeros((), device=device)
            run_correct = torch.zeros((), device=device, dtype=torch.long)
            perm = torch.randperm(n, generator=gen)
        for i in range(first, steps):
            save = stop = False
            if checkpoint is not None:  # every rank decides alike: a signal to any rank stops them all
                save, stop = dist.any(checkpoint.due(), checkpoint.stop.requested, device=device)
            if save:  # every rank at the same step (rank 0 writes)
                checkpoint.save({
                    "model": core.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch, "step": i,
                    "perm": perm, "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                    "run_loss": run_loss, "run_correct": run_correct, "curve": curve, "epochs_done": epochs_done,
                    "seconds": time.perf_counter() - t0, "epoch_seconds": time.perf_counter() - t_epoch})
                dist.barrier()
            if stop:
                raise Preempted(f"{activation} (seed {seed}) stopped on {checkpoint.stop.signal} at epoch "
                                    f"{epoch + 1}, step {i + 1} of {steps}; checkpoint {checkpoint.path}")
            for group in opt.param_groups:
                group["lr"] = lr_at(recipe, epoch + i / steps)
            idx = dist.local(perm[i * recipe.batch_size:(i + 1) * recipe.batch_size])  # this process's slice
            if hasattr(images, "prefetch") and i + 1 < steps:  # decode the next batch meanwhile
                images.prefetch(dist.local(perm[(i + 1) * recipe.batch_size:(i + 2) * recipe.batch_size]))
            x = _to_device(images[idx], device)
            y = torch.nn.functional.one_hot(data.train.y[idx], data.num_classes).float().to(device)
            x, y = dist.gather(x), dist.gather(y)  # the global batch: augmentation draws as one process does
            x = augment(x, recipe.augment, generator=gen, cropped=getattr(images, "crops_at_decode", False))
            x, y = mix(x, y, mixup=recipe.mixup, cutmix=recipe.cutmix, generator=gen)
            if dist.parallel:
                x, y = dist.local(x), dist.local(y)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = model(_normalise(x, data))
            loss = _loss(recipe, logits, y)
            if not torch.isfinite(dist.sum(loss.detach().float().clone()) if dist.parallel else loss):
                diverged = True  # on every rank: the check sees the loss summed over ranks
                break
            if curve is not None:  # on the device: no synchronisation per step
                run_loss += loss.detach().float()
                run_correct += (logits.detach().argmax(1) == y.argmax(1)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_norm)
            opt.step()
        if diverged:
            break
        epochs_done = epoch + 1
        if curve is not None:
            seen = steps * recipe.batch_size if n >= recipe.batch_size else n
            curve["train_loss"].append(float(dist.sum(run_loss.clone())) / dist.world / steps)
            curve["train_acc"].append(int(dist.sum(run_correct.clone())) / seen)
            curve["epoch_s"].append(time.perf_counter() - t_epoch)
            if epochs_done < recipe.epochs:  # the last epoch's are the run's final values, evaluated below
                va = _evaluate(recipe, core, data.val, data, device, ev, dist)
                curve["val_acc"].append(va[0])
                curve["val_loss"].append(va[1])
    if diverged:
        nan = float("nan")
        return RunResult(seed=seed, train_acc=nan, val_acc=nan, test_acc=nan, train_loss=nan, val_loss=nan,
                         test_loss=nan, runtime_s=time.perf_counter() - t0, diverged=True,
                         epochs_completed=epochs_done, curve=curve)
    tr = _evaluate(recipe, core, data.train, data, device, ev, dist)
    va = _evaluate(recipe, core, data.val, data, device, ev, dist)
    te = _evaluate(recipe, core, data.test, data, device, ev, dist)
    bad = not all(math.isfinite(v) for v in (*tr, *va, *te))
    if curve is not None:
        curve["val_acc"].append(va[0])
        curve["val_loss"].append(va[1])
    return RunResult(seed=seed, train_acc=tr[0], val_acc=va[0], test_acc=te[0], train_loss=tr[1], val_loss=va[1],
                     test_loss=te[1], runtime_s=time.perf_counter() - t0, diverged=bad, epochs_completed=epochs_done,
                     curve=curve)


def fim_for(recipe: Recipe, activation: str, data: DataSplits, *,
            device: str | torch.device = "cpu") -> tuple[np.ndarray, list[FimLayer]]:
    """FIM feature of the network at initialization (``torch.manual_seed(recipe.fim_seed)``), from the
    first ``fim_batch`` images of a ``RandomState(fim_seed)`` permutation of the training set, in
    training mode (batch-norm uses batch statistics), in the recipe's ``fim_convention``."""
    return fim_feature(fim_blocks(recipe, activation, data, device=device))


def fim_blocks(recipe: Recipe, activation: str, data: DataSplits, *,
               device: str | torch.device = "cpu") -> list[KfacBlock]:
    """The K-FAC factor eigenvalues behind :func:`fim_for`'s feature, one block per layer."""
    device = torch.device(device)
    torch.manual_seed(recipe.fim_seed)
    model = build_model(recipe, activation, data.num_classes, data.train.x.shape[1]).to(device)
    model.train()
    idx = torch.from_numpy(np.random.RandomState(recipe.fim_seed).permutation(len(data.train))[:recipe.fim_batch])
    images = data.train.x
    if getattr(images, "crops_at_decode", False):  # the FIM sees the images as evaluation does: no random crop
        images = images.evaluation()
    x = _normalise(_to_device(images[idx], device), data)
    y = data.train.y[idx].to(device)
    with host_masks():  # dropout masks from the CPU generator: the same feature on every device
        return kfac_factors(model, x, y, lambda out, t: _fim_loss(recipe, out, t), convention=recipe.fim_convention)


def _fim_loss(recipe: Recipe, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example losses for the FIM. Under the reference convention a BCE loss is averaged over the
    classes, as Keras' ``BinaryCrossentropy`` (the reference's loss) does; training sums them."""
    per = _loss(recipe, logits, y, reduction="none")
    if recipe.fim_convention == "reference" and recipe.loss == "bce":
        per = per / logits.shape[1]
    return per
