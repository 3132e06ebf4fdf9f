"""aecourse.checks for exercises 08: the reference answers pass, plausible mistakes are named."""

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Independent, Normal, kl_divergence

from aecourse import checks
from aecourse.checks import lesson08
from check_helpers import rejects

# ---------------------------------------------------------------- 8.1 reparameterization


def reparameterize(mu, log_var):
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps


def reparameterize_sqrt(mu, log_var):
    return mu + log_var.exp().sqrt() * torch.randn(mu.shape)


def reparameterize_rsample(mu, log_var):
    return Normal(mu, torch.exp(0.5 * log_var)).rsample()


def reparameterize_own_generator(mu, log_var):  # other draws: checked by their statistics
    eps = torch.randn(mu.shape[::-1]).T
    return mu + torch.exp(0.5 * log_var) * eps


def rep_torch_normal(mu, log_var):
    return torch.normal(mu, torch.exp(0.5 * log_var))


def rep_sample(mu, log_var):
    return Normal(mu, torch.exp(0.5 * log_var)).sample()


def rep_variance(mu, log_var):
    return mu + torch.exp(log_var) * torch.randn_like(mu)


def rep_log_var_as_sigma(mu, log_var):
    return mu + log_var * torch.randn_like(mu)


def rep_inverse_sigma(mu, log_var):
    return mu + torch.exp(-0.5 * log_var) * torch.randn_like(mu)


def rep_no_sigma(mu, log_var):
    return mu + torch.randn_like(mu)


def rep_no_mu(mu, log_var):
    return torch.exp(0.5 * log_var) * torch.randn_like(mu)


def rep_no_noise(mu, log_var):
    return mu + 0 * log_var


def rep_one_eps(mu, log_var):
    return mu + torch.exp(0.5 * log_var) * torch.randn(mu.shape[1])


def rep_uniform(mu, log_var):
    return mu + torch.exp(0.5 * log_var) * torch.rand_like(mu)


def rep_variance_other_draws(mu, log_var):
    return mu + torch.exp(log_var) * torch.randn(mu.shape[::-1]).T


def rep_seeded(mu, log_var):
    g = torch.Generator().manual_seed(123)
    return mu + torch.exp(0.5 * log_var) * torch.randn(mu.shape, generator=g)


def rep_detached_sigma(mu, log_var):
    return mu + torch.exp(0.5 * log_var).detach() * torch.randn_like(mu)


def rep_no_grad(mu, log_var):
    with torch.no_grad():
        return reparameterize(mu, log_var)


def rep_item(mu, log_var):
    return reparameterize(mu, log_var).sum().item()


def rep_in_place(mu, log_var):
    return mu.add_(torch.exp(0.5 * log_var) * torch.randn_like(mu))


def test_reparameterize_reference_passes(capsys):
    checks.check_reparameterize(reparameterize)
    checks.check_reparameterize(reparameterize, seed=1, batch=5, k=2)
    checks.check_reparameterize(reparameterize_sqrt, seed=2)
    checks.check_reparameterize(reparameterize_rsample)
    checks.check_reparameterize(reparameterize_own_generator, seed=3, batch=16, k=3)
    out = capsys.readouterr().out
    assert "✓ reparameterize: z = mu + exp(0.5 · log_var) · eps" in out and "✓ reparameterize_own_generator" in out


@pytest.mark.parametrize("answer, fragment", [
    (rep_torch_normal, "sampling blocks gradients (torch.normal(mu, sigma) has zero gradient"),
    (rep_sample, "no gradient reaches mu or log_var"),
    (rep_variance, "used the variance exp(log_var) as the standard deviation"),
    (rep_variance_other_draws, "used the variance exp(log_var) as the standard deviation"),
    (rep_log_var_as_sigma, "used log_var itself as the standard deviation"),
    (rep_inverse_sigma, "which is 1 / sigma"),
    (rep_no_sigma, "left out sigma"),
    (rep_no_mu, "left out mu"),
    (rep_no_noise, "returned mu without noise"),
    (rep_one_eps, "drew one eps for the whole batch"),
    (rep_uniform, "drew uniform noise"),
    (rep_seeded, "returned the same z on two calls"),
    (rep_detached_sigma, "no gradient reaches log_var"),
    (rep_no_grad, "no gradient reaches mu or log_var"),
    (rep_item, "returned a Python number"),
    (rep_in_place, "changed its input `mu` in place"),
])
def test_reparameterize_mistakes_are_named(answer, fragment):
    rejects(checks.check_reparameterize, answer, fragment)


