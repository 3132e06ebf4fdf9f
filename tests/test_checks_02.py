"""aecourse.checks for exercises 02: the reference answers pass, plausible mistakes are named."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aecourse import checks
from aecourse.checks import lesson02
from check_helpers import rejects

# ---------------------------------------------------------------- 2.1 the BCE loss (build)


def bce_loss(x_hat, x):  # the clamp before the log keeps the backward pass free of 0 / 0
    log_p = torch.log(x_hat.clamp(min=1e-44)).clamp(min=-100)
    log_q = torch.log((1 - x_hat).clamp(min=1e-44)).clamp(min=-100)
    return -(x * log_p + (1 - x) * log_q).sum(dim=1).mean()


def bce_clamped_after_the_log(x_hat, x):  # the right value, but NaN gradients at exact 0s and 1s
    log_p = torch.log(x_hat).clamp(min=-100)
    log_q = torch.log(1 - x_hat).clamp(min=-100)
    return -(x * log_p + (1 - x) * log_q).sum(dim=1).mean()


def bce_with_torch(x_hat, x):
    return F.binary_cross_entropy(x_hat, x, reduction="none").sum(dim=1).mean()


def bce_with_eps(x_hat, x):
    eps = 1e-7
    return -(x * torch.log(x_hat + eps) + (1 - x) * torch.log(1 - x_hat + eps)).sum(dim=1).mean()


def bce_default_mean(x_hat, x):
    return F.binary_cross_entropy(x_hat, x)


def bce_summed(x_hat, x):
    return F.binary_cross_entropy(x_hat, x, reduction="sum")


def bce_per_image(x_hat, x):
    return F.binary_cross_entropy(x_hat, x, reduction="none").sum(dim=1)


def bce_per_pixel(x_hat, x):
    return F.binary_cross_entropy(x_hat, x, reduction="none")


def bce_no_minus(x_hat, x):
    return (x * torch.log(x_hat).clamp(min=-100) + (1 - x) * torch.log(1 - x_hat).clamp(min=-100)).sum(1).mean()


def bce_unclamped(x_hat, x):
    return -(x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)).sum(dim=1).mean()


def bce_swapped(x_hat, x):
    return F.binary_cross_entropy(x, x_hat, reduction="sum") / len(x)


def bce_first_term_only(x_hat, x):
    return -(x * torch.log(x_hat).clamp(min=-100)).sum(dim=1).mean()


def bce_item(x_hat, x):
    return bce_with_torch(x_hat, x).item()


def bce_detached(x_hat, x):
    return bce_with_torch(x_hat.detach(), x)


def bce_mse(x_hat, x):
    return ((x_hat - x) ** 2).sum(dim=1).mean()


def test_bce_reference_passes(capsys):
    checks.check_bce_loss(bce_loss)
    checks.check_bce_loss(bce_with_torch, seed=1, batch=7, d=100)
    checks.check_bce_loss(bce_with_eps, seed=2)
    assert "✓ bce_loss: equals F.binary_cross_entropy" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (bce_default_mean, "averaged over pixels as well as over the batch"),
    (bce_summed, "summed over the batch as well"),
    (bce_per_image, "returned one loss per image, shape (B,)"),
    (bce_per_pixel, "returned the loss of every pixel, shape (B, D)"),
    (bce_no_minus, "the loss has the wrong sign"),
    (bce_unclamped, "NaN or inf where x_hat is exactly 0 or 1"),
    (bce_swapped, "swapped x_hat and x"),
    (bce_first_term_only, "left out the (1 − x)·log(1 − x̂) term"),
    (bce_item, "returned a Python number"),
    (bce_detached, "cut off from autograd"),
    (bce_mse, "computed the squared error"),
    (bce_clamped_after_the_log, "its gradient is NaN or inf"),
])
def test_bce_mistakes_are_named(answer, fragment):
    rejects(checks.check_bce_loss, answer, fragment)


def test_bce_gradient_at_saturated_pixels_is_finite_like_torchs():
    """A saturated sigmoid (logits ±200) gives exact 0s and 1s; where the target matches, torch's gradient is 0."""
    x = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
    x_hat = torch.sigmoid(torch.tensor([[-200.0, 200.0, -3.0, 2.0]])).requires_grad_()
    assert x_hat[0, 0] == 0 and x_hat[0, 1] == 1
    bce_loss(x_hat, x).backward()
    assert torch.isfinite(x_hat.grad).all()
    q = x_hat.detach().clone().requires_grad_()
    torch.nn.functional.binary_cross_entropy(q, x, reduction="sum").backward()
    assert torch.allclose(x_hat.grad[0, 2:], q.grad[0, 2:]) and (q.grad[0, :2] == 0).all()
    message = rejects(checks.check_bce_loss, bce_clamped_after_the_log, "Clamp x_hat before the log")
    assert "saturated sigmoid" in message


