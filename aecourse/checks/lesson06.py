"""Checks for exercises 06 (stacked and deep autoencoders): references, and the mistakes they name."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .core import call, close, fail, passed

__all__ = ["check_pretrain_layerwise", "check_unroll"]  # what aecourse.checks exports from here

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

    def __init__(self, name: str, sizes: list[int], x: torch.Tensor, steps: int = 40):
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


# ---------------------------------------------------------------- 6.2 unrolling into one deep autoencoder


def _stack(sizes: list[int], seed: int, act=nn.SiLU) -> tuple[list[nn.Module], list[nn.Module]]:
    """Return pretrained-looking layers for sizes: encoders and decoders, bottom first."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoders, decoders = [], []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            top = i == len(sizes) - 2
            encoders.append(nn.Sequential(nn.Linear(a, b)) if top else nn.Sequential(nn.Linear(a, b), act()))
            decoders.append(nn.Sequential(nn.Linear(b, a)) if i == 0 else nn.Sequential(nn.Linear(b, a), act()))
    return encoders, decoders


def _reference(encoders, decoders, x):
    h = x
    for layer in [*encoders, *decoders[::-1]]:
        h = layer(h)
    return h


def _plan(sizes: list[int]) -> list[tuple[int, int]]:
    ups = list(zip(sizes[:-1], sizes[1:], strict=True))
    return ups + [(b, a) for a, b in ups[::-1]]


def _order_problem(got: list[tuple[int, int]], sizes: list[int]) -> str:
    want = _plan(sizes)
    ups = want[: len(want) // 2]
    downs = [(b, a) for a, b in ups]
    half = len(ups)
    show = ", ".join(f"Linear({a}, {b})" for a, b in got)
    if got == ups + downs:
        return (f"the decoders were not reversed ({show}): after the code comes the top layer's decoder, "
                "and the one that outputs pixels comes last; use decoders[::-1] (or reversed(decoders))")
    if got == downs[::-1] + ups:
        return "the model runs the decoders first; the encoders come first, then the decoders reversed"
    if got == ups[::-1] + downs[::-1] or got[:half] == ups[::-1]:
        return (f"the encoders were reversed ({show}): they run bottom first, from the pixels up to the "
                "code; only the decoders are reversed")
    if len(got) < len(want):
        return (f"the model has {len(got)} Linear layers ({show}); expected {len(want)}: every encoder, then "
                "every decoder in reverse order, none left out")
    return f"the model's Linear layers are {show}; expected " + ", ".join(f"Linear({a}, {b})" for a, b in want)


def check_unroll(fn, seed: int = 0, sizes=(20, 12, 8, 3)) -> None:
    """Check unroll(encoders, decoders): nn.Sequential of copies, encoders then decoders reversed (lesson 06)."""
    name = getattr(fn, "__name__", "unroll")
    sizes = [int(s) for s in sizes]
    if len(sizes) < 3:
        raise ValueError(f"check_unroll needs at least two layers, e.g. sizes=(20, 12, 8, 3); got {sizes}")
    encoders, decoders = _stack(sizes, seed)
    given_enc, given_dec = list(encoders), list(decoders)
    states = [_state(m) for m in (*encoders, *decoders)]
    where = f"(sizes {sizes}, seed {seed})"
    model = call(name, fn, encoders=encoders, decoders=decoders)
    if [id(m) for m in decoders] != [id(m) for m in given_dec] or \
            [id(m) for m in encoders] != [id(m) for m in given_enc]:
        fail(name, "changed the caller's list in place (decoders.reverse() or encoders.reverse()): the "
                   "lists the caller holds are now in another order; use decoders[::-1] or "
                   "reversed(decoders), which leave the list alone")
    if any(not _same_state(_state(m), s) for m, s in zip((*encoders, *decoders), states, strict=True)):
        fail(name, "changed the weights of the given layers; unrolling only arranges (copies of) the "
                   "layers, it does not change them")
    if isinstance(model, (list, tuple)):
        fail(name, f"returned a Python {type(model).__name__}; wrap the layers in nn.Sequential(*layers) so "
                   "that the model can be called and trained as one")
    if not isinstance(model, nn.Sequential):
        fail(name, f"returned {type(model).__name__}; return an nn.Sequential: the encoders, then the decoders "
                   "in reverse order")
    got = _linears(model)
    if got != _plan(sizes):
        fail(name, f"{_order_problem(got, sizes)} {where}")
    n_act = sum(1 for m in _leaves(model) if not isinstance(m, nn.Linear))
    want_act = sum(1 for m in (*encoders, *decoders) for leaf in _leaves(m) if not isinstance(leaf, nn.Linear))
    if n_act < want_act:
        fail(name, f"the unrolled model has {n_act} activations, the given layers {want_act}: keep each "
                   "layer's whole module (its Linear and its activation), not just its nn.Linear "
                   f"{where}")
    given = {p.data_ptr() for m in (*encoders, *decoders) for p in m.parameters()}
    if any(p.data_ptr() in given for p in model.parameters()):
        fail(name, "the unrolled model shares its layers with `encoders` and `decoders`: fine-tuning it "
                   "would overwrite the pretrained layers that we still want to compare with; put copies "
                   "in it, copy.deepcopy(encoders) and copy.deepcopy(decoders)")
    n_params = sum(p.numel() for p in model.parameters())
    want_params = sum(p.numel() for m in (*encoders, *decoders) for p in m.parameters())
    if n_params != want_params:
        fail(name, f"the unrolled model has {n_params:,} parameters, the given layers {want_params:,}: "
                   f"use the given layers (copies), nothing more and nothing less {where}")
    x = _data(seed, 5, sizes[0])
    with torch.no_grad():
        ref = _reference(encoders, decoders, x)
        try:
            out = model(x)
        except Exception as err:
            fail(name, f"the unrolled model raised {type(err).__name__}: {err} on a batch (5, {sizes[0]})", err)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(ref.shape):
        fail(name, f"the unrolled model returned {getattr(out, 'shape', type(out).__name__)} for a batch "
                   f"(5, {sizes[0]}); expected {tuple(ref.shape)}")
    if not close(out, ref, 1e-5, 1e-6):
        fail(name, "the unrolled model's outputs differ from running the given layers one after the other "
                   "(encoders, then decoders reversed): its layers have new weights; copy the given "
                   f"layers instead of building fresh nn.Linear layers {where}")
    with torch.no_grad():  # a copy: changing the model leaves the given layers alone
        for p in model.parameters():
            p.add_(1.0)
    if any(not _same_state(_state(m), s) for m, s in zip((*encoders, *decoders), states, strict=True)):
        fail(name, "the unrolled model shares weights with the given layers: fine-tuning it would overwrite "
                   "the pretrained layers; put copies in it (copy.deepcopy)")
    passed(name, f"nn.Sequential of copies: {len(sizes) - 1} encoders then the decoders reversed, "
                 f"{' → '.join(map(str, sizes + sizes[-2::-1]))}, {n_params:,} parameters, outputs equal to "
                 f"the layers run one after the other (seed {seed})")
