"""Checks for exercises 06 (stacked and deep autoencoders): references, and the mistakes they name."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .. import config
from .core import (
    CheckFailed,
    call,
    check_choice,
    close,
    fail,
    passed,
    require_answer,
    validation_digits,
)

__all__ = ["check_pretrain_layerwise", "check_train_top_layer", "check_prediction_6_3",
           "check_finetune_lr"]  # what aecourse.checks exports from here

# ---------------------------------------------------------------- what both checks share


def _leaves(module: nn.Module) -> list[nn.Module]:
    """Return the leaf modules in order (a bare nn.Linear is its own leaf)."""
    return [m for m in module.modules() if not list(m.children())]


def _describe(module: nn.Module) -> str:
    """Return e.g. 'Linear(20, 12) → SiLU'."""
    names = [f"Linear({m.in_features}, {m.out_features})" if isinstance(m, nn.Linear) else type(m).__name__
             for m in _leaves(module)]
    return " → ".join(names) or "no layers"


def _linears(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in _leaves(module) if isinstance(m, nn.Linear)]


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _data(seed: int, n: int, d: int) -> torch.Tensor:
    """MNIST-like inputs (N, D) in [0, 1]: mostly background, some ink, some grey."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, d, generator=g)
    return torch.where(u < 0.55, 0.0, torch.where(u > 0.8, 1.0, torch.rand(n, d, generator=g)))


class _Diagnosed(BaseException):
    """Raised inside the check's train_pair to stop the learner's loop at a diagnosed mistake.

    A BaseException, so that core.call (which turns an Exception into 'raised ...') lets it through.
    """


# ---------------------------------------------------------------- 6.1 greedy layer-wise pretraining


class _Trainer:
    """The check's train_pair(encoder, decoder, h, pixels): records every call, then trains the pair briefly."""

    def __init__(self, name: str, sizes: list[int], x: torch.Tensor, steps: int = 20):
        self.name, self.sizes, self.x, self.steps = name, sizes, x, steps
        self.calls: list[dict] = []
        self.problem: str | None = None

    def stop(self, message: str):
        self.problem = message
        raise _Diagnosed(message)

    def __call__(self, encoder, decoder, h, pixels=None):
        k = len(self.calls) + 1  # the layer this call trains, counting from 1
        layers = len(self.sizes) - 1
        if k > layers:
            self.stop(f"called train_pair {k} times for {layers} layers; train each layer exactly once")
        for part, module in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(module, nn.Module):
                self.stop(f"train_pair got a {type(module).__name__} as the {part} of layer {k}; pass the "
                          "nn.Module that layer_pair returned")
        if not isinstance(h, torch.Tensor):
            self.stop(f"train_pair got {type(h).__name__} as the data of layer {k}; pass a tensor (N, d)")
        if not torch.is_grad_enabled():
            self.stop(f"train_pair was called for layer {k} under torch.no_grad() (or inference_mode): "
                      "training needs gradients, so loss.backward() would fail there. Put only the "
                      "computation of the codes, h = encoder(h), under torch.no_grad()")
        d_in, d_out = self.sizes[k - 1], self.sizes[k]
        if _linears(encoder) != [(d_in, d_out)] or _linears(decoder) != [(d_out, d_in)]:
            self.stop(f"train_pair's call {k} got the encoder {_describe(encoder)} and the decoder "
                      f"{_describe(decoder)}; layer {k} maps {d_in} → {d_out} and back: build it with "
                      f"layer_pair({d_in}, {d_out}, ...), one layer per pair of consecutive sizes, bottom first")
        if h.requires_grad:
            self.stop(f"the codes given to layer {k} still carry gradients back into layer {k - 1} "
                      "(h.requires_grad is True): compute them under torch.no_grad() or with .detach(), so "
                      "that training one layer never reaches the layers below it")
        if h.dim() != 2 or h.shape[1] != d_in:
            got = tuple(h.shape)
            if k > 1 and got == tuple(self.x.shape) and torch.equal(h, self.x):
                self.stop(f"layer {k} was trained on the pixels x instead of layer {k - 1}'s codes; after "
                          "training a layer, replace the data by its codes, h = encoder(h), and train the "
                          "next layer on h")
            self.stop(f"layer {k} was given data of shape {got}; it needs layer {k - 1}'s codes, shape "
                      f"(N, {d_in}) (its encoder applied to its own training data, not its decoder's output)")
        if k > 1 and len(h) == len(self.x) and torch.equal(h, self.x):
            self.stop(f"layer {k} was trained on the pixels x instead of layer {k - 1}'s codes; after "
                      "training a layer, replace the data by its codes, h = encoder(h)")
        record = {"h": h.detach().clone(), "pixels": pixels, "encoder": encoder, "decoder": decoder,
                  "before": (_state(encoder), _state(decoder))}
        record["loss_before"] = self._loss(encoder, decoder, h, pixels)
        self.calls.append(record)
        self._train(encoder, decoder, h.detach(), pixels)
        record["after"] = (_state(encoder), _state(decoder))
        record["loss_after"] = self._loss(encoder, decoder, h, pixels)

    @staticmethod
    def _loss(encoder, decoder, h, pixels) -> torch.Tensor:
        out = decoder(encoder(h.detach()))
        if pixels:
            return F.binary_cross_entropy_with_logits(out, h.detach(), reduction="none").sum(dim=1).mean()
        return ((out - h.detach()) ** 2).sum(dim=1).mean()

    def _train(self, encoder, decoder, h, pixels) -> None:
        params = [*encoder.parameters(), *decoder.parameters()]
        opt = torch.optim.Adam(params, lr=0.02)
        with torch.enable_grad():
            for _ in range(self.steps):
                loss = self._loss(encoder, decoder, h, pixels)
                opt.zero_grad()
                loss.backward()
                opt.step()