def test_bce_unclamped_logs_pass_unsaturated_inputs_then_fail_on_saturated_ones():
    message = rejects(checks.check_bce_loss, bce_unclamped, "clamp each log at -100")
    assert "saturated sigmoid" in message


def test_bce_in_place_changes_are_caught_on_the_inputs_only():
    def clamps_a_copy(x_hat, x):
        return bce_with_torch(x_hat, x.clone().clamp_(0, 1))

    def clamps_the_target(x_hat, x):
        x.clamp_(0.01, 0.99)
        return bce_with_torch(x_hat, x)

    checks.check_bce_loss(clamps_a_copy)
    rejects(checks.check_bce_loss, clamps_the_target, "changed its input `x` in place")


def bce_float64(x_hat, x):
    return bce_with_torch(x_hat.double(), x.double())


def bce_float64_inside(x_hat, x):  # float64 maths, returned in the input's dtype: correct
    return bce_with_torch(x_hat.double(), x.double()).to(x_hat.dtype)


def bce_xlogy(x_hat, x):  # torch.xlogy gives 0 · log 0 = 0: correct once clamped
    log_p = torch.log(x_hat.clamp(min=1e-44)).clamp(min=-100)
    log_q = torch.log((1 - x_hat).clamp(min=1e-44)).clamp(min=-100)
    return -(x * log_p + (1 - x) * log_q).sum(1).mean(0)


def bce_cpu_epsilon(x_hat, x):
    eps = torch.full(x.shape, 1e-44)  # made on the CPU whatever x's device
    log_p = torch.log(torch.maximum(x_hat, eps)).clamp(min=-100)
    log_q = torch.log(torch.maximum(1 - x_hat, eps)).clamp(min=-100)
    return -(x * log_p + (1 - x) * log_q).sum(dim=1).mean()


def test_bce_more_correct_answers_pass():
    checks.check_bce_loss(bce_float64_inside)
    checks.check_bce_loss(bce_xlogy, seed=3, batch=5, d=30)


@pytest.mark.parametrize("answer, fragment", [
    (bce_float64, "returned float64, expected float32"),
    (bce_cpu_epsilon, "made a tensor on the CPU"),
])
def test_bce_dtype_and_device_mistakes_are_named(answer, fragment):
    rejects(checks.check_bce_loss, answer, fragment)


# ---------------------------------------------------------------- 2.2 a saturated logit (predict)


@pytest.mark.parametrize("letter, fragment", [
    ("A", "the two-step form does not"),
    ("C", "Nothing divides 0 by 0 here"),
    ("D", "BCE does send a huge number back"),
])
def test_saturation_wrong_letters_are_explained(letter, fragment):
    rejects(checks.check_saturation_prediction, letter, fragment)


@pytest.mark.parametrize("answer", ["B", "b", " B\n"])
def test_saturation_right_letter_passes(answer, capsys):
    checks.check_saturation_prediction(answer)
    assert "exactly 0" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [(None, "not written yet"), ("E", "expected one letter"),
                                              (0, "expected one letter"), ("AB", "expected one letter")])
def test_saturation_non_letters_are_rejected(answer, fragment):
    rejects(checks.check_saturation_prediction, answer, fragment)


