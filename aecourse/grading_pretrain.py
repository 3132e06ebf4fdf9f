"""The grader's own check of exercise 6.1 (greedy layer-wise pretraining), outside the student's kernel.

The learner's `pretrain_layerwise(sizes, x, train_pair)` runs in the kernel with a `train_pair` of
the grader's: it records, for every call, the layers it was given (as standard layers and weights,
before and after), the data, the `pixels` flag and whether gradients were on, and trains the pair
as the check's own `train_pair` does (Adam, 20 steps). The grader then checks the record itself:
one call per layer, bottom first; layer 1 on the images, each layer above on the codes of the
trained layer below, recomputed from the reported weights; the layers' shapes and activations;
the training, rerun by the grader from the weights before and compared with the weights after; and
that the modules returned are the trained ones, bottom first.
"""

from __future__ import annotations

TRAINER_CODE = r'''
    class Trainer:  # exercise 6.1's train_pair, as the check's: records every call, then trains the pair briefly
        def __init__(self, steps):
            self.steps, self.calls, self.pairs = steps, [], []

        def __call__(self, encoder, decoder, h, pixels=None):
            import torch.nn.functional as F
            rec = {"pixels": pixels if isinstance(pixels, bool) or pixels is None else repr(pixels)[:40],
                   "grad_enabled": torch.is_grad_enabled()}
            self.calls.append(rec)
            if not (isinstance(encoder, nn.Module) and isinstance(decoder, nn.Module) and isinstance(h, torch.Tensor)):
                rec["bad"] = f"train_pair got ({type(encoder).__name__}, {type(decoder).__name__}, {type(h).__name__})"
                return
            rec.update(h=plain(h), h_requires_grad=h.requires_grad)
            self.pairs.append((encoder, decoder))
            try:
                parts = {"encoder": leaves(encoder, "the encoder"), "decoder": leaves(decoder, "the decoder")}
                rec.update({p: [spec for _, spec in layers] for p, layers in parts.items()})
            except LookupError as err:
                rec["unsupported"] = str(err)
            hd = h.detach()
            opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=0.02)
            with torch.enable_grad():
                for _ in range(self.steps):
                    out = decoder(encoder(hd))
                    loss = (F.binary_cross_entropy_with_logits(out, hd, reduction="none") if pixels
                            else (out - hd) ** 2).sum(dim=1).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            if "unsupported" not in rec:
                rec["after"] = {p: [{k: plain(v) for k, v in m.state_dict().items()} for m, _ in layers]
                                for p, layers in parts.items()}

        def returned(self, out):  # what the learner returned: which trained module, or its weights
            def which(m, part):
                for k, pair in enumerate(self.pairs):
                    if m is pair[part == "decoder"]:
                        return {"call": k, "part": part}
                if isinstance(m, nn.Module):
                    return {"state": [plain(v) for v in m.state_dict().values()][:64]}
                return {"type": type(m).__name__}
            if not (isinstance(out, (tuple, list)) and len(out) == 2 and
                    all(isinstance(ms, (list, tuple)) and len(ms) <= 64 for ms in out)):
                return {"unexported type": type(out).__name__}
            return {part: [which(m, part) for m in ms] for part, ms in zip(("encoder", "decoder"), out)}
'''
STEPS, LR = 20, 0.02  # the check's train_pair: lesson06._Trainer


def _pair(specs, after, h, what: str):
    """Return (module with the weights before, module with the weights after, is the last leaf a Linear)."""
    from .grading_models import EVAL_IDENTITY, Unconfirmable, rebuild

    if any(isinstance(s, dict) and s.get("kind") in EVAL_IDENTITY for s in specs or []):
        raise Unconfirmable(f"not rerun outside the kernel: {what} holds a dropout layer, which makes training random")
    before, _ = rebuild(specs, h, what)
    if not isinstance(after, list) or len(after) != len(specs):
        raise ValueError(f"{what}: its weights after training are missing")
    trained, _ = rebuild([dict(s, state=st) for s, st in zip(specs, after, strict=True)], h, what)
    return before.train(), trained.train(), specs[-1]["kind"] == "Linear"