def test_reparameterize_stub_and_shapes():
    def stub(mu, log_var):
        raise NotImplementedError()

    rejects(checks.check_reparameterize, stub, "not written yet")
    rejects(checks.check_reparameterize, lambda mu, log_var: reparameterize(mu, log_var)[0],
            "returned one sample of shape (K,)")
    rejects(checks.check_reparameterize, lambda mu, log_var: (mu, log_var), "returned a tuple of 2 items")


# ---------------------------------------------------------------- 8.2 the closed-form KL


def kl_normal(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1)


def kl_torch(mu, log_var):
    q = Independent(Normal(mu, torch.exp(0.5 * log_var)), 1)
    return kl_divergence(q, Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1))


def kl_minus_half(mu, log_var):
    return -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)


def _kl(terms):
    return 0.5 * terms.sum(dim=1)


def kl_sign(mu, log_var):
    return 0.5 * torch.sum(1 + log_var - mu**2 - log_var.exp(), dim=1)


def kl_no_half(mu, log_var):
    return (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1)


def kl_sigma_for_log(mu, log_var):
    return _kl(mu**2 + log_var.exp() - 1 - torch.exp(0.5 * log_var))


def kl_sigma_for_var(mu, log_var):
    return _kl(mu**2 + torch.exp(0.5 * log_var) - 1 - log_var)


def kl_log_sigma(mu, log_var):
    return _kl(mu**2 + log_var.exp() - 1 - 0.5 * log_var)


def kl_var_for_log(mu, log_var):
    return _kl(mu**2 + log_var.exp() - 1 - log_var.exp())


def kl_log_var_is_sigma(mu, log_var):
    sigma = log_var
    return _kl(mu**2 + sigma**2 - 1 - torch.log(sigma**2))


def kl_log_var_is_variance(mu, log_var):
    return _kl(mu**2 + log_var - 1 - torch.log(log_var))


def kl_mean_over_dims(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1 - log_var).mean(dim=1)


def kl_no_minus_one(mu, log_var):
    return _kl(mu**2 + log_var.exp() - log_var)


def kl_no_mu(mu, log_var):
    return _kl(log_var.exp() - 1 - log_var)


def kl_swapped(mu, log_var):
    return _kl((1 + mu**2) / log_var.exp() - 1 + log_var)


def kl_per_dim(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1 - log_var)


def kl_batch_mean(mu, log_var):
    return kl_normal(mu, log_var).mean()


def kl_over_batch(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=0)


def kl_detached(mu, log_var):
    return kl_normal(mu.detach(), log_var.detach())


def test_kl_reference_agrees_with_torch_distributions():
    mu, log_var = lesson08._codes(3, 6, 5)
    torch.testing.assert_close(lesson08.kl_reference(mu, log_var), kl_normal(mu, log_var))


