"""aecourse.vae against trusted references: torch.distributions and torch.logsumexp."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from aecourse import vae


def _codes(seed=0, batch=6, k=5):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(batch, k, generator=g, dtype=torch.float64)
    log_var = -3 + 4 * torch.rand(batch, k, generator=g, dtype=torch.float64)
    return mu, log_var


def test_kl_normal_matches_torch_distributions_summed_over_latent_dims():
    mu, log_var = _codes()
    q = Independent(Normal(mu, torch.exp(0.5 * log_var)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    torch.testing.assert_close(vae.kl_normal(mu, log_var), kl_divergence(q, p))
    assert vae.kl_normal(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() == 0


def test_bernoulli_log_likelihood_matches_torch_distributions_summed_over_pixels():
    g = torch.Generator().manual_seed(1)
    logits = 4 * torch.randn(5, 784, generator=g, dtype=torch.float64)
    x = torch.bernoulli(torch.full((5, 784), 0.3, dtype=torch.float64), generator=g)
    expected = Independent(Bernoulli(logits=logits), 1).log_prob(x)
    torch.testing.assert_close(vae.bernoulli_log_likelihood(logits, x), expected)
    images = x.view(5, 1, 28, 28)  # image-shaped inputs give the same values
    torch.testing.assert_close(vae.bernoulli_log_likelihood(logits, images), expected)
    assert torch.isfinite(vae.bernoulli_log_likelihood(torch.full((1, 3), 200.0), torch.zeros(1, 3))).all()


def test_elbo_is_log_likelihood_minus_beta_kl():
    mu, log_var = _codes(batch=4)
    logits = torch.randn(4, 10, dtype=torch.float64)
    x = (torch.rand(4, 10, dtype=torch.float64) > 0.5).double()
    recon = vae.bernoulli_log_likelihood(logits, x)
    kl = vae.kl_normal(mu, log_var)
    torch.testing.assert_close(vae.elbo(logits, x, mu, log_var), recon - kl)
    torch.testing.assert_close(vae.elbo(logits, x, mu, log_var, beta=4.0), recon - 4 * kl)


def test_reparameterize_has_the_right_distribution_and_gradients():
    mu = torch.tensor([[1.0, -2.0, 0.0]]).expand(200_000, 3).clone().requires_grad_()
    log_var = torch.tensor([[0.0, math.log(4.0), math.log(0.01)]]).expand(200_000, 3).clone().requires_grad_()
    z = vae.reparameterize(mu, log_var, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(dim=0), mu[0].detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(dim=0), torch.tensor([1.0, 2.0, 0.1]), atol=0.01, rtol=0)
    z.sum().backward()
    assert torch.equal(mu.grad, torch.ones_like(mu))
    eps = (z - mu) / torch.exp(0.5 * log_var)
    torch.testing.assert_close(log_var.grad, (0.5 * torch.exp(0.5 * log_var) * eps).detach())


def test_reparameterize_repeats_with_a_seeded_generator():
    mu, log_var = _codes()
    a = vae.reparameterize(mu, log_var, torch.Generator().manual_seed(3))
    b = vae.reparameterize(mu, log_var, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, vae.reparameterize(mu, log_var))


def test_mlp_vae_shapes_and_two_heads():
    torch.manual_seed(0)
    model = vae.MLPVAE(latent_dim=7, hidden=(32, 16))
    x = torch.rand(5, 1, 28, 28)
    logits, mu, log_var = model(x)
    assert logits.shape == (5, 784) and mu.shape == log_var.shape == (5, 7)
    assert not torch.equal(mu, log_var)  # two separate heads
    assert model.decode(torch.zeros(2, 7)).shape == (2, 784)


def _log_weights(model, x, eps):
    """Return log p(x|z) + log p(z) - log q(z|x) by torch.distributions: eps (k, B, K) -> (k, B)."""
    mu, log_var = model.encode(x)
    q = Independent(Normal(mu, torch.exp(0.5 * log_var)), 1)
    z = mu + torch.exp(0.5 * log_var) * eps
    prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    likelihood = Independent(Bernoulli(logits=model.decode(z)), 1)
    return likelihood.log_prob(x) + prior.log_prob(z) - q.log_prob(z)


@pytest.mark.parametrize("k, chunk, batch_size", [(1, 250, 100), (37, 10, 3), (50, 50, 8)])
@torch.no_grad()
def test_importance_log_likelihood_is_a_log_mean_exp_of_the_weights(k, chunk, batch_size):
    torch.manual_seed(0)
    model = vae.MLPVAE(latent_dim=4, hidden=(16,)).double()
    x = torch.bernoulli(torch.full((8, 784), 0.2, dtype=torch.float64))
    got = vae.importance_log_likelihood(model, x, k=k, batch_size=batch_size, chunk=chunk,
                                        generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)  # the same draws, in the same order
    parts = []
    for xb in x.split(batch_size):
        eps = torch.cat([torch.randn((n, len(xb), 4), generator=g, dtype=torch.float64)
                         for n in [chunk] * (k // chunk) + ([k % chunk] if k % chunk else [])])
        parts.append(torch.logsumexp(_log_weights(model, xb, eps), dim=0) - math.log(k))
    torch.testing.assert_close(got, torch.cat(parts))


@torch.no_grad()
def test_importance_bound_tightens_with_k_and_k1_is_the_elbo_on_average():
    torch.manual_seed(1)
    model = vae.MLPVAE(latent_dim=3, hidden=(16,))
    x = torch.bernoulli(torch.full((4, 784), 0.3))
    estimates = [vae.importance_log_likelihood(model, x, k=k).mean() for k in (1, 100, 2000)]
    assert estimates[0] < estimates[1] < estimates[2]
    mu, log_var = model.encode(x)
    elbos = torch.stack([vae.elbo(model.decode(vae.reparameterize(mu, log_var)), x, mu, log_var)
                         for _ in range(2000)]).mean(dim=0)
    k1 = torch.stack([vae.importance_log_likelihood(model, x, k=1) for _ in range(2000)]).mean(dim=0)
    torch.testing.assert_close(k1, elbos, atol=0.5, rtol=0)


def test_bad_inputs_get_clear_errors():
    model = vae.MLPVAE(latent_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match=r"k must be a positive int"):
        vae.importance_log_likelihood(model, torch.rand(2, 784), k=0)
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
        vae.importance_log_likelihood(model, torch.randn(2, 784), k=5)
    with pytest.raises(TypeError, match="encode"):
        vae.importance_log_likelihood(torch.nn.Linear(784, 2), torch.rand(2, 784), k=5)
    with pytest.raises(ValueError, match=r"one shape, got \(3, 2\) and \(3, 4\)"):
        vae.kl_normal(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        vae.kl_normal(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
        vae.bernoulli_log_likelihood(torch.zeros(2, 5), torch.full((2, 5), 2.0))
    with pytest.raises(ValueError, match="same number of images and pixels"):
        vae.bernoulli_log_likelihood(torch.zeros(2, 5), torch.zeros(2, 6))
    with pytest.raises(TypeError, match="floating-point"):
        vae.reparameterize(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="latent_dim"):
        vae.MLPVAE(latent_dim=0)
    with pytest.raises(ValueError, match="images but"):
        vae.elbo(torch.zeros(2, 5), torch.zeros(2, 5), torch.zeros(3, 2), torch.zeros(3, 2))