def _rerun(encoder, decoder, h, pixels: bool) -> None:
    """Train the pair in place as the check's train_pair does."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=LR)
    for _ in range(STEPS):
        out = decoder(encoder(h))
        loss = (F.binary_cross_entropy_with_logits(out, h, reduction="none") if pixels
                else (out - h) ** 2).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def _linears(module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module if type(m).__name__ == "Linear"]


def _layer(k: int, layers: int, c: dict, sizes: list[int], x, codes):
    """Judge call k (from 1) of train_pair; return (why, the trained encoder's codes of its data)."""
    import torch

    from .grading_models import Unconfirmable

    if "bad" in c:
        return f"call {k}: {c['bad']}", None
    if "unsupported" in c:
        raise Unconfirmable(f"not rebuilt outside the kernel: {str(c['unsupported'])[:200]}")
    h = c.get("h")
    if not isinstance(h, torch.Tensor) or h.dim() != 2 or h.shape[1] != sizes[k - 1]:
        return f"layer {k} was given data of shape {tuple(getattr(h, 'shape', ()))}, expected (N, {sizes[k - 1]})", None
    if not c.get("grad_enabled"):
        return f"train_pair was called for layer {k} under torch.no_grad()", None
    if c.get("h_requires_grad"):
        return f"the codes given to layer {k} still carry gradients (compute them without gradients)", None
    if c.get("pixels") is not (k == 1):
        return f"train_pair got pixels={c.get('pixels')} for layer {k}; pass pixels=True for layer 1 only", None
    if not (torch.equal(h, x) if k == 1 else torch.allclose(h, codes, rtol=1e-4, atol=1e-5)):
        return (f"layer {k} was not trained on " + ("the images x" if k == 1 else f"layer {k - 1}'s trained codes")), None
    enc0, enc1, enc_linear = _pair(c.get("encoder"), c.get("after", {}).get("encoder"), h, f"layer {k}'s encoder")
    with torch.no_grad():
        z = enc0(h)
    dec0, dec1, dec_linear = _pair(c.get("decoder"), c.get("after", {}).get("decoder"), z, f"layer {k}'s decoder")
    d_in, d_out = sizes[k - 1], sizes[k]
    if _linears(enc0) != [(d_in, d_out)] or _linears(dec0) != [(d_out, d_in)]:
        return f"layer {k} is not one Linear({d_in}, {d_out}) and its decoder Linear({d_out}, {d_in})", None
    if enc_linear != (k == layers) or dec_linear != (k == 1):
        return (f"layer {k}'s activations: the top encoder alone ends linear (code=True) and layer 1's decoder "
                "alone (pixels=True)"), None
    _rerun(enc0, dec0, h, k == 1)
    for got, want in ((enc1, enc0), (dec1, dec0)):
        for a, b in zip(got.state_dict().values(), want.state_dict().values(), strict=True):
            if not torch.allclose(a.double(), b.double(), rtol=1e-3, atol=1e-4):
                return f"layer {k}'s weights after train_pair differ from the grader's rerun of its training", None
    with torch.no_grad():
        return None, enc1(h)


def pretrain_layerwise_probe():
    import torch

    from .checks import lesson06 as m
    from .grading_references import Probe

    def cases(seed):
        g = torch.Generator().manual_seed(seed)
        sizes = [int(torch.randint(lo, hi, (), generator=g)) for lo, hi in ((14, 25), (9, 14), (5, 9), (2, 5))]
        return [[sizes, m._data(seed, 32, sizes[0]), {"__build__": "trainer", "steps": STEPS}]]

    def judge(cases, outs):
        sizes, x = cases[0][0], cases[0][1]
        got = outs[0] if isinstance(outs, list) and len(outs) == 1 else {}
        if "error" in got:
            return f"raised {got['error']}"
        calls, layers = got.get("calls") or [], len(sizes) - 1
        if len(calls) != layers:
            return f"train_pair was called {len(calls)} times for {layers} layers; train each layer once, bottom first"
        codes = None
        for k, c in enumerate(calls, start=1):
            why, codes = _layer(k, layers, c if isinstance(c, dict) else {"bad": "no record"}, sizes, x, codes)
            if why:
                return why
        out = got.get("out")
        if not isinstance(out, dict) or set(out) != {"encoder", "decoder"}:
            return "did not return (encoders, decoders), two lists of modules"
        for part, returned in out.items():
            if len(returned) != layers:
                return f"returned {len(returned)} {part}s for {layers} layers"
            for k, r in enumerate(returned):
                if r != {"call": k, "part": part} and not _same_weights(r, calls[k]["after"][part]):
                    return f"the {part} returned for layer {k + 1} is not the one train_pair trained (bottom first)"
        return None
    return Probe(cases, judge)


def _same_weights(reply: dict, after: list) -> bool:
    """Whether a returned module's weights (state_dict values in order) are those of the trained leaves."""
    import torch

    got = reply.get("state") if isinstance(reply, dict) else None
    want = [v for leaf in after for v in leaf.values()]
    return isinstance(got, list) and len(got) == len(want) and all(
        isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b.double())
        for a, b in zip(got, want, strict=True))
