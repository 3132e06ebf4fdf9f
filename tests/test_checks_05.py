"""aecourse.checks for exercises 05: the reference answers pass, plausible mistakes are named."""

import pytest
import torch

from aecourse import checks, penalties
from check_helpers import rejects

# ---------------------------------------------------------------- 5.1 the closed-form penalty


def contractive_penalty(h, weight, lam):
    per_example = (h * (1 - h)) ** 2 @ (weight**2).sum(dim=1)  # (B,)
    return lam * per_example.mean()


def penalty_broadcast(h, weight, lam):  # the same sum written with broadcasting
    return lam * ((h * (1 - h)) ** 2 * (weight**2).sum(dim=1)).sum(dim=1).mean()


def penalty_einsum(h, weight, lam):  # forms the Jacobian, then its Frobenius norm
    jac = torch.einsum("bk,kd->bkd", h * (1 - h), weight)
    return lam * jac.pow(2).sum(dim=(1, 2)).mean()


def penalty_package(h, weight, lam):
    return penalties.contractive_sigmoid(h, weight, lam)


def penalty_stub(h, weight, lam):
    raise NotImplementedError()


def penalty_dh_not_squared(h, weight, lam):
    return lam * ((h * (1 - h)) @ (weight**2).sum(dim=1)).mean()


def penalty_w_not_squared(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 @ weight.sum(dim=1)).mean()


def penalty_w_abs(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 @ weight.abs().sum(dim=1)).mean()


def penalty_sqrt(h, weight, lam):
    return lam * contractive_penalty(h, weight, 1.0).sqrt()  # sqrt of the mean is not the mean of sqrts


def penalty_sqrt_per_example(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 @ (weight**2).sum(dim=1)).sqrt().mean()


def penalty_h_as_derivative(h, weight, lam):
    return lam * (h**2 @ (weight**2).sum(dim=1)).mean()


def penalty_tanh_derivative(h, weight, lam):
    return lam * ((1 - h**2) ** 2 @ (weight**2).sum(dim=1)).mean()


def penalty_sigmoid_twice(h, weight, lam):
    s = torch.sigmoid(h)
    return lam * ((s * (1 - s)) ** 2 @ (weight**2).sum(dim=1)).mean()


def penalty_batch_sum(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 @ (weight**2).sum(dim=1)).sum()


def penalty_mean_over_units(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 * (weight**2).sum(dim=1)).mean()


def penalty_wrong_axis(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 @ (weight**2).sum(dim=0)).mean()


def penalty_whole_matrix(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2).sum(dim=1).mean() * (weight**2).sum()


def penalty_no_lambda(h, weight, lam):
    return contractive_penalty(h, weight, 1.0)


def penalty_per_example(h, weight, lam):
    return lam * (h * (1 - h)) ** 2 @ (weight**2).sum(dim=1)


def penalty_per_unit(h, weight, lam):
    return lam * (h * (1 - h)) ** 2 * (weight**2).sum(dim=1)


def penalty_item(h, weight, lam):
    return contractive_penalty(h, weight, lam).item()


def penalty_detached(h, weight, lam):
    return contractive_penalty(h.detach(), weight.detach(), lam)


def penalty_h_detached(h, weight, lam):
    return contractive_penalty(h.detach(), weight, lam)


def penalty_in_place(h, weight, lam):
    dh = h.mul_(1 - h)  # overwrites h
    return lam * (dh**2 @ (weight**2).sum(dim=1)).mean()


def test_contractive_penalty_reference_passes(capsys):
    checks.check_contractive_penalty(contractive_penalty)
    checks.check_contractive_penalty(contractive_penalty, seed=1, batch=7, k=32, d=100, lam=2.5)
    checks.check_contractive_penalty(penalty_broadcast, seed=2)
    checks.check_contractive_penalty(penalty_einsum)
    checks.check_contractive_penalty(penalty_package, seed=3, lam=1.0)
    out = capsys.readouterr().out
    assert "✓ contractive_penalty: equals λ · mean over the batch of ‖J_f(x)‖²_F" in out
    assert "✓ penalty_package" in out