def _ends_linear(module: nn.Module) -> bool:
    leaves = _leaves(module)
    return bool(leaves) and isinstance(leaves[-1], nn.Linear)


def _check_lists(name: str, out, layers: int) -> tuple[list, list]:
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        fail(name, f"returned {type(out).__name__}; return the pair (encoders, decoders): two lists with "
                   "one module per layer, bottom layer first")
    encoders, decoders = out
    for part, modules in (("encoders", encoders), ("decoders", decoders)):
        if isinstance(modules, nn.Module):
            fail(name, f"`{part}` is one {type(modules).__name__}; return a Python list with one module per "
                       "layer (the unroll step builds the deep model from them)")
        if not isinstance(modules, (list, tuple)):
            fail(name, f"`{part}` is a {type(modules).__name__}; return a list with one module per layer")
        if len(modules) != layers:
            fail(name, f"`{part}` holds {len(modules)} modules; expected {layers}, one per pair of "
                       "consecutive sizes")
        for i, m in enumerate(modules):
            if not isinstance(m, nn.Module):
                fail(name, f"{part}[{i}] is a {type(m).__name__}, expected the nn.Module of layer {i + 1}")
    return list(encoders), list(decoders)


def _pretrain_case(name: str, fn, sizes: list[int], seed: int, n: int) -> list[dict]:
    x = _data(seed, n, sizes[0])
    layers = len(sizes) - 1
    trainer = _Trainer(name, sizes, x)
    where = f"(sizes {sizes}, {n} random images, seed {seed})"
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = call(name, fn, sizes=list(sizes), x=x, train_pair=trainer)
    except _Diagnosed:
        fail(name, f"{trainer.problem} {where}")
    calls = trainer.calls
    if not calls:
        fail(name, "no layer was trained: train_pair was never called, so every layer keeps its random "
                   "initial weights (a stacked-autoencoder snippet that circulates in course notes builds and compiles each layer and never trains it); "
                   f"call train_pair(encoder, decoder, h, pixels) for every layer {where}")
    if len(calls) < layers:
        fail(name, f"layer {len(calls) + 1} was never trained: train_pair was called {len(calls)} times for "
                   f"{layers} layers; train every layer, the top one (the code layer) included {where}")
    encoders, decoders = _check_lists(name, out, layers)
    # which data each layer saw: pixels for layer 1, then the trained encoder's codes of the data below
    if not torch.equal(calls[0]["h"], x):
        fail(name, f"layer 1 was not trained on the images x themselves; start with h = x {where}")
    for k in range(2, layers + 1):
        below = calls[k - 2]
        enc = copy.deepcopy(below["encoder"])
        with torch.no_grad():
            enc.load_state_dict(below["after"][0])
            trained_codes = enc(below["h"])
            enc.load_state_dict(below["before"][0])
            untrained_codes = enc(below["h"])
        got = calls[k - 1]["h"]
        if close(got, untrained_codes, 1e-5, 1e-6) and not close(got, trained_codes, 1e-5, 1e-6):
            fail(name, f"layer {k} was trained on the codes of layer {k - 1} before layer {k - 1} was "
                       "trained: train a layer first, then compute its codes h = encoder(h) for the next "
                       f"{where}")
        if not close(got, trained_codes, 1e-4, 1e-5):
            fail(name, f"layer {k} was not trained on layer {k - 1}'s codes: expected h = encoder(h) with "
                       f"layer {k - 1}'s trained encoder applied to the data layer {k - 1} was trained on "
                       f"{where}")
    flags = [c["pixels"] for c in calls]
    if flags[0] is not True or any(f is not False for f in flags[1:]):
        fail(name, f"train_pair got pixels={flags} for the {layers} layers; only layer 1 reconstructs pixels "
                   "(binary cross-entropy on its logits), the layers above reconstruct real-valued codes "
                   f"(squared error): pass pixels=True for the first layer and False for the others {where}")
    # the structure of each layer
    if not _ends_linear(calls[-1]["encoder"]):
        fail(name, f"the top encoder ({_describe(calls[-1]['encoder'])}) ends with an activation: the code "
                   "layer is linear, so build the last layer with code=True (and only the last) "
                   f"{where}")
    for k, c in enumerate(calls[:-1], start=1):
        if _ends_linear(c["encoder"]):
            fail(name, f"the encoder of layer {k} ({_describe(c['encoder'])}) has no activation: only the "
                       "top layer's code is linear; build the other layers with code=False "
                       f"{where}")
    if not _ends_linear(calls[0]["decoder"]):
        fail(name, f"layer 1's decoder ({_describe(calls[0]['decoder'])}) ends with an activation: it "
                   "outputs the logits of the pixels, so build layer 1 with pixels=True "
                   f"{where}")
    for k, c in enumerate(calls[1:], start=2):
        if _ends_linear(c["decoder"]):
            fail(name, f"the decoder of layer {k} ({_describe(c['decoder'])}) has no activation: it "
                       f"reconstructs layer {k - 1}'s codes, which came out of an activation; build it "
                       f"with pixels=False {where}")
    # what came back: the trained modules, bottom first
    trained_enc, trained_dec = [c["encoder"] for c in calls], [c["decoder"] for c in calls]
    if layers > 1 and all(d is t for d, t in zip(decoders, trained_dec[::-1], strict=True)):
        fail(name, f"the decoders come back top layer first; return them bottom first, like the encoders "
                   f"(decoders[0] maps layer 1's code back to the pixels): unroll() reverses them {where}")
    for part, got, trained, state in (("encoder", encoders, trained_enc, 0), ("decoder", decoders, trained_dec, 1)):
        for k, (module, c) in enumerate(zip(got, calls, strict=True), start=1):
            if module is trained[k - 1]:
                continue
            now = _state(module)
            if _same_state(now, c["before"][state]):
                fail(name, f"layer {k} was never trained: the {part} you returned still has its initial "
                           "weights (did train_pair get a copy?); return the very modules that train_pair "
                           f"trained {where}")
            if _same_state(now, c["after"][state]):
                continue  # a copy of the trained module is fine
            fail(name, f"the {part} returned for layer {k} is not the one train_pair trained (new layers?); "
                       "a stacked-autoencoder snippet that circulates in course notes makes this mistake: it builds its final model from fresh layers, so "
                       f"the pretraining is lost. Return the trained modules {where}")
    return calls


