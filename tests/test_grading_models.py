"""aecourse.grading_models: the grader rebuilds a trained model from the kernel's description and measures it.

The rebuilt layers must compute what the learner's layers compute (else an honest model could be
overruled); every model its check accepts must be confirmed, every plainly wrong one rejected by the
grader's own measure; a model the grader cannot rebuild keeps the kernel's verdict, named; and a
forged description cannot make the grader build or allocate anything but standard layers of
bounded size.
"""

import contextlib
import functools
import io
import secrets
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from aecourse import checks
from aecourse import grading_models as gm
from aecourse import grading_probes as gp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_checks_02 as t02  # noqa: E402
import test_checks_06 as t06  # noqa: E402
import test_checks_07 as t07  # noqa: E402

Pair, lesson_sized, pca_model, Tiny, Bypass = t02.Pair, t02.lesson_sized, t02.pca_model, t07.Tiny, t07.Bypass
pca4, loose, small_test_set = t02.pca4, t02.loose, t07.small_test_set  # the checks' tests' fixtures


def reply_for(check: str, answer, seed: int = 7):
    """Run the probe's kernel code on answer as the student's kernel would; return (cases, the reply read)."""
    nonce = secrets.token_hex(4)
    code, cases = gp.kernel_code(check, "answer_under_test", seed, nonce)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(code, {"get_ipython": lambda: types.SimpleNamespace(user_ns={"answer_under_test": answer})})
    return cases, gp.read_reply(buf.getvalue(), nonce)


def verdict(check: str, model) -> str | None:
    cases, reply = reply_for(check, model)
    try:
        return gp.judge(check, cases, reply)
    except gm.Unconfirmable as err:
        return f"unconfirmable: {err}"


def _randomised(model: nn.Module) -> nn.Module:
    """Give normalisation layers running statistics and affine weights that are not their defaults."""
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
        for p in m.parameters(recurse=False):
            with torch.no_grad():
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


FLAT = [  # (encoder, decoder) pairs on flat images (N, 784), the layers learners use and a few more
    (nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4)),
     nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.2), nn.Linear(16, 784), nn.Sigmoid())),
    (nn.Sequential(nn.Linear(784, 12, bias=False), nn.BatchNorm1d(12), nn.GELU(approximate="tanh"), nn.Linear(12, 3)),
     nn.Sequential(nn.Linear(3, 12), nn.LayerNorm(12), nn.PReLU(), nn.Linear(12, 784), nn.Hardtanh(0.0, 1.0))),
    (nn.Sequential(nn.Sequential(nn.Linear(784, 10), nn.SiLU()), nn.Identity(), nn.Linear(10, 4), nn.Tanh()),
     nn.Sequential(nn.Linear(4, 10), nn.ELU(0.5), nn.Softplus(2.0), nn.Linear(10, 784), nn.Sigmoid(),
                   nn.Unflatten(1, (1, 28, 28)))),
    (nn.Sequential(nn.Unflatten(1, (1, 784)), nn.Conv1d(1, 2, 5, stride=4), nn.MaxPool1d(2), nn.AvgPool1d(2),
                   nn.Flatten(), nn.Linear(96, 4), nn.CELU(0.7), nn.SELU()),
     nn.Sequential(nn.Linear(4, 8), nn.Hardsigmoid(), nn.Hardswish(), nn.Softsign(), nn.Tanhshrink(),
                   nn.AlphaDropout(0.1), nn.Unflatten(1, (2, 4)), nn.Dropout1d(0.1), nn.ConvTranspose1d(2, 1, 4, stride=4),
                   nn.Flatten(), nn.Linear(16, 784))),
]
IMAGES = [  # the same on images (N, 1, 28, 28)
    (nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
                   nn.Conv2d(4, 2, 3, stride=2, padding="valid", dilation=1)),
     nn.Sequential(nn.ConvTranspose2d(2, 4, 3, stride=2, output_padding=1), nn.ReLU(), nn.Upsample(size=(28, 28)),
                   nn.Conv2d(4, 1, 3, padding="same", padding_mode="reflect"))),
    (nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.Mish(), nn.AvgPool2d(2),
                   nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.PixelUnshuffle(2), nn.GroupNorm(2, 16)),
     nn.Sequential(nn.PixelShuffle(2), nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=True),
                   nn.ZeroPad2d(0), nn.Dropout2d(0.2), nn.Conv2d(4, 1, 1))),
    (nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.Unflatten(1, (2, 2, 2))),
     nn.Sequential(nn.UpsamplingNearest2d(scale_factor=7), nn.Conv2d(2, 4, 3, padding=1), nn.ReLU6(),
                   nn.UpsamplingBilinear2d(size=(28, 28)), nn.Conv2d(4, 1, 1), nn.AdaptiveAvgPool2d((28, 28)))),
]


