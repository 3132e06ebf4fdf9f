"""The generic training loop (first written out by hand in lesson 01) and batched evaluation."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

Batch = torch.Tensor | tuple[torch.Tensor, ...]


@dataclass
class History:
    """Per-epoch record of a fit: mean train loss, validation loss (if any) and wall seconds."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.train_loss)

    def summary(self) -> str:
        """Return one line: epochs, total seconds, last train and validation loss."""
        if not self.train_loss:
            return "no epochs run"
        text = f"{len(self)} epochs in {sum(self.seconds):.1f} s, train loss {self.train_loss[-1]:.5g}"
        if self.val_loss:
            text += f", val loss {self.val_loss[-1]:.5g}"
        return text


def _as_tuple(data, name: str) -> tuple[torch.Tensor, ...]:
    """Return data as a tuple of tensors that share their first dimension."""
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError(f"{name} must be a tensor or a tuple of tensors, got {type(data).__name__}")
    sizes = {len(t) for t in tensors}
    if len(sizes) != 1:
        raise ValueError(f"the tensors in {name} disagree in their first dimension: "
                         f"{[tuple(t.shape) for t in tensors]}")
    if sizes == {0}:
        raise ValueError(f"{name} is empty")
    return tensors


def _unpack(tensors: tuple[torch.Tensor, ...]) -> Batch:
    return tensors[0] if len(tensors) == 1 else tensors


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def progress_enabled(progress: bool | None = None) -> bool:
    """Decide whether to draw a progress bar: explicit flag, then AECOURSE_PROGRESS, then CI / terminal."""
    if progress is not None:
        return progress
    setting = os.environ.get("AECOURSE_PROGRESS")
    if setting is not None:
        return setting.strip().lower() not in ("0", "false", "no", "off", "")
    if os.environ.get("CI"):
        return False
    return _in_notebook() or sys.stderr.isatty()


def _check_loss(loss) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn(model, batch) must return a scalar tensor, got {shape}; "
                         "reduce it explicitly, e.g. .sum(dim=1).mean() or .mean()")
    return loss


def fit(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Batch], torch.Tensor],
    train: Batch | Sequence[torch.Tensor],
    *,
    epochs: int,
    batch_size: int = 128,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    val: Batch | Sequence[torch.Tensor] | None = None,
    scheduler=None,
    progress: bool | None = None,
    verbose: bool = True,
    label: str | None = None,
) -> History:
    """Train `model` to minimise loss_fn(model, batch); return the per-epoch History.

    The training tensors move to the model's device once, and each epoch draws
    shuffled batches by index (no Dataset, no worker processes). `train` is a
    tensor (the batch passed to loss_fn is then a tensor) or a tuple of tensors
    (the batch is a tuple). Without `optimizer`, Adam with learning rate `lr` is
    used. A `scheduler`, if given, is stepped after every batch. A `label` names
    the run on its progress bar and at the start of its summary line.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a str naming the run, e.g. label=\"k = 32\", got {type(label).__name__}")
    device = _model_device(model)
    train_t = tuple(t.to(device) for t in _as_tuple(train, "train"))
    val_t = None if val is None else tuple(t.to(device) for t in _as_tuple(val, "val"))
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(train_t[0])
    history = History()
    epoch_iter = range(1, epochs + 1)
    bar = None
    if progress_enabled(progress):
        from tqdm.auto import tqdm

        bar = tqdm(epoch_iter, desc=label or "epochs", unit="epoch", leave=False)
        epoch_iter = bar
    for epoch in epoch_iter:
        start = time.perf_counter()
        model.train()
        total = torch.zeros((), device=device)
        for idx in torch.randperm(n, device=device).split(batch_size):
            batch = _unpack(tuple(t[idx] for t in train_t))
            loss = _check_loss(loss_fn(model, batch))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.detach() * len(idx)
        train_loss = total.item() / n
        if not math.isfinite(train_loss):
            raise FloatingPointError(
                f"the training loss became {train_loss} in epoch {epoch}; the run diverged. "
                "Fix: lower the learning rate, check the loss for log(0) or division by zero, "
                "and check that inputs are in the range the loss expects.")
        history.train_loss.append(train_loss)
        if val_t is not None:
            history.val_loss.append(evaluate(model, loss_fn, val_t))
        history.seconds.append(time.perf_counter() - start)
        if bar is not None:
            shown = {"loss": f"{train_loss:.4g}"}
            if val_t is not None:
                shown["val_loss"] = f"{history.val_loss[-1]:.4g}"
            bar.set_postfix(shown)
    if bar is not None:
        bar.close()
    if verbose:
        print(f"{label}: {history.summary()}" if label else history.summary())
    return history


def _batched(tensors: tuple[torch.Tensor, ...], batch_size: int, device: torch.device):
    for start in range(0, len(tensors[0]), batch_size):
        yield _unpack(tuple(t[start:start + batch_size].to(device) for t in tensors))


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn, data, batch_size: int = 1000) -> float:
    """Return loss_fn averaged over all examples of `data`, in eval mode and batches (no gradients).

    loss_fn must average over its batch (as fit's does): each batch is weighted by its size.
    """
    tensors = _as_tuple(data, "data")
    device, was_training = _model_device(model), model.training
    model.eval()
    try:
        total, n = 0.0, len(tensors[0])
        for batch in _batched(tensors, batch_size, device):
            size = len(batch if isinstance(batch, torch.Tensor) else batch[0])
            total += float(_check_loss(loss_fn(model, batch))) * size
    finally:
        model.train(was_training)
    return total / n


@torch.no_grad()
def predict(model: Callable, x: torch.Tensor, batch_size: int = 1000):
    """Return model(x) computed in eval mode and batches; outputs land on x's device.

    Works for any module, e.g. predict(model.encoder, x_test) for the codes;
    a model returning a tuple gives a tuple of concatenated outputs.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    is_module = isinstance(model, nn.Module)
    device = _model_device(model) if is_module else x.device
    was_training = model.training if is_module else False
    if is_module:
        model.eval()
    try:
        outs = [model(batch) for batch in _batched((x,), batch_size, device)]
    finally:
        if is_module:
            model.train(was_training)
    if isinstance(outs[0], tuple):
        return tuple(torch.cat(parts).to(x.device) for parts in zip(*outs, strict=True))
    return torch.cat(outs).to(x.device)
