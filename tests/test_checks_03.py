"""aecourse.checks for exercises 03: the reference answers pass, plausible mistakes are named."""

import numpy as np
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


def kl_max_only(h, rho=0.05, beta=3.0):  # the input check forgets the lower end
    if h.max() > 1:
        raise ValueError("expected sigmoid activations")
    return _unchecked(h, rho, beta)


def kl_float64(h, rho=0.05, beta=3.0):
    _require_probabilities(h)
    return _unchecked(h.double(), rho, beta)


def kl_float64_inside(h, rho=0.05, beta=3.0):  # float64 maths, float32 result: right
    _require_probabilities(h)
    return _unchecked(h.double(), rho, beta).to(h.dtype)


def kl_full_like(h, rho=0.05, beta=3.0):  # rho as a tensor on h's device, checked with torch.any
    if torch.any((h < 0) | (h > 1)):
        raise ValueError("activations must lie in [0, 1]")
    rho_hat = h.mean(dim=0).clamp(1e-6, 1 - 1e-6)
    target = torch.full_like(rho_hat, rho)
    return beta * (target * (target / rho_hat).log() + (1 - target) * ((1 - target) / (1 - rho_hat)).log()).sum()


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
    checks.check_kl_sparsity(kl_float64_inside)
    checks.check_kl_sparsity(kl_full_like, seed=3)
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
    (kl_max_only, "lets negative activations through", {}),
    (kl_float64, "returned float64, expected float32", {}),
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




# ---------------------------------------------------------------- 3.2 derive: the gradient of the KL penalty


def grad_formula(h, rho=0.05, beta=3.0):
    rho_hat = h.mean(dim=0)
    return (beta / h.shape[0]) * (-rho / rho_hat + (1 - rho) / (1 - rho_hat)).expand_as(h)


def grad_loop(h, rho=0.05, beta=3.0):  # one unit at a time, then stacked: the same numbers
    batch, units = h.shape
    columns = []
    for j in range(units):
        q = h[:, j].sum() / batch
        columns.append(torch.ones_like(h[:, j]) * beta * ((1 - rho) / (1 - q) - rho / q) / batch)
    return torch.stack(columns, dim=1)


def grad_float64_inside(h, rho=0.05, beta=3.0):  # float64 maths, float32 result; the bracket put over one fraction
    q = h.double().mean(dim=0, keepdim=True)
    g = beta * (q - rho) / (q * (1 - q)) / h.shape[0]
    return (g * torch.ones_like(h, dtype=torch.float64)).to(h.dtype)


def grad_with_input_check(h, rho=0.05, beta=3.0):  # reads values (h.min()), as 3.1 does: fine on any device
    if h.min() < 0 or h.max() > 1:
        raise ValueError("expected sigmoid activations in [0, 1]")
    return grad_formula(h, rho, beta)


def grad_no_mean_factor(h, rho=0.05, beta=3.0):
    return grad_formula(h, rho, beta) * h.shape[0]


def grad_over_units_count(h, rho=0.05, beta=3.0):
    return grad_formula(h, rho, beta) * h.shape[0] / h.shape[1]


def grad_sign(h, rho=0.05, beta=3.0):
    return -grad_formula(h, rho, beta)


def grad_no_beta(h, rho=0.05, beta=3.0):
    return grad_formula(h, rho, 1.0)


def grad_swapped(h, rho=0.05, beta=3.0):
    q = h.mean(dim=0)
    return (beta / h.shape[0]) * torch.log(q * (1 - rho) / (rho * (1 - q))).expand_as(h)


def grad_first_term(h, rho=0.05, beta=3.0):
    return (beta / h.shape[0]) * (-rho / h.mean(dim=0)).expand_as(h)


def grad_second_sign(h, rho=0.05, beta=3.0):
    q = h.mean(dim=0)
    return (beta / h.shape[0]) * (-rho / q - (1 - rho) / (1 - q)).expand_as(h)


def grad_per_activation(h, rho=0.05, beta=3.0):
    return (beta / h.shape[0]) * (-rho / h + (1 - rho) / (1 - h))


def grad_wrt_rho_hat(h, rho=0.05, beta=3.0):
    q = h.mean(dim=0)
    return beta * (-rho / q + (1 - rho) / (1 - q))


def grad_rho_hardcoded(h, rho=0.05, beta=3.0):
    return grad_formula(h, 0.05, beta)


def grad_value_not_gradient(h, rho=0.05, beta=3.0):
    q = h.mean(dim=0)
    return (beta / h.shape[0]) * (rho * torch.log(rho / q) + (1 - rho) * torch.log((1 - rho) / (1 - q))).expand_as(h)


