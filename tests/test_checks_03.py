"""aecourse.checks for exercises 03: the reference answers pass, plausible mistakes are named."""

import pytest
import torch
from torch.distributions import Bernoulli, kl_divergence

from aecourse import checks
from aecourse.checks import lesson03
from check_helpers import rejects

# ---------------------------------------------------------------- 3.1 the KL sparsity penalty


def _require_probabilities(h):
    if h.min() < 0 or h.max() > 1:
        raise ValueError(f"expected sigmoid activations in [0, 1], got values in [{h.min():.3g}, {h.max():.3g}]")


def kl_sparsity(h, rho=0.05, beta=3.0):
    _require_probabilities(h)
    rho_hat = h.mean(dim=0).clamp(1e-6, 1 - 1e-6)
    return beta * (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def kl_with_torch_distributions(h, rho=0.05, beta=3.0):
    _require_probabilities(h)
    rho_hat = h.mean(dim=0).clamp(1e-6, 1 - 1e-6)
    return beta * kl_divergence(Bernoulli(probs=torch.full_like(rho_hat, rho)), Bernoulli(probs=rho_hat)).sum()


def kl_clamp_activations(h, rho=0.05, beta=3.0):
    _require_probabilities(h)
    rho_hat = h.clamp(1e-5, 1 - 1e-5).mean(dim=0)
    return beta * (rho * (rho / rho_hat).log() + (1 - rho) * ((1 - rho) / (1 - rho_hat)).log()).sum()


def _unchecked(h, rho, beta, eps=1e-6):
    rho_hat = h.mean(dim=0).clamp(eps, 1 - eps)
    return beta * (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def kl_swapped(h, rho=0.05, beta=3.0):
    _require_probabilities(h)
    q = h.mean(dim=0).clamp(1e-6, 1 - 1e-6)
    return beta * (q * torch.log(q / rho) + (1 - q) * torch.log((1 - q) / (1 - rho))).sum()


def kl_no_beta(h, rho=0.05, beta=3.0):
    return _unchecked(h, rho, 1.0)


def kl_beta_hardcoded(h, rho=0.05, beta=3.0):
    return _unchecked(h, rho, 3.0)


def kl_over_units(h, rho=0.05, beta=3.0):
    return _unchecked(h.T, rho, beta)  # h.mean(dim=1): one rho_hat per image


def kl_mean_over_units(h, rho=0.05, beta=3.0):
    return _unchecked(h, rho, beta) / h.shape[1]


def kl_per_activation(h, rho=0.05, beta=3.0):
    q = h.clamp(1e-6, 1 - 1e-6)
    return beta * (rho * torch.log(rho / q) + (1 - rho) * torch.log((1 - rho) / (1 - q))).sum(dim=1).mean()


def kl_wrong_sign(h, rho=0.05, beta=3.0):
    return -_unchecked(h, rho, beta)


def kl_first_term_only(h, rho=0.05, beta=3.0):
    rho_hat = h.mean(dim=0).clamp(1e-6, 1 - 1e-6)
    return beta * (rho * torch.log(rho / rho_hat)).sum()


def kl_no_clamp(h, rho=0.05, beta=3.0):
    _require_probabilities(h)
    rho_hat = h.mean(dim=0)
    return beta * (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def kl_tiny_eps(h, rho=0.05, beta=3.0):  # 1 - 1e-8 == 1 in float32
    _require_probabilities(h)
    return _unchecked(h, rho, beta, eps=1e-8)


def kl_accepts_relu(h, rho=0.05, beta=3.0):
    return _unchecked(h, rho, beta)


def kl_nan_on_relu(h, rho=0.05, beta=3.0):
    rho_hat = h.mean(dim=0)
    q = torch.where(rho_hat <= 1, rho_hat.clamp(1e-6, 1 - 1e-6), rho_hat)  # means above 1 give NaN
    return beta * (rho * torch.log(rho / q) + (1 - rho) * torch.log((1 - rho) / (1 - q))).sum()


def kl_asserts(h, rho=0.05, beta=3.0):
    assert h.max() <= 1, "not probabilities"
    return _unchecked(h, rho, beta)


def kl_three_mistakes(h, rho=0.05, beta=3.0):  # swapped, over units, no beta
    q = h.mean(dim=1)
    return (q * torch.log(q / rho) + (1 - q) * torch.log((1 - q) / (1 - rho))).sum()


def kl_summed_over_batch(h, rho=0.05, beta=3.0):
    rho_hat = h.sum(dim=0)
    return beta * (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def kl_item(h, rho=0.05, beta=3.0):
    return kl_sparsity(h, rho, beta).item()


def kl_detached(h, rho=0.05, beta=3.0):
    return kl_sparsity(h.detach(), rho, beta)


def kl_per_unit(h, rho=0.05, beta=3.0):
    rho_hat = h.mean(dim=0).clamp(1e-6, 1 - 1e-6)
    return beta * (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat)))


def kl_in_place(h, rho=0.05, beta=3.0):
    _require_probabilities(h)
    h.clamp_(1e-6, 1 - 1e-6)  # h is a non-leaf tensor here, so autograd lets this through
    return _unchecked(h, rho, beta)


def test_kl_reference_agrees_with_torch_distributions():
    _, h = lesson03._activations(3, 40, 25)
    for rho, beta in [(0.05, 3.0), (0.2, 0.7)]:
        expected = beta * kl_divergence(Bernoulli(probs=torch.full((25,), rho)), Bernoulli(probs=h.mean(dim=0))).sum()
        torch.testing.assert_close(lesson03.kl_sparsity_reference(h, rho, beta), expected)


def test_kl_reference_passes(capsys):
    checks.check_kl_sparsity(kl_sparsity)
    checks.check_kl_sparsity(kl_sparsity, seed=1, batch=50, units=30, rho=0.1, beta=0.5)
    checks.check_kl_sparsity(kl_with_torch_distributions)
    checks.check_kl_sparsity(kl_clamp_activations, seed=2, batch=7, units=64)
    out = capsys.readouterr().out
    assert "✓ kl_sparsity: equals beta · Σ_j KL(rho || rho_hat_j)" in out and "✓ kl_clamp_activations" in out


@pytest.mark.parametrize("answer, fragment, kwargs", [
    (kl_swapped, "computed KL(rho_hat || rho), the arguments swapped", {}),
    (kl_no_beta, "left out beta", {}),
    (kl_beta_hardcoded, "used beta = 3 whatever the argument says (here beta = 0.5)", {"beta": 0.5}),
    (kl_over_units, "averaged over the units instead of over the batch", {}),
    (kl_mean_over_units, "averaged the divergences over the units; sum them", {}),
    (kl_per_activation, "compared rho with every single activation h_ij", {}),
    (kl_wrong_sign, "the penalty has the wrong sign", {}),
    (kl_first_term_only, "left out the (1 − rho)·log((1 − rho) / (1 − rho_hat_j)) term", {}),
    (kl_no_clamp, "unit 0 never fires and unit 1 always does", {}),
    (kl_no_clamp, "Clamp rho_hat into [eps, 1 − eps] with eps = 1e-6", {}),
    (kl_tiny_eps, "rounds 1 − eps to 1 in float32", {}),
    (kl_accepts_relu, "instead of raising a ValueError", {}),
    (kl_accepts_relu, "ReLU activations give rho_hat_j > 1", {}),
    (kl_nan_on_relu, "returned nan for ReLU activations", {}),
    (kl_asserts, "raised AssertionError (not probabilities) for ReLU activations", {}),
    (kl_three_mistakes, "3 things differ from the penalty: the arguments are swapped", {}),
    (kl_three_mistakes, "rho_hat must average each unit over the batch, h.mean(dim=0), not over the units; "
                        "beta is missing", {}),
    (kl_summed_over_batch, "rho_hat_j = h.mean(dim=0) is a mean, not a sum", {}),
    (kl_item, "returned a Python number", {}),
    (kl_detached, "cut off from autograd", {}),
    (kl_per_unit, "returned one KL per unit, shape (10,)", {}),
    (kl_in_place, "changed its input `h` in place", {}),
])
def test_kl_mistakes_are_named(answer, fragment, kwargs):
    rejects(checks.check_kl_sparsity, answer, fragment, **kwargs)


def test_kl_stub_and_crash_are_reported():
    def stub(h, rho=0.05, beta=3.0):
        raise NotImplementedError()

    def crash(h, rho=0.05, beta=3.0):
        return h.mean(dim=2)

    rejects(checks.check_kl_sparsity, stub, "not written yet")
    rejects(checks.check_kl_sparsity, crash, "raised IndexError", "called with h=tensor (16, 10)")


# ---------------------------------------------------------------- 3.2 the L1 activity penalty


def l1_activity(encoder, x, lam):
    h = encoder(x)
    return lam * h.abs().sum(dim=1).mean()


def l1_loop(encoder, x, lam):
    total = sum(encoder(x_i[None]).abs().sum() for x_i in x)
    return lam * total / len(x)


def l1_weights(encoder, x, lam):
    return lam * sum(p.abs().sum() for p in encoder.parameters())


def l1_weight_matrix(encoder, x, lam):
    return lam * encoder[0].weight.abs().sum()


def l1_mean_over_units(encoder, x, lam):
    return lam * encoder(x).abs().mean()


def l1_summed(encoder, x, lam):
    return lam * encoder(x).abs().sum()


def l1_no_abs(encoder, x, lam):
    return lam * encoder(x).sum(dim=1).mean()


def l1_no_lam(encoder, x, lam):
    return encoder(x).abs().sum(dim=1).mean()


def l1_squared(encoder, x, lam):
    return lam * (encoder(x) ** 2).sum(dim=1).mean()


def l1_on_input(encoder, x, lam):
    return lam * x.abs().sum(dim=1).mean()


def l1_per_image(encoder, x, lam):
    return lam * encoder(x).abs().sum(dim=1)


def l1_item(encoder, x, lam):
    return l1_activity(encoder, x, lam).item()


def l1_no_grad(encoder, x, lam):
    with torch.no_grad():
        return l1_activity(encoder, x, lam)


def l1_in_place(encoder, x, lam):
    x.mul_(2.0)
    return l1_activity(encoder, x / 2, lam)


def test_l1_reference_agrees_with_torch():
    encoder = lesson03._l1_encoder(0, 5, 4)
    x = torch.randn(6, 5)
    expected = 0.3 * torch.linalg.vector_norm(encoder(x), ord=1, dim=1).mean()
    torch.testing.assert_close(lesson03.l1_activity_reference(encoder, x, 0.3), expected)


def test_l1_reference_passes(capsys):
    checks.check_l1_activity(l1_activity)
    checks.check_l1_activity(l1_activity, seed=1, batch=30, d=50, units=40, lam=0.01)
    checks.check_l1_activity(l1_loop, seed=2)
    assert "✓ l1_activity: equals lam · Σ_j |h_j| averaged over the batch" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (l1_weights, "penalised the encoder's weights; the penalty belongs on the activations"),
    (l1_weight_matrix, "penalised the encoder's weights"),
    (l1_mean_over_units, "averaged over the units; sum |h_j| over the units"),
    (l1_summed, "summed over the batch as well"),
    (l1_no_abs, "left out the absolute value"),
    (l1_no_lam, "left out lam"),
    (l1_squared, "squared the activations, an L2 penalty"),
    (l1_on_input, "penalised the input x"),
    (l1_per_image, "returned one penalty per image, shape (B,)"),
    (l1_item, "returned a Python number"),
    (l1_no_grad, "cut off from autograd"),
    (l1_in_place, "changed its input `x` in place"),
])
def test_l1_mistakes_are_named(answer, fragment):
    rejects(checks.check_l1_activity, answer, fragment)


def test_l1_wrong_types_are_reported():
    rejects(checks.check_l1_activity, lambda encoder, x, lam: [l1_activity(encoder, x, lam)],
            "returned a list of 1 items")
    rejects(checks.check_l1_activity, lambda encoder, x, lam: "0.5", "returned str, expected a torch.Tensor")
