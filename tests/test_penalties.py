"""aecourse.penalties against trusted references: torch.distributions, torch.func and autograd."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, kl_divergence

from aecourse import penalties


def _sigmoid_codes(seed=0, batch=16, k=12, d=30):
    g = torch.Generator().manual_seed(seed)
    layer = nn.Linear(d, k).double()
    with torch.no_grad():
        layer.weight.copy_(torch.randn(k, d, generator=g, dtype=torch.float64) * 0.3)
        layer.bias.copy_(torch.randn(k, generator=g, dtype=torch.float64))
    x = torch.rand(batch, d, generator=g, dtype=torch.float64)
    return layer, x


@pytest.mark.parametrize("rho, beta", [(0.05, 3.0), (0.2, 0.5), (0.9, 1.0)])
def test_kl_sparsity_matches_bernoulli_kl_summed_over_units(rho, beta):
    h = torch.rand(64, 20, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    reference = beta * kl_divergence(Bernoulli(probs=torch.full((20,), rho, dtype=torch.float64)),
                                     Bernoulli(probs=h.mean(dim=0))).sum()
    torch.testing.assert_close(penalties.kl_sparsity(h, rho=rho, beta=beta), reference)


def test_kl_sparsity_is_zero_at_the_target_and_finite_for_dead_units():
    assert penalties.kl_sparsity(torch.full((8, 5), 0.05)).abs() < 1e-6
    dead = torch.zeros(8, 5, requires_grad=True)
    value = penalties.kl_sparsity(dead)
    assert torch.isfinite(value) and value > 5 * 3 * 0.45  # about 0.49 per unit, times beta
    value.backward()
    assert torch.isfinite(dead.grad).all()


def test_kl_sparsity_rejects_activations_outside_zero_one():
    with pytest.raises(ValueError, match=r"activations in \[0, 1\].*nn.Sigmoid"):
        penalties.kl_sparsity(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        penalties.kl_sparsity(torch.rand(4, 3, 2))
    with pytest.raises(ValueError, match="0 < rho < 1"):
        penalties.kl_sparsity(torch.rand(4, 3), rho=0.0)
    with pytest.raises(TypeError, match="floating"):
        penalties.kl_sparsity(torch.ones(4, 3, dtype=torch.long))


def test_l1_activity_sums_over_units_and_averages_over_the_batch():
    h = torch.randn(10, 7, generator=torch.Generator().manual_seed(2))
    reference = 0.3 * F.l1_loss(h, torch.zeros_like(h), reduction="sum") / len(h)
    torch.testing.assert_close(penalties.l1_activity(h, 0.3), reference)
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        penalties.l1_activity(torch.randn(7), 1.0)


def test_contractive_closed_form_matches_the_autograd_jacobian():
    layer, x = _sigmoid_codes()
    encoder = nn.Sequential(layer, nn.Sigmoid())
    h = encoder(x)
    per_example = torch.stack([torch.autograd.functional.jacobian(encoder, xi).pow(2).sum() for xi in x])
    torch.testing.assert_close(penalties.contractive_sigmoid(h, layer.weight, lam=0.7), 0.7 * per_example.mean())
    torch.testing.assert_close(penalties.jacobian_frobenius_sq(encoder, x), per_example)


def test_autograd_penalty_trains_the_encoder_like_the_closed_form():
    layer, x = _sigmoid_codes(seed=3)
    encoder = nn.Sequential(layer, nn.Sigmoid())
    closed = penalties.contractive_sigmoid(encoder(x), layer.weight)
    (g_closed,) = torch.autograd.grad(closed, layer.weight)
    general = penalties.jacobian_frobenius_sq(encoder, x).mean()
    (g_general,) = torch.autograd.grad(general, layer.weight)
    torch.testing.assert_close(g_general, g_closed)


def test_jacobian_of_an_image_encoder_keeps_the_input_shape_out_of_the_way():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 13 * 13, 4))
    x = torch.rand(3, 1, 28, 28)
    value = penalties.jacobian_frobenius_sq(encoder, x)
    direct = torch.stack([torch.autograd.functional.jacobian(lambda v: encoder(v.unsqueeze(0))[0], xi)
                          .pow(2).sum() for xi in x])
    assert value.shape == (3,)
    torch.testing.assert_close(value, direct)


def test_contractive_sigmoid_rejects_a_transposed_weight():
    layer, x = _sigmoid_codes()
    h = torch.sigmoid(layer(x))
    with pytest.raises(ValueError, match=r"\(K, D\) = \(12, D\).*\(30, 12\)"):
        penalties.contractive_sigmoid(h, layer.weight.T)
    with pytest.raises(ValueError, match=r"\(B, \.\.\.\)"):
        penalties.jacobian_frobenius_sq(nn.Sigmoid(), torch.rand(5))