def check_pretrain_layerwise(fn, seed: int = 0, sizes=(20, 12, 8, 3), n: int = 64) -> None:
    """Check pretrain_layerwise(sizes, x, train_pair): each layer trained once, on the codes below (lesson 06)."""
    name = getattr(fn, "__name__", "pretrain_layerwise")
    sizes = [int(s) for s in sizes]
    if len(sizes) < 3:
        raise ValueError(f"check_pretrain_layerwise needs at least two layers, e.g. sizes=(20, 12, 8, 3); "
                         f"got {sizes}")
    calls = _pretrain_case(name, fn, sizes, seed, n)
    falls = ", ".join(f"{c['loss_before']:.2f} → {c['loss_after']:.2f}" for c in calls)
    passed(name, f"{len(calls)} layers {' → '.join(map(str, sizes))}, each trained once on the codes of the "
                 f"trained layer below (layer 1 on the pixels), and returned bottom first; the check's "
                 f"train_pair lowered their reconstruction losses {falls} (seed {seed})")


# ---------------------------------------------------------------- 6.2 one step of the top layer, the rest frozen


def _frozen_stack(seed: int, sizes: list[int]) -> tuple[list[nn.Module], nn.Module]:
    """Return encoders (bottom first; the lower ones with BatchNorm) and the top layer's decoder.

    The lower encoders hold BatchNorm1d layers with non-trivial running statistics, so that train and
    eval mode give different codes and train mode changes their buffers even without gradients.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoders = []
        for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
            bn = nn.BatchNorm1d(b)
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            encoders.append(nn.Sequential(nn.Linear(a, b), bn, nn.SiLU()))
        top = nn.BatchNorm1d(sizes[-1])
        top.running_mean.uniform_(-0.5, 0.5)
        top.running_var.uniform_(0.5, 2.0)
        encoders.append(nn.Sequential(nn.Linear(sizes[-2], sizes[-1]), top))
        decoder = nn.Sequential(nn.Linear(sizes[-1], sizes[-2]), nn.SiLU())
    return encoders, decoder


def _top_reference(encoders, decoder, x, stale: float, lr: float) -> dict:
    """Return the right loss, and the top layer's parameters after one SGD step (and after known mistakes)."""
    enc, dec = copy.deepcopy(encoders), copy.deepcopy(decoder)
    for e in enc[:-1]:
        e.eval()
    enc[-1].train()
    dec.train()
    with torch.no_grad():
        h = x
        for e in enc[:-1]:
            h = e(h)
    params = [*enc[-1].parameters(), *dec.parameters()]
    out = dec(enc[-1](h))
    per = ((out - h) ** 2).sum(dim=1)  # (B,)
    losses = {"right": per.mean(), "mean": ((out - h) ** 2).mean(), "sum": per.sum()}
    steps = {}
    for key, loss in losses.items():
        grads = torch.autograd.grad(loss, params, retain_graph=True)
        steps[key] = [(p - lr * g).detach() for p, g in zip(params, grads, strict=True)]
        if key == "right":
            steps["stale"] = [(p - lr * (g + stale)).detach() for p, g in zip(params, grads, strict=True)]
    return {"loss": losses["right"].item(), "loss_mean": losses["mean"].item(), "loss_sum": losses["sum"].item(),
            "steps": steps}