@pytest.mark.parametrize("pair, shape", [(p, (784,)) for p in FLAT] + [(p, (1, 28, 28)) for p in IMAGES])
def test_the_rebuilt_layers_compute_what_the_learners_layers_compute(pair, shape):
    model = _randomised(Pair(*pair))
    model.train()  # the kernel's description is of the model in eval mode, as the checks measure it
    check = "check_small_autoencoder" if shape == (784,) else "check_param_budget"
    _, reply = reply_for(check, model)
    x = torch.rand(5, *shape)
    code, n_params, out = gm.measure(reply, x, batch=5)
    model.eval()
    with torch.no_grad():
        want = model(x)
    assert code == model.encoder(x)[0].numel()
    assert n_params == sum(p.numel() for p in model.parameters())
    assert torch.allclose(out, want.double().reshape(out.shape), rtol=1e-5, atol=1e-6)


def test_the_models_the_checks_accept_are_confirmed(pca4, loose, small_test_set):
    mu, V = pca4
    for model in (pca_model(mu, V), pca_model(mu, V, dtype=torch.float64)):
        checks.check_small_autoencoder(model)
        assert verdict("check_small_autoencoder", model) is None
    for model in (Tiny(), Tiny(channels=2), Tiny(extra=2_000 - 4)):
        checks.check_param_budget(model)
        assert verdict("check_param_budget", model) is None


@pytest.mark.parametrize("make, fragment", [
    (lambda mu, V: lesson_sized(), "over the budget of 40,000"),
    (lambda mu, V: pca_model(mu, V, k=8), "code has 8 numbers per image, more than 4"),
    (lambda mu, V: pca_model(mu, V, clamp=False), "outside [0, 1]"),
    (lambda mu, V: Pair(nn.Linear(784, 4), nn.Sequential(nn.Linear(4, 784), nn.Sigmoid())), "above the target 40"),
    (lambda mu, V: Pair(*list(pca_model(mu, V).children())[:2], leak=0.01), "unconfirmable"),
    (lambda mu, V: nn.Sequential(nn.Linear(784, 4), nn.Linear(4, 784)), "unconfirmable"),
    (lambda mu, V: "a model", "unconfirmable"),
])
def test_the_grader_measures_the_mistakes_of_2_4_itself(pca4, loose, make, fragment):
    assert fragment in (verdict("check_small_autoencoder", make(*pca4)) or "")


@pytest.mark.parametrize("model, fragment", [
    (Tiny(wide_kernel=45), "2,030 parameters, over the budget of 2,000"),
    (Tiny(channels=3), "code has 147 numbers per image, more than 128"),
    (Tiny(scale=0.05), "above the target 0.17"),
    (Tiny(probabilities=True), "above the target 0.17"),
    (Bypass(), "unconfirmable: not rebuilt outside the kernel: model(x) is not the chain"),
])
def test_the_grader_measures_the_mistakes_of_7_6_itself(small_test_set, model, fragment):
    assert fragment in (verdict("check_param_budget", model) or "")


class MyLayer(nn.Module):
    def forward(self, x):
        return x


class MySequential(nn.Sequential):
    def forward(self, x):
        return super().forward(x) * 2