def test_the_saturation_outcome_is_what_torch_computes():
    logit = torch.tensor(-200.0, requires_grad=True)
    loss = F.binary_cross_entropy(torch.sigmoid(logit), torch.tensor(1.0))
    loss.backward()
    assert loss.item() == 100 and logit.grad.item() == 0
    logit = torch.tensor(-200.0, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(logit, torch.tensor(1.0))
    loss.backward()
    assert loss.item() == 200 and logit.grad.item() == -1


# ---------------------------------------------------------------- 2.3 BCE from logits (derive)


def logits_softplus(logits, x):
    return (x * F.softplus(-logits) + (1 - x) * F.softplus(logits)).sum(dim=1).mean()


def logits_max_form(logits, x):
    return (logits.clamp(min=0) - logits * x + torch.log1p(torch.exp(-logits.abs()))).sum(1).mean()


def logits_logaddexp(logits, x):
    zero = torch.zeros_like(logits)
    return (x * torch.logaddexp(zero, -logits) + (1 - x) * torch.logaddexp(zero, logits)).sum(dim=1).mean()


def logits_float64_inside(logits, x):
    return logits_softplus(logits.double(), x.double()).to(logits.dtype)


def logits_logsigmoid(logits, x):  # log σ(l) = logsigmoid(l), log(1 − σ(l)) = logsigmoid(−l)
    return -(x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(dim=1).mean()


def logits_via_sigmoid(logits, x):
    return F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").sum(dim=1).mean()


def logits_naive_log(logits, x):
    p = torch.sigmoid(logits)
    return -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(dim=1).mean()


def logits_exp_overflow(logits, x):
    return (x * torch.log1p(torch.exp(-logits)) + (1 - x) * torch.log1p(torch.exp(logits))).sum(dim=1).mean()


def logits_swapped(logits, x):
    return (x * F.softplus(logits) + (1 - x) * F.softplus(-logits)).sum(dim=1).mean()


def logits_no_max(logits, x):
    return (-logits * x + torch.log1p(torch.exp(-logits.abs()))).sum(1).mean()


def logits_mean(logits, x):
    return (x * F.softplus(-logits) + (1 - x) * F.softplus(logits)).mean()


def logits_per_image(logits, x):
    return (x * F.softplus(-logits) + (1 - x) * F.softplus(logits)).sum(dim=1)


def logits_first_term_only(logits, x):
    return (x * F.softplus(-logits)).sum(dim=1).mean()


def logits_float64(logits, x):
    return logits_softplus(logits.double(), x.double())


def logits_cpu_zeros(logits, x):
    zero = torch.zeros(logits.shape)  # on the CPU whatever the logits' device
    return (x * torch.logaddexp(zero, -logits) + (1 - x) * torch.logaddexp(zero, logits)).sum(dim=1).mean()


def logits_torch(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)


from torch.nn.functional import binary_cross_entropy_with_logits as stable_bce  # noqa: E402


def logits_torch_renamed(logits, x):
    return stable_bce(logits, x, reduction="none").sum(dim=1).mean()


def logits_module(logits, x):
    return nn.BCEWithLogitsLoss(reduction="sum")(logits, x) / len(x)


def logits_detached(logits, x):
    return logits_softplus(logits.detach(), x)


def test_bce_from_logits_correct_answers_pass(capsys):
    checks.check_bce_from_logits(logits_softplus)
    checks.check_bce_from_logits(logits_max_form, seed=1, batch=9, d=100)
    checks.check_bce_from_logits(logits_logaddexp)
    checks.check_bce_from_logits(logits_float64_inside, seed=2)
    checks.check_bce_from_logits(logits_logsigmoid)
    assert "✓ logits_softplus: equals the BCE" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (logits_via_sigmoid, "took the log of torch.sigmoid(logits)"),
    (logits_naive_log, "torch.sigmoid(-200.) is exactly 0"),
    (logits_exp_overflow, "torch.exp(200.) is inf"),
    (logits_swapped, "swapped the two softplus terms"),
    (logits_no_max, "left out max(l, 0)"),
    (logits_mean, "averaged over pixels as well"),
    (logits_per_image, "returned one loss per image"),
    (logits_first_term_only, "left out the (1 − x)·softplus(l) term"),
    (logits_float64, "returned float64, expected float32"),
    (logits_cpu_zeros, "made a tensor on the CPU"),
    (logits_torch, "uses torch's own binary_cross_entropy_with_logits"),
    (logits_torch_renamed, "uses torch's own binary_cross_entropy_with_logits"),
    (logits_module, "uses torch's own binary_cross_entropy_with_logits"),
    (logits_detached, "cut off from autograd"),
])
def test_bce_from_logits_mistakes_are_named(answer, fragment):
    rejects(checks.check_bce_from_logits, answer, fragment)


def test_bce_from_logits_restores_torchs_functions():
    original = F.binary_cross_entropy_with_logits
    rejects(checks.check_bce_from_logits, logits_torch, "uses torch's own")
    assert F.binary_cross_entropy_with_logits is original
    assert torch.isclose(F.binary_cross_entropy_with_logits(torch.tensor(-200.0), torch.tensor(1.0)), torch.tensor(200.0))


# ---------------------------------------------------------------- 2.4 a small autoencoder (experiment)


class Pair(nn.Module):
    def __init__(self, encoder, decoder, leak=0.0):
        super().__init__()
        self.encoder, self.decoder, self.leak = encoder, decoder, leak

    def forward(self, x):
        out = self.decoder(self.encoder(x))
        return out + self.leak * x.flatten(1) if self.leak else out


@pytest.fixture(scope="module")
def pca4():
    from aecourse.data import load_mnist, train_val_split

    x, y = load_mnist("train", flatten=True)
    (x_tr, _), _ = train_val_split(x, y, val_size=5_000)
    x_tr = x_tr[:10_000].double()
    mu = x_tr.mean(dim=0)
    V = torch.linalg.eigh((x_tr - mu).T @ (x_tr - mu))[1].flip(1)[:, :8]
    return mu, V