def grad_autograd(h, rho=0.05, beta=3.0):
    leaf = h.detach().requires_grad_()
    with torch.enable_grad():
        q = leaf.mean(dim=0)
        penalty = beta * (rho * torch.log(rho / q) + (1 - rho) * torch.log((1 - rho) / (1 - q))).sum()
        penalty.backward()
    return leaf.grad


def grad_autograd_renamed(h, rho=0.05, beta=3.0):
    from torch.autograd import grad as differentiate  # the banned function under another name
    leaf = h.detach().requires_grad_()
    with torch.enable_grad():
        penalty = beta * (rho * torch.log(rho / leaf.mean(dim=0))
                          + (1 - rho) * torch.log((1 - rho) / (1 - leaf.mean(dim=0)))).sum()
        return differentiate(penalty, leaf)[0]


def grad_torch_func(h, rho=0.05, beta=3.0):
    def penalty(t):
        q = t.mean(dim=0)
        return beta * (rho * torch.log(rho / q) + (1 - rho) * torch.log((1 - rho) / (1 - q))).sum()
    return torch.func.grad(penalty)(h)


def grad_float64(h, rho=0.05, beta=3.0):
    return grad_formula(h.double(), rho, beta)


def grad_cpu_ones(h, rho=0.05, beta=3.0):  # torch.ones made on the CPU whatever h's device
    q = h.mean(dim=0)
    return torch.ones(h.shape) * (beta / h.shape[0]) * (-rho / q + (1 - rho) / (1 - q))


def grad_two_mistakes(h, rho=0.05, beta=3.0):  # no 1/B and the wrong sign
    return -grad_formula(h, rho, beta) * h.shape[0]


def grad_in_place(h, rho=0.05, beta=3.0):
    h.sub_(rho)  # shifts the caller's activations
    return grad_formula(h + rho, rho, beta)


def grad_transposed(h, rho=0.05, beta=3.0):
    return grad_formula(h, rho, beta).T


def test_grad_reference_agrees_with_a_finite_difference():
    _, h = lesson03._activations(5, 6, 4)
    h = h.detach().double()
    ref = lesson03.kl_grad_reference(h, 0.1, 2.5)
    eps, i, j = 1e-6, 2, 3
    bumped = h.clone()
    bumped[i, j] += eps
    numeric = (lesson03.kl_sparsity_reference(bumped, 0.1, 2.5) - lesson03.kl_sparsity_reference(h, 0.1, 2.5)) / eps
    assert abs(numeric.item() - ref[i, j].item()) < 1e-4


def test_grad_correct_answers_pass(capsys):
    checks.check_kl_sparsity_grad(grad_formula)
    checks.check_kl_sparsity_grad(grad_loop, seed=1, batch=50, units=30, rho=0.05, beta=0.5)
    checks.check_kl_sparsity_grad(grad_float64_inside, seed=2, batch=9, units=64, rho=0.02, beta=10.0)
    checks.check_kl_sparsity_grad(grad_with_input_check)
    assert "✓ grad_formula: equals autograd's gradient" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (grad_no_mean_factor, "left out the 1/B"),
    (grad_over_units_count, "divided by K = 7, the number of units"),
    (grad_sign, "has the wrong sign"),
    (grad_no_beta, "left out beta"),
    (grad_swapped, "gradient of the swapped divergence KL(rho_hat || rho)"),
    (grad_first_term, "kept only the −rho / rho_hat_j term"),
    (grad_second_sign, "got the sign of the second term wrong"),
    (grad_per_activation, "differentiated at each activation h_ij"),
    (grad_wrt_rho_hat, "that is the gradient with respect to rho_hat_j"),
    (grad_rho_hardcoded, "used rho = 0.05 whatever the argument says"),
    (grad_value_not_gradient, "returned the divergences themselves"),
    (grad_autograd, "used autograd"),
    (grad_autograd_renamed, "used autograd"),
    (grad_torch_func, "used autograd"),
    (grad_float64, "returned float64, expected float32"),
    (grad_cpu_ones, "made a tensor on the CPU whatever the input's device"),
    (grad_two_mistakes, "2 things differ from the gradient: the sign is flipped"),
    (grad_in_place, "changed its input `h` in place"),
    (grad_transposed, "returned the transpose"),
])
def test_grad_mistakes_are_named(answer, fragment):
    rejects(checks.check_kl_sparsity_grad, answer, fragment)


def test_grad_stub_is_not_written_yet():
    def kl_sparsity_grad(h, rho, beta):
        raise NotImplementedError()
    rejects(checks.check_kl_sparsity_grad, kl_sparsity_grad, "not written yet")


# ---------------------------------------------------------------- 3.3 predict: the arguments swapped