def test_a_model_the_grader_cannot_rebuild_keeps_the_kernels_verdict_and_says_why(small_test_set):
    hooked = Tiny()
    hooked.decoder[0].register_forward_hook(lambda m, i, o: o * 0)
    own = Tiny()
    own.decoder.append(MyLayer())
    sub = Tiny()
    sub.encoder = MySequential(*sub.encoder)
    for model, why in ((hooked, "model.decoder[0] has a hook"), (own, "model.decoder[2] is a MyLayer"),
                       (sub, "model.encoder is a MySequential")):
        assert why in verdict("check_param_budget", model)


def _spec(kind, args, state=None):
    return {"kind": kind, "args": args, "state": state or {}}


@pytest.mark.parametrize("encoder, fragment", [
    ([_spec("Evil", {})], "not a layer the grader rebuilds"),
    ([_spec("Linear", {"in_features": 784, "out_features": 4, "bias": True, "device": "cuda"})], "not a layer"),
    ([_spec("Linear", {"in_features": 784, "out_features": 4, "bias": True},
            {"weight": torch.zeros(4, 5), "bias": torch.zeros(4)})], "weights do not fit"),
    ([_spec("Linear", {"in_features": 784, "out_features": 4, "bias": True})], "weights do not fit"),
    ([_spec("Linear", {"in_features": 784, "out_features": 10**7, "bias": False})], "too large"),
    ([_spec("Unflatten", {"dim": 1, "unflattened_size": [1, 28, 28]}),
      _spec("Upsample", {"size": None, "scale_factor": 1000.0, "mode": "nearest", "align_corners": None,
                         "recompute_scale_factor": None})], "too large"),
    ([_spec("Identity", {})] * 65, "at most 64 layers"),
    ([_spec("Flatten", {"start_dim": "__import__('os')", "end_dim": -1})], "cannot be built or chained"),
    ([_spec("Flatten", {"start_dim": {"a": 1}, "end_dim": -1})], "an argument the grader does not read"),
])
def test_a_forged_description_builds_nothing_but_bounded_standard_layers(encoder, fragment):
    reply = {"encoder": encoder, "decoder": [_spec("Identity", {})]}
    with pytest.raises(ValueError, match=fragment):
        gm.measure(reply, torch.rand(3, 784), batch=3)


def test_a_layer_used_twice_counts_once_as_in_the_check(pca4, loose):
    shared = nn.Linear(20, 20)
    model = Pair(nn.Sequential(nn.Linear(784, 20), nn.ReLU(), shared, nn.ReLU(), nn.Linear(20, 4)),
                 nn.Sequential(nn.Linear(4, 20), nn.ReLU(), shared, nn.ReLU(), nn.Linear(20, 784), nn.Sigmoid()))
    _, reply = reply_for("check_small_autoencoder", model)
    assert gm.measure(reply, torch.rand(3, 784), batch=3)[1] == sum(p.numel() for p in model.parameters())
    reply["decoder"][2]["state"]["bias"] = reply["decoder"][2]["state"]["bias"] + 1  # no longer the same layer
    with pytest.raises(ValueError, match="described as one shared layer"):
        gm.measure(reply, torch.rand(3, 784), batch=3)


# -- exercise 6.1: the kernel's train_pair records, the grader reruns ---------------------------------


def test_a_forged_record_of_the_training_is_caught_by_the_graders_rerun():
    cases, reply = reply_for("check_pretrain_layerwise", t06.pretrain_layerwise)
    assert gp.judge("check_pretrain_layerwise", cases, reply) is None
    after = reply[0]["calls"][1]["after"]["encoder"][0]
    after["weight"] = after["weight"] + 1e-2  # weights that train_pair did not produce
    assert "differ from the grader's rerun" in gp.judge("check_pretrain_layerwise", cases, reply)


def test_a_layer_pair_with_dropout_keeps_the_kernels_verdict(monkeypatch):
    with_dropout = functools.partial(t06.layer_pair, act=lambda: nn.Sequential(nn.SiLU(), nn.Dropout(0.1)))
    monkeypatch.setattr(t06, "layer_pair", with_dropout)  # the helper the test's pretrain_layerwise calls
    cases, reply = reply_for("check_pretrain_layerwise", t06.pretrain_layerwise)
    with pytest.raises(gm.Unconfirmable, match="dropout layer, which makes training random"):
        gp.judge("check_pretrain_layerwise", cases, reply)