@pytest.mark.parametrize("answer, fragment", [
    (penalty_stub, "not written yet"),
    (penalty_dh_not_squared, "h_j(1 − h_j) is not squared"),
    (penalty_w_not_squared, "the weights are not squared"),
    (penalty_w_abs, "used |W_ji| instead of W_ji²"),
    (penalty_sqrt, "took a square root"),
    (penalty_sqrt_per_example, "took a square root"),
    (penalty_h_as_derivative, "used h_j as the sigmoid's derivative"),
    (penalty_tanh_derivative, "the derivative of tanh"),
    (penalty_sigmoid_twice, "applied the sigmoid to h again"),
    (penalty_batch_sum, "summed over the batch"),
    (penalty_mean_over_units, "averaged over the hidden units as well"),
    (penalty_wrong_axis, "summed W² over the hidden units (dim=0)"),
    (penalty_whole_matrix, "summed W² over the whole matrix"),
    (penalty_no_lambda, "left out lam"),
    (penalty_per_example, "returned one value per example, shape (B,)"),
    (penalty_per_unit, "shape (B, K); sum over the units"),
    (penalty_item, "returned a Python number"),
    (penalty_detached, "cut off from autograd"),
    (penalty_h_detached, "h was detached"),
    (penalty_in_place, "changed its input `h` in place"),
])
def test_contractive_penalty_mistakes_are_named(answer, fragment):
    rejects(checks.check_contractive_penalty, answer, fragment)


def test_contractive_penalty_wrong_axis_crashes_on_a_rectangular_w_only():
    # with K != D the transposed row norms cannot even be multiplied: the square case names the mistake first
    message = rejects(checks.check_contractive_penalty, penalty_wrong_axis, "nn.Linear stores W as (K, D)")
    assert "square W" in message