class _ModeLog:
    """Forward pre-hooks that record, at the moment each module runs, its own mode and that of its parent."""

    def __init__(self, encoders, decoder):
        self.seen: dict[str, tuple[bool, bool]] = {}
        self.handles = []
        groups = [(f"encoders[{i}]", e) for i, e in enumerate(encoders)] + [("decoder", decoder)]
        for label, parent in groups:
            for leaf in _leaves(parent):
                if isinstance(leaf, nn.BatchNorm1d):
                    self.handles.append(leaf.register_forward_pre_hook(self._hook(label, parent)))

    def _hook(self, label, parent):
        def hook(module, args):
            self.seen.setdefault(label, (module.training, parent.training))
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def _top_case(name: str, fn, where: str, seed: int, sizes: list[int], batch: int) -> None:
    encoders, decoder = _frozen_stack(seed, sizes)
    lower, top = encoders[:-1], [encoders[-1], decoder]
    for e in lower:
        e.train()  # the modes earlier code left them in: the check expects you to set them
    for m in top:
        m.eval()
    x = _data(seed, batch, sizes[0]) * 2 - 0.5
    lr, stale = 0.1, 0.25
    ref = _top_reference(encoders, decoder, x, stale, lr)
    top_params = [p for m in top for p in m.parameters()]
    initial = [p.detach().clone() for p in top_params]
    for p in top_params:
        p.grad = torch.full_like(p, stale)  # left over from an earlier step: the step must clear it
    lower_state = [_state(e) for e in lower]
    all_params = [p for m in (*encoders, decoder) for p in m.parameters()]
    optimizer = torch.optim.SGD(all_params, lr=lr)
    log = _ModeLog(encoders, decoder)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = call(name, fn, encoders=list(encoders), decoder=decoder, x=x, optimizer=optimizer)
    except CheckFailed as err:
        text = str(err.__cause__ or "")
        if "does not require grad" in text or "does not have a grad_fn" in text:
            fail(name, "backward() found no graph: the whole step ran under torch.no_grad() (or the loss was "
                       "detached). Only the codes of the frozen layers are computed without gradients; the top "
                       "layer's forward pass, the loss and backward() run with them", err.__cause__)
        raise
    finally:
        log.remove()
    for i in range(len(lower)):
        label = f"encoders[{i}]"
        if label not in log.seen:
            fail(name, f"{label} never ran: compute the codes h by passing x through every layer below the "
                       f"top one, encoders[:-1], in order {where}")
        leaf_training, parent_training = log.seen[label]
        if leaf_training and not parent_training:
            fail(name, f"set the mode of {label} on the module only (`.training = False`): its BatchNorm "
                       "inside stayed in training mode. Call .eval(), which sets every submodule "
                       f"{where}")
        if leaf_training:
            fail(name, f"the frozen layer {label} ran in training mode: its BatchNorm normalised with the batch's "
                       "statistics and updated its running averages. Put the layers below in eval mode "
                       f"(.eval()) before computing their codes {where}")
    for label, _module in (("encoders[-1]", encoders[-1]), ("decoder", decoder)):
        seen = log.seen.get(label if label != "encoders[-1]" else f"encoders[{len(encoders) - 1}]")
        if seen is None:
            continue  # the decoder has no BatchNorm: its mode is checked through the loss
        leaf_training, parent_training = seen
        if not leaf_training and parent_training:
            fail(name, f"set the mode of {label} on the module only (`.training = True`): its BatchNorm "
                       f"inside stayed in eval mode. Call .train(), which sets every submodule {where}")
        if not leaf_training:
            fail(name, f"the top layer ({label}) trained in eval mode: the modules may come in any mode, so "
                       f"call .train() on encoders[-1] and on the decoder before its forward pass {where}")
    if any(not p.requires_grad for p in all_params):
        frozen = sum(1 for p in all_params if not p.requires_grad)
        fail(name, f"left {frozen} parameter tensors with requires_grad=False: the layers must stay "
                   "trainable for the fine-tuning that follows. Freeze with torch.no_grad() (or .detach()) "
                   "around the codes, or restore requires_grad_(True) before returning "
                   f"{where}")
    for i, (e, before) in enumerate(zip(lower, lower_state, strict=True)):
        if not _same_state(_state(e), before):
            fail(name, f"the frozen layer encoders[{i}] changed: its weights received gradients and the "
                       "optimizer (which holds every parameter) moved them. Compute the codes of the layers "
                       f"below under torch.no_grad() (or .detach() them) {where}")
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        out = out.item()
    if isinstance(out, bool) or not isinstance(out, (int, float)):
        fail(name, f"returned {type(out).__name__}; return the loss of this step as a Python float "
                   "(loss.item())")
    got_params = [p.detach() for p in top_params]
    steps = ref["steps"]

    def same(key):
        return all(close(a, b, 1e-4, 1e-6) for a, b in zip(got_params, steps[key], strict=True))

    if abs(out - ref["loss"]) > 1e-4 * max(1.0, abs(ref["loss"])):
        if abs(out - ref["loss_mean"]) <= 1e-4 * max(1.0, abs(ref["loss_mean"])):
            fail(name, f"the loss averages over the units too (F.mse_loss's default): sum the squared errors "
                       f"over the units of each example, then average over the batch {where}")
        if abs(out - ref["loss_sum"]) <= 1e-4 * max(1.0, abs(ref["loss_sum"])):
            fail(name, f"the loss sums over the batch: average over the examples (.mean()) {where}")
        fail(name, f"returned the loss {out:.6g}, expected {ref['loss']:.6g}: the squared error between "
                   "decoder(encoders[-1](h)) and h, summed over units and averaged over the batch, before "
                   f"the update {where}")
    if all(torch.equal(a, b) for a, b in zip(got_params, initial, strict=True)):
        fail(name, "the top layer's weights did not change: call optimizer.zero_grad(), then loss.backward(), "
                   f"then optimizer.step(), in that order {where}")
    if same("stale"):
        fail(name, "the update also used gradients left over from an earlier step: call "
                   f"optimizer.zero_grad() before loss.backward() {where}")
    if not same("right"):
        worst = max((a - b).abs().max().item() for a, b in zip(got_params, steps["right"], strict=True))
        fail(name, f"the loss is right, but the top layer's weights after the step differ from one SGD step "
                   f"on it (largest difference {worst:.3g}) {where}")