def test_prediction_3_3_is_what_the_run_shows():
    normal, swapped = lesson03.rates_under_penalty(False), lesson03.rates_under_penalty(True)
    near = lambda q: ((q - 0.05).abs() <= 0.01).float().mean().item()  # noqa: E731
    assert near(normal["end"]) > 0.99 and (normal["end"] < 0.01).sum() == 0  # B: all gather at rho
    dead_at_start = swapped["start"] < 1e-3
    assert dead_at_start.sum() > 100 and (swapped["end"][dead_at_start] < 0.01).float().mean() > 0.8  # B: dead stay dead
    assert near(swapped["end"][~dead_at_start]) > 0.9  # C is wrong: the others gather at rho
    assert (swapped["end"] > 0.5).sum() == 0 and (normal["end"] > 0.5).sum() == 0  # D: saturated units come down


def test_prediction_3_3_explains_every_letter(capsys):
    checks.check_prediction_3_3(" b ")
    assert "B is right" in capsys.readouterr().out
    for letter in "ACD":
        message = rejects(checks.check_prediction_3_3, letter, f"{letter} is not what happens")
        assert lesson03.WHY_3_3[letter] in message
    rejects(checks.check_prediction_3_3, None, "not written yet")
    rejects(checks.check_prediction_3_3, "E", "expected one letter")
    rejects(checks.check_prediction_3_3, 2, "expected one letter")
    rejects(checks.check_prediction_3_3, "B or C", "expected one letter")


# ---------------------------------------------------------------- 3.4 experiment: beta for a target rate


@pytest.fixture
def fake_training(monkeypatch):
    """Replace the training run by a stand-in whose mean activation falls with beta (the real one takes a minute)."""
    monkeypatch.setenv("AECOURSE_MODE", "standard")  # the standard target (CI runs in smoke mode)
    calls = []

    def fake(beta, rho, seed, mode):
        calls.append(beta)
        mean = rho * (1 + 1.5 / (1 + beta / 2)) if beta >= 0 else 0.5
        if beta == 123.0:  # a stand-in for an overshoot, below the target
            mean = 0.7 * rho
        return {"mean activation": mean, "error": 20 + 0.03 * beta, "rates": torch.full((128,), mean)}

    monkeypatch.setattr(lesson03, "_train_sparse_cached", fake)
    return calls


@pytest.mark.parametrize("beta", [30.0, 30, torch.tensor(30.0), np.float64(30.0), 1000])
def test_beta_3_4_accepts_a_beta_that_reaches_the_target(fake_training, beta, capsys):
    checks.check_beta_3_4(beta)
    out = capsys.readouterr().out
    assert "✓ beta_3_4:" in out and "within the target" in out and "standard mode" in out


@pytest.mark.parametrize("beta, fragments", [
    (0.0, ("beta = 0 gives a mean activation of 0.2500", "150% above rho", "a larger beta pulls")),
    (1.0, ("beta = 1 gives a mean activation of 0.2000", "100% above rho")),
    (3.0, ("beta = 3 gives", "above rho", "target (standard mode) is rho = 0.1 ± 10%, 0.090 to 0.110")),
    (10.0, ("beta = 10 gives a mean activation of 0.1250", "25% above rho")),
    (20.0, ("beta = 20 gives a mean activation of 0.1136", "14% above rho")),
    (123.0, ("beta = 123 gives a mean activation of 0.0700", "30% below rho", "a smaller beta pulls less hard")),
])
def test_beta_3_4_rejects_weak_settings_with_the_distance(fake_training, beta, fragments):
    rejects(checks.check_beta_3_4, beta, *fragments)


@pytest.mark.parametrize("beta, fragment", [
    (None, "not written yet"),
    (-5.0, "beta = -5 is negative"),
    (float("nan"), "expected one number for beta, got nan"),
    ("1000", "expected one number for beta, got '1000'"),
    (True, "expected one number for beta, got True"),
    ([1000.0], "expected one number for beta"),
])
def test_beta_3_4_rejects_what_is_not_a_beta(fake_training, beta, fragment):
    rejects(checks.check_beta_3_4, beta, fragment)
    assert fake_training == []  # nothing was trained


def test_beta_3_4_smoke_mode_trains_for_real_and_names_its_target(monkeypatch, capsys):
    monkeypatch.setenv("AECOURSE_MODE", "smoke")
    result = lesson03.train_sparse_3_4(30.0)
    assert result["rates"].shape == (128,) and 0 < result["mean activation"] < 1
    checks.check_beta_3_4(30.0)  # the solution's beta passes smoke mode's looser target
    assert "target (smoke mode) is rho = 0.1 ± 50%" in capsys.readouterr().out
    rejects(checks.check_beta_3_4, 0.0, "above rho", "smoke mode")