def test_contractive_penalty_reference_agrees_with_the_package():
    # the check's reference is autograd's Jacobian; the package's closed form must match it
    from aecourse.checks.lesson05 import _autograd_penalty, _sigmoid_layer

    x, w, b = _sigmoid_layer(0, 5, 12, 30)
    h = torch.sigmoid(x @ w.T + b)
    torch.testing.assert_close(penalties.contractive_sigmoid(h, w, 0.7).double(),
                               _autograd_penalty(x, w, b, 0.7), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(penalties.jacobian_frobenius_sq(torch.nn.Sequential(), x).mean(),
                               torch.tensor(30.0))  # the identity map: ‖I‖²_F = D


# ---------------------------------------------------------------- 5.2 how much the codes move


def sensitivity(encoder, x, std):
    eps = torch.randn_like(x) * std  # (B, D)
    with torch.no_grad():
        delta = encoder(x + eps) - encoder(x)  # (B, K)
    return (delta.norm(dim=1) / eps.norm(dim=1)).mean()


def sensitivity_float(encoder, x, std):
    return sensitivity(encoder, x, std).item()


def sensitivity_vector_norm(encoder, x, std):
    eps = std * torch.randn(x.shape)  # the same numbers as randn_like
    delta = encoder(x + eps) - encoder(x)
    return (torch.linalg.vector_norm(delta, dim=1) / torch.linalg.vector_norm(eps, dim=1)).mean()


def sensitivity_stub(encoder, x, std):
    raise NotImplementedError()


def sensitivity_ratio_of_averages(encoder, x, std):
    eps = torch.randn_like(x) * std
    return (encoder(x + eps) - encoder(x)).norm(dim=1).mean() / eps.norm(dim=1).mean()


def sensitivity_squared(encoder, x, std):
    eps = torch.randn_like(x) * std
    return ((encoder(x + eps) - encoder(x)).norm(dim=1) ** 2 / eps.norm(dim=1) ** 2).mean()


def sensitivity_whole_batch(encoder, x, std):
    eps = torch.randn_like(x) * std
    return (encoder(x + eps) - encoder(x)).norm() / eps.norm()


def sensitivity_summed(encoder, x, std):
    eps = torch.randn_like(x) * std
    return ((encoder(x + eps) - encoder(x)).norm(dim=1) / eps.norm(dim=1)).sum()


def sensitivity_by_std(encoder, x, std):
    eps = torch.randn_like(x) * std
    return ((encoder(x + eps) - encoder(x)).norm(dim=1) / std).mean()


def sensitivity_no_std(encoder, x, std):
    eps = torch.randn_like(x)
    return ((encoder(x + eps) - encoder(x)).norm(dim=1) / eps.norm(dim=1)).mean()


def sensitivity_clamped(encoder, x, std):
    eps = torch.randn_like(x) * std
    return ((encoder((x + eps).clamp(0, 1)) - encoder(x)).norm(dim=1) / eps.norm(dim=1)).mean()


def sensitivity_uniform(encoder, x, std):
    eps = torch.rand_like(x) * std
    return ((encoder(x + eps) - encoder(x)).norm(dim=1) / eps.norm(dim=1)).mean()


def sensitivity_noise_twice(encoder, x, std):
    delta = encoder(x + torch.randn_like(x) * std) - encoder(x)
    return (delta.norm(dim=1) / (torch.randn_like(x) * std).norm(dim=1)).mean()


def sensitivity_other_noise(encoder, x, std):
    torch.rand(1)  # something random first: right formula, other noise
    return sensitivity(encoder, x, std)


def sensitivity_per_example(encoder, x, std):
    eps = torch.randn_like(x) * std
    return (encoder(x + eps) - encoder(x)).norm(dim=1) / eps.norm(dim=1)


def sensitivity_in_place(encoder, x, std):
    eps = torch.randn_like(x) * std
    moved = x.add_(eps)  # overwrites x
    return ((encoder(moved) - encoder(moved - eps)).norm(dim=1) / eps.norm(dim=1)).mean()


def sensitivity_tuple(encoder, x, std):
    return sensitivity(encoder, x, std), std


def test_sensitivity_reference_passes(capsys):
    checks.check_sensitivity(sensitivity)
    checks.check_sensitivity(sensitivity, seed=1, batch=16, std=0.5)
    checks.check_sensitivity(sensitivity_float, seed=2, std=0.01, d=50, k=8)
    checks.check_sensitivity(sensitivity_vector_norm)
    out = capsys.readouterr().out
    assert "✓ sensitivity: the average of ‖f(x + ε) − f(x)‖ / ‖ε‖" in out
    assert "✓ sensitivity_vector_norm" in out


@pytest.mark.parametrize("answer, fragment", [
    (sensitivity_stub, "not written yet"),
    (sensitivity_ratio_of_averages, "computed a ratio of averages"),
    (sensitivity_squared, "used squared norms"),
    (sensitivity_whole_batch, "took one norm over the whole batch"),
    (sensitivity_summed, "summed the ratios over the batch"),
    (sensitivity_by_std, "divided by std"),
    (sensitivity_no_std, "the noise has standard deviation 1"),
    (sensitivity_clamped, "clamped x + ε to [0, 1]"),
    (sensitivity_uniform, "drew uniform noise"),
    (sensitivity_noise_twice, "drew the noise twice"),
    (sensitivity_other_noise, "not for the noise the check drew"),
    (sensitivity_per_example, "returned one ratio per example, shape (B,)"),
    (sensitivity_in_place, "changed its input `x` in place"),
    (sensitivity_tuple, "returned a tuple of 2 items"),
])
def test_sensitivity_mistakes_are_named(answer, fragment):
    rejects(checks.check_sensitivity, answer, fragment)


def test_sensitivity_leaves_the_callers_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_sensitivity(sensitivity)
    torch.testing.assert_close(torch.rand(3), expected)


def test_sensitivity_rejects_a_bad_std():
    with pytest.raises(ValueError, match="std > 0"):
        checks.check_sensitivity(sensitivity, std=0.0)