def test_kl_reference_passes(capsys):
    checks.check_kl_normal(kl_normal)
    checks.check_kl_normal(kl_torch, seed=1, batch=20, k=16)
    checks.check_kl_normal(kl_minus_half, seed=2, batch=1, k=1)
    assert "✓ kl_normal: equals torch.distributions.kl_divergence" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (kl_sign, "the KL has the wrong sign"),
    (kl_no_half, "left out the factor 1/2"),
    (kl_sigma_for_log, "subtracted sigma in the last term, where log sigma² belongs"),
    (kl_sigma_for_var, "used sigma = exp(0.5 · log_var) in the second term"),
    (kl_log_sigma, "used log sigma = 0.5 · log_var in the last term"),
    (kl_var_for_log, "used sigma² = exp(log_var) in the last term"),
    (kl_log_var_is_sigma, "treated log_var as sigma"),
    (kl_log_var_is_variance, "treated log_var as the variance"),
    (kl_mean_over_dims, "averaged over the latent dimensions"),
    (kl_no_minus_one, "left out the − 1"),
    (kl_no_mu, "left out mu²"),
    (kl_swapped, "the arguments swapped"),
    (kl_per_dim, "returned one KL per latent dimension, shape (B, K)"),
    (kl_batch_mean, "returned one number for the batch"),
    (kl_over_batch, "returned one value per latent dimension, shape (K,)"),
    (kl_detached, "cut off from autograd"),
])
def test_kl_mistakes_are_named(answer, fragment):
    rejects(checks.check_kl_normal, answer, fragment)


def test_kl_stub_crash_and_in_place():
    def stub(mu, log_var):
        raise NotImplementedError()

    def in_place(mu, log_var):
        log_var.exp_()
        return 0.5 * (mu**2 + log_var - 1 - log_var.log()).sum(dim=1)

    rejects(checks.check_kl_normal, stub, "not written yet")
    rejects(checks.check_kl_normal, lambda mu, log_var: mu.sum(dim=2), "raised IndexError",
            "called with mu=tensor (8, 4)")
    rejects(checks.check_kl_normal, in_place, "changed its input `log_var` in place")


# ---------------------------------------------------------------- 8.3 the ELBO


def vae_loss(logits, x, mu, log_var, beta=1.0):
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1)
    return (recon + beta * kl).mean()


def vae_loss_probabilities(logits, x, mu, log_var, beta=1.0):
    recon = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / len(x)
    return recon + beta * kl_torch(mu, log_var).mean()