def check_train_top_layer(fn, seed: int = 0, sizes=(10, 8, 6, 3), batch: int = 16) -> None:
    """Check train_top_layer(encoders, decoder, x, optimizer): one step of the top layer, the rest frozen (lesson 06)."""
    name = getattr(fn, "__name__", "train_top_layer")
    sizes = [int(s) for s in sizes]
    if len(sizes) < 3 or batch < 2:
        raise ValueError(f"check_train_top_layer needs at least one frozen layer and a batch of 2, e.g. "
                         f"sizes=(10, 8, 6, 3); got sizes {sizes}, batch {batch}")
    where = f"(sizes {sizes}, batch {batch}, seed {seed})"
    _top_case(name, fn, where, seed, sizes, batch)
    passed(name, f"one SGD step of the top layer {sizes[-2]} → {sizes[-1]} → {sizes[-2]} on the codes of the "
                 f"{len(sizes) - 2} frozen layer(s) below: right modes, loss, update, nothing else changed "
                 f"{where}")


# ---------------------------------------------------------------- 6.3 predict: freezing a layer under Adam


def frozen_drift(set_to_none: bool, steps: int = 5) -> float:
    """Return how far a layer frozen with requires_grad_(False) moves in `steps` more Adam steps (largest change).

    A small network (5 → 4 → 2, tanh) is trained for 5 Adam steps (lr 0.01) on a fixed random batch, its
    first layer is then frozen, and training goes on with the same optimizer; the gradients are cleared
    with optimizer.zero_grad(set_to_none=set_to_none).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
        x, y = torch.randn(32, 5), torch.randn(32, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for i in range(5 + steps):
        if i == 5:
            model[0].requires_grad_(False)
            before = model[0].weight.detach().clone()
        opt.zero_grad(set_to_none=set_to_none)
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
    return (model[0].weight - before).abs().max().item()


_FREEZE_WHY = {
    "A": "No new gradient reaches the layer, but zero_grad(set_to_none=False) leaves a zero tensor in .grad, "
         "so Adam still steps it, by its running average of the earlier gradients.",
    "B": "With set_to_none=False the frozen weights keep a zero .grad, so Adam does not skip them: its "
         "running averages of past gradients are still nonzero and keep moving them, step after step.",
    "C": "That would be weight decay, which plain Adam does not apply here; the movement comes from its "
         "running averages of the gradients before freezing, in any direction, not towards zero.",
    "D": "An optimizer may hold parameters that no longer require gradients; it raises nothing, it just "
         "treats a zero .grad like any other gradient.",
}


def check_prediction_6_3(answer) -> None:
    """Grade the prediction of exercise 6.3: a frozen layer under Adam with zero_grad(set_to_none=False) (lesson 06)."""
    name = "prediction_6_3"
    check_choice(name, answer, "B", _FREEZE_WHY)
    print(f"measured: in 5 steps after freezing, the frozen weights moved by up to "
          f"{frozen_drift(False):.3g} with zero_grad(set_to_none=False), by {frozen_drift(True):.3g} with "
          "set_to_none=True (PyTorch's default since 2.0)")


# ---------------------------------------------------------------- 6.4 experiment: the fine-tuning learning rate


def stack_budget() -> dict:
    """Return the budget and target of exercise 6.4 for the current mode (AECOURSE_MODE)."""
    return {"mode": config.get_mode(),
            "sizes": [784, 128, 16],
            "n_train": config.pick(smoke=500, standard=3_000, full=3_000),
            "n_val": config.pick(smoke=300, standard=1_000, full=1_000),
            "pretrain_epochs": 1,
            "finetune_epochs": config.pick(smoke=1, standard=4, full=4),
            "error_target": config.pick(smoke=ERROR_TARGET_SMOKE, standard=ERROR_TARGET, full=ERROR_TARGET)}


ERROR_TARGET, ERROR_TARGET_SMOKE = 26.0, 65.0  # squared error per validation image, below (smoke: one epoch, loose)
_PRETRAINED: dict = {}
_FINETUNED: dict = {}


def _pair(d_in: int, d_out: int, code: bool, pixels: bool) -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(nn.Linear(d_in, d_out)) if code else nn.Sequential(nn.Linear(d_in, d_out), nn.SiLU())
    decoder = nn.Sequential(nn.Linear(d_out, d_in)) if pixels else nn.Sequential(nn.Linear(d_out, d_in), nn.SiLU())
    return encoder, decoder


def _bce_logits(model, x):
    logits = model(x)
    return (F.softplus(logits) - x * logits).sum(dim=1).mean()


def _squared(model, h):
    return ((model(h) - h) ** 2).sum(dim=1).mean()


def _seeded_run(make):
    """Run make() after aecourse.set_seed(0), leaving every random generator of the caller as it was."""
    import random

    import numpy as np

    state = (random.getstate(), np.random.get_state())
    with torch.random.fork_rng(devices=[]):
        try:
            config.set_seed(0)
            return make()
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])


def pretrained_stack(sizes: list[int], n_train: int, epochs: int) -> nn.Sequential:
    """Return (a copy of) exercise 6.4's unrolled stack: each layer pretrained greedily, Adam lr 1e-3, batches of 128."""
    from ..data import load_mnist
    from ..training import fit

    key = (tuple(sizes), n_train, epochs)
    if key not in _PRETRAINED:
        x = load_mnist("train", flatten=True)[0][:n_train]

        def run():
            encoders, decoders, h = [], [], x
            for k in range(1, len(sizes)):
                enc, dec = _pair(sizes[k - 1], sizes[k], code=k == len(sizes) - 1, pixels=k == 1)
                fit(nn.Sequential(enc, dec), _bce_logits if k == 1 else _squared, h, epochs=epochs,
                    batch_size=128, verbose=False, progress=False)
                with torch.no_grad():
                    h = enc(h)
                encoders.append(enc)
                decoders.append(dec)
            return nn.Sequential(*encoders, *decoders[::-1])

        _PRETRAINED[key] = _seeded_run(run)
    return copy.deepcopy(_PRETRAINED[key])