def pca_model(mu, V, k=4, clamp=True, dtype=torch.float32):
    """PCA with k components as an autoencoder (its test error is about 37.6 at k = 4), clamped to [0, 1]."""
    enc, dec = nn.Linear(784, k), nn.Linear(k, 784)
    with torch.no_grad():
        enc.weight.copy_(V[:, :k].T)
        enc.bias.copy_(-(V[:, :k].T @ mu))
        dec.weight.copy_(V[:, :k])
        dec.bias.copy_(mu)
    decoder = nn.Sequential(dec, nn.Hardtanh(0.0, 1.0)) if clamp else dec
    return Pair(enc, decoder).to(dtype)


@pytest.fixture
def loose(monkeypatch):
    """Raise the target to 40, so that PCA-4 clamped to [0, 1] (about 37.5) meets it."""
    monkeypatch.setattr(lesson02, "small_ae_budget", lambda: {"code": 4, "params": 40_000, "target": 40.0})


@pytest.fixture
def strict(monkeypatch):
    monkeypatch.setattr(lesson02, "small_ae_budget", lambda: {"code": 4, "params": 40_000, "target": 36.0})


def test_small_autoencoder_correct_models_pass(pca4, loose, capsys):
    mu, V = pca4
    checks.check_small_autoencoder(pca_model(mu, V))
    checks.check_small_autoencoder(pca_model(mu, V, dtype=torch.float64))  # a float64 model
    m = pca_model(mu, V)
    flat = Pair(nn.Sequential(nn.Flatten(), m.encoder, nn.Identity()),  # the lesson's Flatten first, an Identity
                nn.Sequential(m.decoder, nn.Unflatten(1, (1, 28, 28))))  # images out, (N, 1, 28, 28)
    checks.check_small_autoencoder(flat)
    act = nn.ReLU()  # one module instance reused, and a Dropout that the check must switch off
    small = Pair(nn.Sequential(nn.Linear(784, 20), act, nn.Dropout(0.5), nn.Linear(20, 3)),
                 nn.Sequential(nn.Linear(3, 20), act, nn.Linear(20, 784), nn.Sigmoid()))
    small.train()
    with pytest.raises(AssertionError, match="above the target 40"):
        checks.check_small_autoencoder(small)  # untrained: measured, not crashed
    assert small.training and small.encoder[2].training  # modes restored, every module's
    assert "37." in capsys.readouterr().out


def test_small_autoencoder_reports_how_far_off(pca4, strict):
    mu, V = pca4
    message = rejects(checks.check_small_autoencoder, pca_model(mu, V), "above the target 36",
                      "squared error per test image")
    assert "37." in message


def lesson_sized(k=4):
    return Pair(nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, k)),
                nn.Sequential(nn.Linear(k, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid()))


@pytest.mark.parametrize("make, fragment", [
    (lambda mu, V: None, "not written yet"),
    (lambda mu, V: pca_model(mu, V).state_dict(), "expected your trained model, an nn.Module"),
    (lambda mu, V: nn.Sequential(nn.Linear(784, 4), nn.Linear(4, 784), nn.Sigmoid()), "has no encoder and no decoder"),
    (lambda mu, V: lesson_sized(), "over the budget of 40,000"),
    (lambda mu, V: pca_model(mu, V, k=8), "the code has 8 numbers"),
    (lambda mu, V: pca_model(mu, V, clamp=False), "outside the pixels' [0, 1]"),
    (lambda mu, V: Pair(*list(pca_model(mu, V).children())[:2], leak=0.01), "differs from model.decoder(model.encoder(x))"),
    (lambda mu, V: Pair(nn.Linear(784, 4), nn.Sequential(nn.Linear(4, 392), nn.Sigmoid())), "expected (8, 784)"),
    (lambda mu, V: Pair(nn.Linear(784, 4), nn.Sequential(nn.Linear(4, 784), nn.Sigmoid())), "above the target 40"),
])
def test_small_autoencoder_mistakes_are_named(pca4, loose, make, fragment):
    rejects(checks.check_small_autoencoder, make(*pca4), fragment)


def test_small_autoencoder_targets_per_mode(monkeypatch):
    monkeypatch.setenv("AECOURSE_MODE", "smoke")
    assert lesson02.small_ae_budget()["target"] == 70.0
    monkeypatch.setenv("AECOURSE_MODE", "standard")
    assert lesson02.small_ae_budget() == {"code": 4, "params": 40_000, "target": 36.0}
