"""Checks for exercises 02 (undercomplete and overcomplete): references, and the mistakes they name."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .core import Autoencoder, call, diagnose, expect_tensor, fail, passed, seeded

__all__ = ["check_mlp_layers", "check_bce_loss", "check_interpolate"]  # what aecourse.checks exports from here


def _layers(module: nn.Module) -> list[str]:
    """Return the leaf layers in order, e.g. ['Linear(784, 64)', 'ReLU', ...]."""
    leaves = [m for m in module.modules() if not list(m.children())]
    return [f"Linear({m.in_features}, {m.out_features})" if isinstance(m, nn.Linear) else type(m).__name__
            for m in leaves]


def _plan(sizes: list[int]) -> list[str]:
    """Return the expected layers for sizes: Linear, ReLU, ..., Linear (no activation after the last)."""
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [f"Linear({d_in}, {d_out})", "ReLU"]
    return layers[:-1]


def _stack_problem(part: str, got: list[str], want: list[str]) -> str:
    """Return one sentence naming how the layers `got` differ from `want`."""
    linear = [layer for layer in got if layer.startswith("Linear")]
    expected = [layer for layer in want if layer.startswith("Linear")]
    if linear != expected:
        mirror = " (the encoder's, mirrored)" if part == "decoder" else " (one per pair of consecutive sizes)"
        return f"the {part}'s Linear layers are {', '.join(linear) or 'none'}; expected {', '.join(expected)}{mirror}"
    if part == "encoder" and got[-1] != want[-1]:
        return (f"the encoder ends with {got[-1]} after its last Linear layer: leave the code layer linear, "
                "so that codes can take any value")
    if part == "decoder" and got[-1] != "Sigmoid":
        return ("the decoder must end with nn.Sigmoid(): pixels lie in [0, 1], and BCE needs probabilities "
                f"(it ends with {got[-1]})")
    if part == "decoder" and not got[-2].startswith("Linear"):
        return f"the decoder has {got[-2]} right before its Sigmoid; put the Sigmoid right after the last Linear"
    cuts = [i for i, layer in enumerate(got) if layer.startswith("Linear")]
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        between = got[a + 1:b]
        if not between:
            return (f"the {part} has no activation between {got[a]} and {got[b]}: stacked Linear layers "
                    "collapse into one linear map; put an nn.ReLU() between them")
        if between != ["ReLU"]:
            return f"the {part} has {', '.join(between)} between {got[a]} and {got[b]}; use one nn.ReLU()"
    return f"the {part}'s layers are {got}; expected {want}"


def check_mlp_layers(fn, sizes=(784, 64, 16, 2)) -> None:
    """Check mlp_layers(sizes): ReLU MLP encoder with a linear code, mirrored decoder ending in Sigmoid (lesson 02)."""
    name, sizes = getattr(fn, "__name__", "mlp_layers"), list(sizes)
    out = call(name, fn, sizes=list(sizes))
    if not (isinstance(out, tuple) and len(out) == 2):
        fail(name, f"returned {type(out).__name__}; return the pair (encoder, decoder)")
    for part, module in zip(("encoder", "decoder"), out, strict=True):
        if isinstance(module, (list, tuple)):
            fail(name, f"the {part} is a Python {type(module).__name__}; wrap the layers in "
                       "nn.Sequential(*layers) so that PyTorch registers their parameters")
        if not isinstance(module, nn.Module):
            fail(name, f"the {part} is a {type(module).__name__}, expected an nn.Module (nn.Sequential)")
    plans = {"encoder": _plan(sizes), "decoder": _plan(sizes[::-1]) + ["Sigmoid"]}
    for part, module in zip(plans, out, strict=True):
        got = _layers(module)
        if part == "encoder" and got[:1] == ["Flatten"]:
            got = got[1:]  # the lesson's encoder starts by flattening (N, 1, 28, 28) images
        if got != plans[part]:
            fail(name, f"{_stack_problem(part, got, plans[part])} (for sizes {sizes})")
    encoder, decoder = out
    x = torch.rand(3, sizes[0], generator=torch.Generator().manual_seed(0))
    z = expect_tensor(name, call(f"{name}: encoder", encoder, x=x), (3, sizes[-1]))
    x_hat = expect_tensor(name, call(f"{name}: decoder", decoder, z=z), (3, sizes[0]))
    if not ((x_hat >= 0) & (x_hat <= 1)).all():
        fail(name, "the decoder's outputs leave [0, 1]; its last layer must be the Sigmoid")
    chain = " → ".join(map(str, sizes))
    passed(name, f"encoder {chain} with ReLUs and a linear code, decoder mirrored with a Sigmoid output")


def _bce_terms(x_hat: torch.Tensor, x: torch.Tensor, clamp: bool = True) -> tuple:
    """Return the per-pixel x·log x̂ and (1 − x)·log(1 − x̂), logs clamped at -100 as torch does."""
    log_p, log_q = torch.log(x_hat), torch.log(1 - x_hat)
    if clamp:
        log_p, log_q = log_p.clamp(min=-100), log_q.clamp(min=-100)
    return x * log_p, (1 - x) * log_q


def _bce_cases(seed: int, batch: int, d: int) -> list:
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(batch, d, generator=g)
    x = torch.where(u < 0.6, 0.0, torch.where(u > 0.85, 1.0, torch.rand(batch, d, generator=g)))  # MNIST-like
    p = 0.02 + 0.96 * torch.rand(batch, d, generator=g)
    saturated = torch.where(x == 0, 0.0, torch.where(x == 1, 1.0, p))
    return [(f"on a random batch ({batch}×{d}, seed {seed})", p, x),
            (f"on a batch where x_hat holds exact 0s and 1s, as a saturated sigmoid gives ({batch}×{d})",
             saturated, x)]


def _bce_case(name: str, fn, where: str, p: torch.Tensor, x: torch.Tensor) -> None:
    batch = len(x)
    x_hat = p.clone().requires_grad_()
    raw = call(name, fn, x_hat=x_hat, x=x)
    if isinstance(raw, (float, int)):
        fail(name, "returned a Python number; return the tensor (no .item()) so that loss.backward() works")
    out = expect_tensor(name, raw, (), {
        (batch,): "returned one loss per image, shape (B,); average them over the batch with .mean()",
        tuple(x.shape): "returned the loss of every pixel, shape (B, D); sum over pixels (dim=1), then "
                        "average over the batch"})
    a, b = _bce_terms(p, x)
    per_pixel = -(a + b)
    mistakes = [
        ("NaN or inf where x_hat is exactly 0 or 1: 0 · log 0 is NaN; clamp each log at -100 as "
         "F.binary_cross_entropy does (torch.log(x_hat).clamp(min=-100)), or use it with reduction='none'",
         lambda: -sum(_bce_terms(p, x, clamp=False)).sum(dim=1).mean()),
        ("averaged over pixels as well as over the batch (F.binary_cross_entropy's default "
         "reduction='mean'): sum over pixels (dim=1), then average over the batch", lambda: per_pixel.mean()),
        ("summed over the batch as well: sum over pixels (dim=1), then average over the batch (.mean())",
         lambda: per_pixel.sum()),
        ("averaged over pixels and summed over the batch; it is the other way round: .sum(dim=1).mean()",
         lambda: per_pixel.mean(dim=1).sum()),
        ("the loss has the wrong sign: BCE is −[x·log x̂ + (1 − x)·log(1 − x̂)], mind the minus",
         lambda: (a + b).sum(dim=1).mean()),
        ("swapped x_hat and x: the logs are of the prediction x_hat, weighted by the target x",
         lambda: -sum(_bce_terms(x, p)).sum(dim=1).mean()),
        ("swapped x_hat and x: the logs are of the prediction x_hat, weighted by the target x",
         lambda: -sum(_bce_terms(x, p, clamp=False)).sum(dim=1).mean()),
        ("left out the (1 − x)·log(1 − x̂) term, which penalises ink where the target is background",
         lambda: -a.sum(dim=1).mean()),
        ("left out the x·log x̂ term, which penalises missing ink", lambda: -b.sum(dim=1).mean()),
        ("computed the squared error; this exercise asks for the binary cross-entropy",
         lambda: ((p - x) ** 2).sum(dim=1).mean()),
    ]
    ref = F.binary_cross_entropy(p, x, reduction="sum") / batch
    diagnose(name, out, ref, mistakes, where, rtol=1e-4, atol=1e-3)
    if not raw.requires_grad:
        fail(name, "the loss is cut off from autograd (.detach(), .item() or torch.no_grad()): compute it "
                   "from x_hat with torch operations so that loss.backward() reaches the model")


def check_bce_loss(fn, seed: int = 0, batch: int = 4, d: int = 784) -> None:
    """Check bce_loss(x_hat, x) against F.binary_cross_entropy summed over pixels, averaged over the batch (lesson 02)."""
    name = getattr(fn, "__name__", "bce_loss")
    for case in _bce_cases(seed, batch, d):
        _bce_case(name, fn, *case)
    passed(name, f"equals F.binary_cross_entropy(x_hat, x, reduction='sum') / B, saturated pixels "
                 f"included (batch {batch}, seed {seed})")


def _interpolation_model(seed: int) -> nn.Module:
    return seeded(seed, lambda: Autoencoder(
        nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 2)),
        nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 784), nn.Sigmoid())))


def _path(model: nn.Module, x_a, x_b, t: torch.Tensor) -> torch.Tensor:
    """Decode (1 − t)·z_a + t·z_b for each t: (len(t), 784)."""
    z_a, z_b, t = model.encoder(x_a), model.encoder(x_b), t[:, None]
    return model.decoder((1 - t) * z_a + t * z_b)


def check_interpolate(fn, seed: int = 0, steps: int = 5) -> None:
    """Check interpolate(model, x_a, x_b, steps): decoded codes (1 − t)·z_a + t·z_b, t from 0 to 1 (lesson 02)."""
    name = getattr(fn, "__name__", "interpolate")
    model = _interpolation_model(seed)
    g = torch.Generator().manual_seed(seed)
    x_a, x_b = torch.rand(784, generator=g), torch.rand(784, generator=g)
    out = call(name, fn, model=model, x_a=x_a, x_b=x_b, steps=steps)
    out = expect_tensor(name, out, (steps, 784), {
        (steps, 2): "returned the codes, shape (steps, k); decode them with model.decoder"})
    t = torch.linspace(0, 1, steps)
    mistakes = [
        ("mixed the pixels of x_a and x_b; encode both, interpolate between their codes z_a and z_b, "
         "then decode", lambda: (1 - t[:, None]) * x_a + t[:, None] * x_b),
        ("mixed the images, then ran the whole model; interpolate the codes instead: "
         "z = (1 - t) * z_a + t * z_b, then model.decoder(z)", lambda: model((1 - t[:, None]) * x_a + t[:, None] * x_b)),
        ("the frames run from x_b to x_a: frame 0 decodes z_a (t = 0), the last one z_b (t = 1)",
         lambda: _path(model, x_a, x_b, t.flip(0))),
        ("t never reaches 1, so the last frame is not z_b's decoding; use torch.linspace(0, 1, steps)",
         lambda: _path(model, x_a, x_b, torch.arange(steps) / steps)),
        ("left out the end points t = 0 and t = 1; use torch.linspace(0, 1, steps)",
         lambda: _path(model, x_a, x_b, torch.linspace(0, 1, steps + 2)[1:-1])),
        ("the first and last frames are x_a and x_b themselves; decode every frame, the end points included",
         lambda: torch.cat([x_a[None], _path(model, x_a, x_b, t)[1:-1], x_b[None]])),
        ("used z_a + t·z_b; the point at t on the segment is (1 − t)·z_a + t·z_b",
         lambda: model.decoder(model.encoder(x_a) + t[:, None] * model.encoder(x_b))),
    ]
    with torch.no_grad():
        ref = _path(model, x_a, x_b, t)
    diagnose(name, out, ref, mistakes, f"with steps = {steps} (seed {seed})", rtol=1e-4, atol=1e-5)
    passed(name, f"decodes {steps} evenly spaced codes from z_a to z_b, end points included (seed {seed})")