def finetune_stack(lr: float, budget: dict | None = None) -> dict:
    """Fine-tune exercise 6.4's pretrained stack with Adam at learning rate lr; return its validation errors.

    Returns {"error": squared error per validation image after fine-tuning, "before": the same before it,
    "mean_image": the error of always answering the mean training image}, on held-out validation digits
    (core.validation_digits: training images it never trained on, the same for every learner).
    """
    from ..data import load_mnist
    from ..training import fit

    b = budget or stack_budget()
    key = (float(lr), tuple(b["sizes"]), b["n_train"], b["n_val"], b["pretrain_epochs"], b["finetune_epochs"])
    if key not in _FINETUNED:
        x = load_mnist("train", flatten=True)[0][: b["n_train"]]
        x_val = validation_digits(b["n_val"])
        model = pretrained_stack(b["sizes"], b["n_train"], b["pretrain_epochs"])

        def error(m):
            with torch.no_grad():
                return ((torch.sigmoid(m(x_val)) - x_val) ** 2).sum(dim=1).mean().item()

        before = error(model)

        def run():
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            fit(model, _bce_logits, x, epochs=b["finetune_epochs"], batch_size=128, optimizer=opt,
                verbose=False, progress=False)
            return model

        try:
            _seeded_run(run)
            err = error(model)
        except FloatingPointError:
            err = float("inf")
        mean = ((x.mean(dim=0) - x_val) ** 2).sum(dim=1).mean().item()
        _FINETUNED[key] = {"error": err if err == err else float("inf"), "before": before, "mean_image": mean}
    return dict(_FINETUNED[key])