def _recon(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def _kl_dims(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1 - log_var)


def elbo_positive(logits, x, mu, log_var, beta=1.0):
    return -vae_loss(logits, x, mu, log_var, beta)


def elbo_kl_sign(logits, x, mu, log_var, beta=1.0):
    return (_recon(logits, x).sum(dim=1) - beta * _kl_dims(mu, log_var).sum(dim=1)).mean()


def elbo_default_reduction(logits, x, mu, log_var, beta=1.0):
    return F.binary_cross_entropy_with_logits(logits, x) + beta * _kl_dims(mu, log_var).sum(dim=1).mean()


def elbo_all_means(logits, x, mu, log_var, beta=1.0):
    return F.binary_cross_entropy_with_logits(logits, x) + beta * _kl_dims(mu, log_var).mean()


def elbo_kl_mean_dims(logits, x, mu, log_var, beta=1.0):
    return (_recon(logits, x).sum(dim=1) + beta * _kl_dims(mu, log_var).mean(dim=1)).mean()


def elbo_summed(logits, x, mu, log_var, beta=1.0):
    return _recon(logits, x).sum() + beta * _kl_dims(mu, log_var).sum()


def elbo_recon_summed(logits, x, mu, log_var, beta=1.0):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") + beta * _kl_dims(mu, log_var).sum(dim=1).mean()


def elbo_kl_summed(logits, x, mu, log_var, beta=1.0):
    return _recon(logits, x).sum(dim=1).mean() + beta * _kl_dims(mu, log_var).sum()


def elbo_bce_on_logits(logits, x, mu, log_var, beta=1.0):
    recon = F.binary_cross_entropy(logits, x, reduction="none").sum(dim=1)
    return (recon + beta * _kl_dims(mu, log_var).sum(dim=1)).mean()


def elbo_double_sigmoid(logits, x, mu, log_var, beta=1.0):
    return vae_loss(torch.sigmoid(logits), x, mu, log_var, beta)


def elbo_mse(logits, x, mu, log_var, beta=1.0):
    recon = ((torch.sigmoid(logits) - x) ** 2).sum(dim=1)
    return (recon + beta * _kl_dims(mu, log_var).sum(dim=1)).mean()


def elbo_no_beta(logits, x, mu, log_var, beta=1.0):
    return vae_loss(logits, x, mu, log_var, 1.0)


def elbo_beta_on_recon(logits, x, mu, log_var, beta=1.0):
    return (beta * _recon(logits, x).sum(dim=1) + _kl_dims(mu, log_var).sum(dim=1)).mean()


def elbo_kl_wrong(logits, x, mu, log_var, beta=1.0):
    return (_recon(logits, x).sum(dim=1) + beta * (mu**2).sum(dim=1)).mean()


def elbo_recon_wrong(logits, x, mu, log_var, beta=1.0):
    return (_recon(logits, x).sum(dim=1) * 1.1 + beta * _kl_dims(mu, log_var).sum(dim=1)).mean()


def elbo_per_image(logits, x, mu, log_var, beta=1.0):
    return _recon(logits, x).sum(dim=1) + beta * _kl_dims(mu, log_var).sum(dim=1)


def elbo_detached_mu(logits, x, mu, log_var, beta=1.0):
    return vae_loss(logits, x, mu.detach(), log_var.detach(), beta)


def test_elbo_reference_passes(capsys):
    checks.check_elbo(vae_loss)
    checks.check_elbo(vae_loss, seed=1, batch=3, d=50, k=7, beta=4.0)
    checks.check_elbo(vae_loss_probabilities, seed=2, beta=0.5)
    assert "✓ vae_loss: −log p(x | z) summed over pixels + beta · KL" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (elbo_positive, "returned the ELBO itself"),
    (elbo_kl_sign, "the KL term has the wrong sign"),
    (elbo_default_reduction, "averaged the reconstruction term over the pixels"),
    (elbo_all_means, "averaged both terms over their dimensions"),
    (elbo_kl_mean_dims, "averaged the KL over the latent dimensions"),
    (elbo_summed, "summed over the batch; average"),
    (elbo_recon_summed, "summed the reconstruction term over the batch as well"),
    (elbo_kl_summed, "summed the KL over the batch as well"),
    (elbo_bce_on_logits, "passed the logits to F.binary_cross_entropy"),
    (elbo_double_sigmoid, "a sigmoid twice"),
    (elbo_mse, "computed the squared error"),
    (elbo_no_beta, "left out beta (here beta = 3.0)"),
    (elbo_beta_on_recon, "put beta on the reconstruction term"),
    (elbo_kl_wrong, "the reconstruction term is right, the KL term is not"),
    (elbo_recon_wrong, "the reconstruction term is wrong"),
    (elbo_per_image, "returned one loss per image, shape (B,)"),
    (elbo_detached_mu, "no gradient reaches mu, log_var"),
])
def test_elbo_mistakes_are_named(answer, fragment):
    rejects(checks.check_elbo, answer, fragment)


def test_elbo_stub_and_in_place():
    def stub(logits, x, mu, log_var, beta=1.0):
        raise NotImplementedError()

    def in_place(logits, x, mu, log_var, beta=1.0):
        x[0, 0] = 1 - x[0, 0]
        return vae_loss(logits, x, mu, log_var, beta)

    rejects(checks.check_elbo, stub, "not written yet")
    rejects(checks.check_elbo, in_place, "changed its input `x` in place")
    rejects(checks.check_elbo, lambda logits, x, mu, log_var, beta=1.0: vae_loss(logits, x, mu, log_var, beta).item(),
            "returned a Python number")


def test_elbo_names_the_reconstruction_mistake_when_the_kl_is_wrong_too():
    def two_mistakes(logits, x, mu, log_var, beta=1.0):
        kl = 0.5 * (mu**2 + log_var.exp() - 1 - torch.exp(0.5 * log_var)).sum(dim=1)
        return F.binary_cross_entropy_with_logits(logits, x) + beta * kl.mean()

    rejects(checks.check_elbo, two_mistakes, "the reconstruction term is wrong: it is averaged over the pixels")