def check_finetune_lr(lr) -> None:
    """Fine-tune exercise 6.4's pretrained stack at the learner's learning rate; grade the validation error (lesson 06)."""
    name = "lr_6_4"
    require_answer(name, lr, "lr_6_4 to the learning rate you chose")
    if isinstance(lr, torch.Tensor) and lr.numel() == 1:
        lr = lr.item()
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        fail(name, f"expected a number (a Python float such as 1e-3), got {type(lr).__name__} {lr!r}")
    lr = float(lr)
    if not 0 < lr < float("inf"):
        fail(name, f"a learning rate is a finite number > 0, got {lr}")
    b = stack_budget()
    score = finetune_stack(lr, b)
    err, target = score["error"], b["error_target"]
    measured = (f"squared error per validation image {err:.2f} after {b['finetune_epochs']} epoch(s) of fine-tuning on "
                f"{b['n_train']} images (before fine-tuning {score['before']:.2f}; always the mean image "
                f"{score['mean_image']:.2f}; {b['n_val']:,} held-out validation digits, {b['mode']} mode's target)")
    if err >= target:
        fail(name, f"lr = {lr:g} misses the target: {measured}; that is {err - target:.2f} above the target "
                   f"{target}" if err != float("inf") else
                   f"lr = {lr:g} diverged: the loss became inf or NaN during fine-tuning; lower the learning rate")
    passed(name, f"lr = {lr:g} meets the target {target}: {measured}")
