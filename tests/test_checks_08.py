"""aecourse.checks for exercises 08: the reference answers pass, plausible mistakes are named."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Independent, Normal

from aecourse import checks
from aecourse.checks import lesson08
from check_helpers import rejects

# ---------------------------------------------------------------- 8.1 reparameterization


def reparameterize(mu, log_var):
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps


def reparameterize_sqrt(mu, log_var):
    return mu + log_var.exp().sqrt() * torch.randn(mu.shape, device=mu.device, dtype=mu.dtype)


def reparameterize_rsample(mu, log_var):
    return Normal(mu, torch.exp(0.5 * log_var)).rsample()


def reparameterize_own_generator(mu, log_var):  # other draws: checked by their statistics
    eps = torch.randn(mu.shape[::-1], device=mu.device).T
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




def rep_float64(mu, log_var):
    return mu.double() + torch.exp(0.5 * log_var.double()) * torch.randn(mu.shape, dtype=torch.float64)


def rep_cpu_noise(mu, log_var):
    return mu + torch.exp(0.5 * log_var) * torch.randn(mu.shape)


def rep_cpu_noise_tuple(mu, log_var):
    eps = torch.randn(*mu.shape)
    return mu + (0.5 * log_var).exp() * eps


def rep_shared_dims(mu, log_var):
    return mu + torch.exp(0.5 * log_var) * torch.randn(mu.shape[0], 1, device=mu.device)


def rep_shared_dims_like(mu, log_var):
    return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu[:, :1])


def rep_shared_all(mu, log_var):
    return mu + torch.exp(0.5 * log_var) * torch.randn((), device=mu.device)


def rep_one_eps_row(mu, log_var):
    return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu[0])


def reparameterize_sigma_first(mu, log_var):
    sigma = log_var.mul(0.5).exp()
    return torch.addcmul(mu, sigma, torch.randn_like(sigma))


def reparameterize_validated_rsample(mu, log_var):
    return Normal(mu, torch.exp(0.5 * log_var), validate_args=True).rsample()


def reparameterize_float64_inside(mu, log_var):
    eps = torch.randn_like(mu, dtype=torch.float64)
    return (mu.double() + torch.exp(0.5 * log_var.double()) * eps).to(mu.dtype)


def test_reparameterize_correct_answers_pass(capsys):
    checks.check_reparameterize(reparameterize)
    checks.check_reparameterize(reparameterize, seed=1, batch=10, k=2)
    checks.check_reparameterize(reparameterize, seed=2, batch=1, k=20)
    for answer in (reparameterize_sqrt, reparameterize_rsample, reparameterize_own_generator,
                   reparameterize_sigma_first, reparameterize_validated_rsample, reparameterize_float64_inside):
        checks.check_reparameterize(answer)
        checks.check_reparameterize(answer, seed=3, batch=16, k=3)
    out = capsys.readouterr().out
    assert out.count("✓") == 15 and "✗" not in out


@pytest.mark.parametrize("answer, fragment", [
    (rep_torch_normal, "no gradient reaches mu or log_var"),
    (rep_sample, "no gradient reaches mu or log_var"),
    (rep_variance, "used the variance exp(log_var) as the standard deviation"),
    (rep_variance_other_draws, "used the variance exp(log_var) as the standard deviation"),
    (rep_log_var_as_sigma, "used log_var itself as the standard deviation"),
    (rep_inverse_sigma, "used 1 / sigma"),
    (rep_no_sigma, "left out sigma"),
    (rep_no_mu, "left out mu"),
    (rep_no_noise, "returned mu without noise"),
    (rep_one_eps, "drew one noise vector for the whole batch"),
    (rep_one_eps_row, "drew one noise vector for the whole batch"),
    (rep_shared_dims, "shared it by all latent dimensions"),
    (rep_shared_dims_like, "shared it by all latent dimensions"),
    (rep_shared_all, "a single noise number for every entry"),
    (rep_uniform, "drew uniform noise"),
    (rep_seeded, "returned the same z on two calls"),
    (rep_detached_sigma, "no gradient reaches log_var"),
    (rep_no_grad, "no gradient reaches mu or log_var"),
    (rep_item, "returned a Python number"),
    (rep_in_place, "changed its input `mu` in place"),
    (rep_float64, "returned float64, expected float32"),
    (rep_cpu_noise, "made a tensor on the CPU"),
    (rep_cpu_noise_tuple, "made a tensor on the CPU"),
])
def test_reparameterize_mistakes_are_named(answer, fragment):
    rejects(checks.check_reparameterize, answer, fragment)


def rep_sqrt_abs_log_var(mu, log_var):
    return mu + log_var.abs().sqrt() * torch.randn_like(mu)


def rep_sqrt_abs_log_var_other_draws(mu, log_var):
    return mu + log_var.abs().sqrt() * torch.randn(mu.shape[::-1], device=mu.device).T


def rep_sqrt_log_var(mu, log_var):
    return mu + log_var.sqrt() * torch.randn_like(mu)


def rep_inverse_sigma_other_draws(mu, log_var):
    return mu + torch.exp(-0.5 * log_var) * torch.randn(mu.shape[::-1], device=mu.device).T


def rep_log_var_other_draws(mu, log_var):
    return mu + log_var * torch.randn(mu.shape[::-1], device=mu.device).T


def rep_uniform_other_draws(mu, log_var):
    return mu + torch.exp(0.5 * log_var) * torch.rand(mu.shape[::-1], device=mu.device).T


def rep_shifted_other_draws(mu, log_var):  # a mistake no message names: the measurement is reported
    return mu + 0.1 + torch.exp(0.5 * log_var) * torch.randn(mu.shape[::-1], device=mu.device).T


@pytest.mark.parametrize("answer, fragment", [
    (rep_sqrt_abs_log_var, "took the square root of log_var (of its absolute value)"),
    (rep_sqrt_abs_log_var_other_draws, "took the square root of log_var (of its absolute value)"),
    (rep_sqrt_log_var, "NaN wherever log_var < 0"),
    (rep_inverse_sigma_other_draws, "used 1 / sigma"),
    (rep_log_var_other_draws, "used log_var itself as the standard deviation"),
    (rep_variance_other_draws, "used the variance exp(log_var) as the standard deviation"),
    (rep_uniform_other_draws, "drew uniform noise"),
    (rep_shifted_other_draws, "the draws do not follow N(mu, sigma²)"),
])
def test_reparameterize_other_draws_are_judged_by_what_they_measure(answer, fragment):
    message = rejects(checks.check_reparameterize, answer, fragment)
    if answer in (rep_sqrt_abs_log_var, rep_sqrt_abs_log_var_other_draws, rep_shifted_other_draws):
        assert "randn_like" not in message and "mean 0" not in message  # no noise mistake is guessed


def reparameterize_mvn_rsample(mu, log_var):
    from torch.distributions import MultivariateNormal

    return MultivariateNormal(mu, scale_tril=torch.diag_embed(torch.exp(0.5 * log_var))).rsample()


def test_reparameterize_device_probe_lets_distributions_through(capsys):
    for answer in (reparameterize_rsample, reparameterize_validated_rsample, reparameterize_mvn_rsample):
        checks.check_reparameterize(answer)
    assert capsys.readouterr().out.count("✓") == 3


def test_reparameterize_shared_dims_caught_with_one_example():
    rejects(checks.check_reparameterize, rep_shared_dims, "shared it by all latent dimensions", seed=2, batch=1, k=20)


def test_reparameterize_stub_and_shapes():
    def stub(mu, log_var):
        raise NotImplementedError()

    rejects(checks.check_reparameterize, stub, "not written yet")
    rejects(checks.check_reparameterize, lambda mu, log_var: reparameterize(mu, log_var)[0],
            "returned one sample of shape (K,)")
    rejects(checks.check_reparameterize, lambda mu, log_var: (mu, log_var), "returned a tuple of 2 items")


def test_reparameterize_messages_print_no_formula():
    for answer in (rep_variance, rep_no_sigma, rep_one_eps, rep_torch_normal):
        message = rejects(checks.check_reparameterize, answer)
        assert "mu + sigma * eps" not in message and "exp(0.5 * log_var) * eps" not in message, message


# ---------------------------------------------------------------- 8.2 the KL between two diagonal Gaussians


def kl2(mu_q, log_var_q, mu_p, log_var_p):
    return 0.5 * (log_var_p - log_var_q + (log_var_q.exp() + (mu_q - mu_p) ** 2) / log_var_p.exp() - 1).sum(dim=1)


def kl2_sigmas(mu_q, log_var_q, mu_p, log_var_p):
    s_q, s_p = torch.exp(0.5 * log_var_q), torch.exp(0.5 * log_var_p)
    return (torch.log(s_p / s_q) + (s_q**2 + (mu_q - mu_p) ** 2) / (2 * s_p**2) - 0.5).sum(-1)


def kl2_float64(mu_q, log_var_q, mu_p, log_var_p):
    a = [t.double() for t in (mu_q, log_var_q, mu_p, log_var_p)]
    return kl2(*a).float()


def kl2_monte_carlo_free_cross_entropy(mu_q, log_var_q, mu_p, log_var_p):
    cross = 0.5 * (log_var_p + (log_var_q.exp() + (mu_q - mu_p) ** 2) * torch.exp(-log_var_p))  # -E_q log p - c
    entropy = 0.5 * (log_var_q + 1)  # H(q) - c
    return (cross - entropy).sum(dim=1)


def _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, log_ratio=None, var=None, mean=None, minus=1.0, half=0.5):
    vq, vp = log_var_q.exp(), log_var_p.exp()
    log_ratio = log_var_p - log_var_q if log_ratio is None else log_ratio
    var = vq / vp if var is None else var
    mean = (mu_q - mu_p) ** 2 / vp if mean is None else mean
    return (half * (log_ratio + var + mean - minus)).sum(dim=1)


def kl2_swapped(mu_q, log_var_q, mu_p, log_var_p):
    return kl2(mu_p, log_var_p, mu_q, log_var_q)


def kl2_sign(*a):
    return -kl2(*a)


def kl2_no_half(*a):
    return 2 * kl2(*a)


def kl2_mean_dims(*a):
    return kl2(*a) / a[0].shape[1]


def kl2_log_ratio_flipped(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, log_ratio=log_var_q - log_var_p)


def kl2_mean_not_scaled(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, mean=(mu_q - mu_p) ** 2)


def kl2_var_not_scaled(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, var=log_var_q.exp())


def kl2_std_ratio(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, var=torch.exp(0.5 * (log_var_q - log_var_p)))


def kl2_mean_over_sigma(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, mean=(mu_q - mu_p) ** 2 / torch.exp(0.5 * log_var_p))


def kl2_half_log(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, log_ratio=0.5 * (log_var_p - log_var_q))


def kl2_no_minus_one(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, minus=0.0)


def kl2_plus_means(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, mean=(mu_q + mu_p) ** 2 / log_var_p.exp())


def kl2_standard_prior(mu_q, log_var_q, mu_p, log_var_p):
    return 0.5 * (mu_q**2 + log_var_q.exp() - 1 - log_var_q).sum(dim=1)


def kl2_no_mean(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, mean=0 * mu_q)


def kl2_divided_by_q(mu_q, log_var_q, mu_p, log_var_p):
    vq = log_var_q.exp()
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, var=vq / vq, mean=(mu_q - mu_p) ** 2 / vq)


def kl2_library(mu_q, log_var_q, mu_p, log_var_p):
    from torch.distributions import kl_divergence as kl_div  # another name

    q = Independent(Normal(mu_q, torch.exp(0.5 * log_var_q)), 1)
    return kl_div(q, Independent(Normal(mu_p, torch.exp(0.5 * log_var_p)), 1))


def kl2_library_per_dim(mu_q, log_var_q, mu_p, log_var_p):
    return torch.distributions.kl.kl_divergence(Normal(mu_q, torch.exp(0.5 * log_var_q)),
                                                Normal(mu_p, torch.exp(0.5 * log_var_p))).sum(1)


def kl2_detached(*a):
    return kl2(*[t.detach() for t in a])


def kl2_detached_prior(mu_q, log_var_q, mu_p, log_var_p):
    return kl2(mu_q, log_var_q, mu_p.detach(), log_var_p.detach())


def kl2_float64_out(*a):
    return kl2(*[t.double() for t in a])


def kl2_per_dim(mu_q, log_var_q, mu_p, log_var_p):
    return 0.5 * (log_var_p - log_var_q + (log_var_q.exp() + (mu_q - mu_p) ** 2) / log_var_p.exp() - 1)


def kl2_batch_sum(*a):
    return kl2(*a).sum()


def test_kl2_reference_agrees_with_torch_distributions():
    args = [t.detach() for t in lesson08._kl2_inputs(0, 8, 4).values()]
    torch.testing.assert_close(kl2(*args), lesson08.kl_diag_reference(*args))


def test_kl2_correct_answers_pass(capsys):
    for answer in (kl2, kl2_sigmas, kl2_float64, kl2_monte_carlo_free_cross_entropy):
        checks.check_kl_diag_gaussians(answer)
        checks.check_kl_diag_gaussians(answer, seed=1, batch=32, k=16)
        checks.check_kl_diag_gaussians(answer, seed=2, batch=3, k=2)
    out = capsys.readouterr().out
    assert out.count("✓") == 12 and "✗" not in out


@pytest.mark.parametrize("answer, fragment", [
    (kl2_swapped, "computed KL(p || q), the arguments swapped"),
    (kl2_sign, "the KL has the wrong sign"),
    (kl2_no_half, "left out the overall factor 1/2"),
    (kl2_mean_dims, "averaged over the latent dimensions"),
    (kl2_log_ratio_flipped, "the log-variance term has the wrong sign"),
    (kl2_mean_not_scaled, "did not divide the squared mean difference by the prior's variance"),
    (kl2_var_not_scaled, "did not divide q's variance by the prior's variance"),
    (kl2_std_ratio, "used the ratio of standard deviations"),
    (kl2_mean_over_sigma, "divided the squared mean difference by sigma_p, not by the variance"),
    (kl2_half_log, "halved the log-variance term twice"),
    (kl2_no_minus_one, "left out the − 1"),
    (kl2_plus_means, "added the means where their difference belongs"),
    (kl2_standard_prior, "ignored the prior's mean and variance"),
    (kl2_no_mean, "left out the squared mean difference"),
    (kl2_divided_by_q, "divided by q's variance where the prior's variance"),
    (kl2_library, "called torch.distributions.kl_divergence"),
    (kl2_library_per_dim, "called torch.distributions.kl_divergence"),
    (kl2_detached, "no gradient reaches mu_q, log_var_q, mu_p, log_var_p"),
    (kl2_detached_prior, "no gradient reaches mu_p, log_var_p"),
    (kl2_float64_out, "returned float64, expected float32"),
    (kl2_per_dim, "returned one KL per latent dimension"),
    (kl2_batch_sum, "returned one number for the batch"),
])
def test_kl2_mistakes_are_named(answer, fragment):
    rejects(checks.check_kl_diag_gaussians, answer, fragment)


def kl2_mean_diff_not_squared(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, mean=(mu_q - mu_p) / log_var_p.exp())


def kl2_minus_one_once(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, minus=0.0) - 0.5


def kl2_divided_by_log_var(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, var=log_var_q.exp() / log_var_p,
                      mean=(mu_q - mu_p) ** 2 / log_var_p)


def kl2_var_over_sigma_p(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, var=log_var_q.exp() / torch.exp(0.5 * log_var_p))


def kl2_cross_entropy(mu_q, log_var_q, mu_p, log_var_p):
    return 0.5 * (math.log(2 * math.pi) + log_var_p + (log_var_q.exp() + (mu_q - mu_p) ** 2) / log_var_p.exp()).sum(1)


def kl2_abs_mean_diff(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, mean=(mu_q - mu_p).abs() / log_var_p.exp())


def kl2_exp_forgotten(mu_q, log_var_q, mu_p, log_var_p):
    return _kl2_terms(mu_q, log_var_q, mu_p, log_var_p, var=log_var_q / log_var_p, mean=(mu_q - mu_p) ** 2 / log_var_p)


def kl2_cpu_ones(mu_q, log_var_q, mu_p, log_var_p):
    return kl2_per_dim(mu_q, log_var_q, mu_p, log_var_p) @ torch.ones(mu_q.shape[1])


def kl2_in_place(mu_q, log_var_q, mu_p, log_var_p):
    return 0.5 * (log_var_p - log_var_q + (log_var_q.exp() + (mu_q - mu_p) ** 2) / log_var_p.exp_() - 1).sum(1)


def kl2_keepdim(*a):
    return kl2(*a)[:, None]


@pytest.mark.parametrize("answer, fragments", [
    (kl2_mean_diff_not_squared, ("did not square the mean difference",)),
    (kl2_minus_one_once, ("subtracted the 1 once per example",)),
    (kl2_divided_by_log_var, ("divided by the log-variance log_var_p as if it were the variance",)),
    (kl2_var_over_sigma_p, ("divided q's variance by sigma_p, not by the variance",)),
    (kl2_cross_entropy, ("returned the cross-entropy",)),
    (kl2_abs_mean_diff, ("wrong values", "expected")),
    (kl2_exp_forgotten, ("wrong values", "expected")),
    (kl2_cpu_ones, ("made a tensor on the CPU",)),
    (kl2_in_place, ("changed its input `log_var_p` in place",)),
    (kl2_keepdim, ("returned shape (8, 1), expected (8,)",)),
])
def test_kl2_more_mistakes(answer, fragments):
    rejects(checks.check_kl_diag_gaussians, answer, *fragments)


def kl2_matmul_on_device(mu_q, log_var_q, mu_p, log_var_p):
    ones = torch.ones(mu_q.shape[1], device=mu_q.device, dtype=mu_q.dtype)
    return kl2_per_dim(mu_q, log_var_q, mu_p, log_var_p) @ ones


def kl2_einsum(mu_q, log_var_q, mu_p, log_var_p):
    per_dim = log_var_p - log_var_q + torch.exp(log_var_q - log_var_p) + (mu_q - mu_p).square() * torch.exp(-log_var_p)
    return torch.einsum("bk->b", 0.5 * (per_dim - 1))


def kl2_cross_entropy_minus_library_entropy(mu_q, log_var_q, mu_p, log_var_p):
    cross = 0.5 * (math.log(2 * math.pi) + log_var_p + (log_var_q.exp() + (mu_q - mu_p) ** 2) / log_var_p.exp())
    return (cross - Normal(mu_q, torch.exp(0.5 * log_var_q)).entropy()).sum(1)


def kl2_python_sum(mu_q, log_var_q, mu_p, log_var_p):
    per_dim = kl2_per_dim(mu_q, log_var_q, mu_p, log_var_p)
    return sum(per_dim[:, j] for j in range(per_dim.shape[1]))


def kl2_keepdim_squeezed(*a):
    return kl2_per_dim(*a).sum(-1, keepdim=True).squeeze(-1)


def test_kl2_more_correct_answers_pass(capsys):
    for answer in (kl2_matmul_on_device, kl2_einsum, kl2_cross_entropy_minus_library_entropy, kl2_python_sum,
                   kl2_keepdim_squeezed):
        checks.check_kl_diag_gaussians(answer)
        checks.check_kl_diag_gaussians(answer, seed=1, batch=32, k=16)
        checks.check_kl_diag_gaussians(answer, seed=2, batch=3, k=2)
    out = capsys.readouterr().out
    assert out.count("✓") == 15 and "✗" not in out


def test_kl2_mistakes_differ_from_each_other_on_every_fixed_example():
    for seed, batch, k in ((0, 8, 4), (1, 32, 16), (2, 3, 2)):
        d = [t.detach() for t in lesson08._kl2_inputs(seed, batch, k).values()]
        values = [lesson08.kl_diag_reference(*d)] + [make() for _, make in lesson08._kl2_mistakes(*d)]
        for i, a in enumerate(values):
            for b in values[i + 1:]:
                assert not torch.allclose(a, b, rtol=1e-4, atol=1e-4)


def test_kl2_messages_print_no_formula():
    for answer in (kl2_swapped, kl2_no_minus_one, kl2_standard_prior, kl2_log_ratio_flipped):
        message = rejects(checks.check_kl_diag_gaussians, answer)
        assert "log_var_p - log_var_q" not in message and ".sum(" not in message and "/ sigma_p²)" not in message


def test_kl2_unknown_mistake_shows_what_was_measured():
    message = rejects(checks.check_kl_diag_gaussians, lambda a, b, c, d: kl2(a, b, c, d) + 0.01 * a[:, 0],
                      "wrong values", "expected")
    assert "swapped" not in message


def test_kl2_stub_and_library_still_usable_after_the_check():
    def stub(mu_q, log_var_q, mu_p, log_var_p):
        raise NotImplementedError()

    rejects(checks.check_kl_diag_gaussians, stub, "not written yet")
    rejects(checks.check_kl_diag_gaussians, kl2_library, "kl_divergence")
    args = [t.detach() for t in lesson08._kl2_inputs(0, 8, 4).values()]
    torch.testing.assert_close(kl2_library(*args), kl2(*args))  # the trap is gone again


# ---------------------------------------------------------------- 8.3 a Gaussian decoder's log-likelihood

LOG_2PI = math.log(2 * math.pi)


def gll(x, mean, log_var):
    return -0.5 * (LOG_2PI + log_var + (x - mean) ** 2 / log_var.exp()).sum(dim=1)


def gll_sigma(x, mean, log_var):
    sigma = torch.exp(0.5 * log_var)
    return (-torch.log(sigma) - 0.5 * math.log(2 * torch.pi) - ((x - mean) / sigma) ** 2 / 2).sum(-1)


def gll_float64(x, mean, log_var):
    return gll(x.double(), mean.double(), log_var.double()).to(x.dtype)


def gll_torch_constant(x, mean, log_var):
    const = torch.log(torch.tensor(2 * torch.pi))
    return -0.5 * (const + log_var + (x - mean).pow(2) * torch.exp(-log_var)).sum(dim=1)


def gll_terms(x, mean, log_var, const=LOG_2PI, log_term=None, square=None, half=0.5):
    log_term = log_var if log_term is None else log_term
    square = (x - mean) ** 2 / log_var.exp() if square is None else square
    return (-half * (const + log_term + square)).sum(dim=1)


def gll_negative(*a):
    return -gll(*a)


def gll_no_constant(x, mean, log_var):
    return gll_terms(x, mean, log_var, const=0.0)


def gll_no_log_var(x, mean, log_var):
    return gll_terms(x, mean, log_var, log_term=0 * log_var)


def gll_over_sigma(x, mean, log_var):
    return gll_terms(x, mean, log_var, square=(x - mean) ** 2 / torch.exp(0.5 * log_var))


def gll_times_var(x, mean, log_var):
    return gll_terms(x, mean, log_var, square=(x - mean) ** 2 * log_var.exp())


def gll_no_half(x, mean, log_var):
    return gll_terms(x, mean, log_var, half=1.0)


def gll_double_log(x, mean, log_var):
    return gll_terms(x, mean, log_var, log_term=2 * log_var)


def gll_unit_variance(x, mean, log_var):
    return -0.5 * (LOG_2PI + (x - mean) ** 2).sum(dim=1)


def gll_mean_pixels(*a):
    return gll(*a) / a[0].shape[1]


def gll_log_pi(x, mean, log_var):
    return gll_terms(x, mean, log_var, const=math.log(math.pi))


def gll_library(x, mean, log_var):
    from torch.distributions import Normal as Gaussian

    return Gaussian(mean, torch.exp(0.5 * log_var)).log_prob(x).sum(dim=1)


def gll_gaussian_nll_loss(x, mean, log_var):  # allowed: the text bans only torch.distributions' log_prob
    return -F.gaussian_nll_loss(mean, x, log_var.exp(), full=True, reduction="none").sum(dim=1)


def gll_gaussian_nll_loss_eps0(x, mean, log_var):
    return -F.gaussian_nll_loss(mean, x, log_var.exp(), full=True, reduction="none", eps=0).sum(1)


def gll_multivariate(x, mean, log_var):
    from torch.distributions import MultivariateNormal as MVN

    return MVN(mean, torch.diag_embed(log_var.exp())).log_prob(x)


def gll_detached_var(x, mean, log_var):
    return gll(x, mean, log_var.detach())


def gll_per_pixel(x, mean, log_var):
    return -0.5 * (LOG_2PI + log_var + (x - mean) ** 2 / log_var.exp())


def gll_float64_out(x, mean, log_var):
    return gll(x.double(), mean.double(), log_var.double())


def test_gll_correct_answers_pass(capsys):
    for answer in (gll, gll_sigma, gll_float64, gll_torch_constant):
        checks.check_gaussian_log_likelihood(answer)
        checks.check_gaussian_log_likelihood(answer, seed=1, batch=4, d=784)
        checks.check_gaussian_log_likelihood(answer, seed=2, batch=9, d=3)
    out = capsys.readouterr().out
    assert out.count("✓") == 12 and "✗" not in out


@pytest.mark.parametrize("answer, fragment", [
    (gll_negative, "returned the negative log-likelihood"),
    (gll_no_constant, "left out the constant log(2π)"),
    (gll_no_log_var, "left out the log-variance term"),
    (gll_over_sigma, "divided the squared error by sigma, not by the variance"),
    (gll_times_var, "multiplied the squared error by the variance"),
    (gll_no_half, "left out the factor 1/2"),
    (gll_double_log, "used the log-variance where the log of the standard deviation belongs"),
    (gll_unit_variance, "left out the variance altogether"),
    (gll_mean_pixels, "averaged over the pixels"),
    (gll_log_pi, "used log(π) where log(2π) belongs"),
    (gll_library, "called the log_prob of a torch.distributions distribution"),
    (gll_multivariate, "called the log_prob of a torch.distributions distribution"),
    (gll_detached_var, "no gradient reaches log_var"),
    (gll_per_pixel, "returned one log-density per pixel"),
    (gll_float64_out, "returned float64, expected float32"),
])
def test_gll_mistakes_are_named(answer, fragment):
    rejects(checks.check_gaussian_log_likelihood, answer, fragment)


def gll_square_sign(x, mean, log_var):
    return gll_terms(x, mean, log_var, square=-((x - mean) ** 2) / log_var.exp())


def gll_constant_not_halved(x, mean, log_var):
    return gll_terms(x, mean, log_var, const=2 * LOG_2PI)


def gll_log_var_halved_twice(x, mean, log_var):
    return gll_terms(x, mean, log_var, log_term=0.5 * log_var)


def gll_two_var_inside(x, mean, log_var):
    return gll_terms(x, mean, log_var, square=(x - mean) ** 2 / (2 * log_var.exp()))


def gll_log_var_as_log_sigma(x, mean, log_var):
    return gll_terms(x, mean, log_var, log_term=2 * log_var, square=(x - mean) ** 2 / torch.exp(2 * log_var))


def gll_variance_for_log(x, mean, log_var):
    return gll_terms(x, mean, log_var, log_term=log_var.exp())


def gll_not_squared(x, mean, log_var):
    return gll_terms(x, mean, log_var, square=(x - mean) / log_var.exp())


def gll_log_of_log_var(x, mean, log_var):
    return gll_terms(x, mean, log_var, log_term=torch.log(log_var))


def gll_detached_mean(x, mean, log_var):
    return gll(x, mean.detach(), log_var)


def gll_item(x, mean, log_var):
    return gll(x, mean, log_var).sum().item()


def gll_cpu_constant(x, mean, log_var):
    return (-0.5 * (torch.full((x.shape[1],), LOG_2PI) + log_var + (x - mean) ** 2 / log_var.exp())).sum(1)


def gll_batch_mean(*a):
    return gll(*a).mean()


@pytest.mark.parametrize("answer, fragments", [
    (gll_square_sign, ("the squared-error term has the wrong sign",)),
    (gll_constant_not_halved, ("did not halve the constant log(2π)",)),
    (gll_log_var_halved_twice, ("halved the log-variance term twice",)),
    (gll_two_var_inside, ("the ½ is counted twice",)),
    (gll_log_var_as_log_sigma, ("treated log_var as the log of the standard deviation",)),
    (gll_variance_for_log, ("used the variance where its log belongs",)),
    (gll_not_squared, ("wrong values", "expected")),
    (gll_log_of_log_var, ("returned NaN or inf",)),
    (gll_detached_mean, ("no gradient reaches mean",)),
    (gll_item, ("returned a Python number",)),
    (gll_cpu_constant, ("made a tensor on the CPU",)),
    (gll_batch_mean, ("returned one number for the batch",)),
])
def test_gll_more_mistakes(answer, fragments):
    rejects(checks.check_gaussian_log_likelihood, answer, *fragments)


def gll_split_sums(x, mean, log_var):
    return (-0.5 * ((x - mean) ** 2 * torch.exp(-log_var)).sum(1) - 0.5 * log_var.sum(1)
            - 0.5 * x.shape[1] * LOG_2PI)


def gll_log_of_density(x, mean, log_var):
    var = log_var.exp()
    return torch.log(torch.exp(-((x - mean) ** 2) / (2 * var)) / torch.sqrt(2 * math.pi * var)).sum(1)


def gll_mse_loss(x, mean, log_var):
    return (-0.5 * (LOG_2PI + log_var) - 0.5 * F.mse_loss(mean, x, reduction="none") / log_var.exp()).sum(1)


def gll_matmul_on_device(x, mean, log_var):
    per_pixel = -0.5 * (LOG_2PI + log_var + (x - mean) ** 2 / log_var.exp())
    return per_pixel @ torch.ones(x.shape[1], device=x.device, dtype=x.dtype)


def gll_rsqrt(x, mean, log_var):
    return (-0.5 * LOG_2PI - 0.5 * log_var - 0.5 * torch.square((x - mean) * torch.rsqrt(log_var.exp()))).sum(-1)


def test_gll_more_correct_answers_pass(capsys):
    for answer in (gll_gaussian_nll_loss, gll_gaussian_nll_loss_eps0, gll_split_sums, gll_log_of_density,
                   gll_mse_loss, gll_matmul_on_device, gll_rsqrt):
        checks.check_gaussian_log_likelihood(answer)
        checks.check_gaussian_log_likelihood(answer, seed=1, batch=4, d=784)
        checks.check_gaussian_log_likelihood(answer, seed=2, batch=9, d=3)
    out = capsys.readouterr().out
    assert out.count("✓") == 21 and "✗" not in out


def test_gll_mistakes_differ_from_each_other_on_every_fixed_example():
    for seed, batch, d in ((0, 6, 10), (1, 4, 784), (2, 9, 3)):
        x, m, lv = (t.detach() for t in lesson08._ll_inputs(seed, batch, d).values())
        ref = Independent(Normal(m, torch.exp(0.5 * lv)), 1).log_prob(x)
        values = [ref] + [make() for _, make in lesson08._ll_mistakes(x, m, lv, ref)]
        for i, a in enumerate(values):
            for b in values[i + 1:]:
                assert not torch.allclose(a, b, rtol=1e-4, atol=1e-4, equal_nan=True)


def test_gll_stub_in_place_and_fallback():
    def stub(x, mean, log_var):
        raise NotImplementedError()

    def in_place(x, mean, log_var):
        x -= mean.detach()
        return gll(x, mean, log_var)

    rejects(checks.check_gaussian_log_likelihood, stub, "not written yet")
    rejects(checks.check_gaussian_log_likelihood, in_place, "changed its input `x` in place")
    message = rejects(checks.check_gaussian_log_likelihood, lambda x, m, lv: gll(x, m, lv) + 0.01 * x[:, 0],
                      "wrong values", "expected")
    assert "left out" not in message


# ---------------------------------------------------------------- 8.4 and 8.5 predictions


@pytest.mark.parametrize("check, right, explanations", [
    (checks.check_prediction_8_4, "A", lesson08.WHY_8_4),
    (checks.check_prediction_8_5, "B", lesson08.WHY_8_5),
])
def test_predictions(check, right, explanations, capsys):
    for written in (right, right.lower(), f" {right}\n"):
        check(written)
    assert capsys.readouterr().out.count("✓") == 3
    for letter, why in explanations.items():
        if letter != right:
            rejects(check, letter, f"{letter} is not what happens", why)
            rejects(check, letter.lower(), why)
    for bad in ("E", "AB", 1, "the first"):
        rejects(check, bad, "expected one letter")
    rejects(check, None, "not written yet")
    assert len(set(explanations.values())) == len(explanations)


def test_iwae_toy_matches_the_prediction():
    exact, prior = checks.iwae_toy(q="posterior"), checks.iwae_toy(q="prior")
    for k in (1, 10, 100, 1000):
        assert abs(exact[k] - exact["log_px"]) < 1e-5
    assert prior[1] < prior[10] < prior[100] < prior[1000] < prior["log_px"]


# ---------------------------------------------------------------- 8.6 the beta experiment


@pytest.fixture
def fake_rate(monkeypatch):
    """A stand-in for the training run: KL = 9 / beta nats, reconstruction 180 + 8 beta."""
    calls = []

    def fake(beta, train, test):
        calls.append(beta)
        return {"beta": beta, "kl": 9.0 / max(beta, 1e-3), "recon": 180 + 8 * beta}

    monkeypatch.setattr(lesson08, "_train_rate", fake)
    monkeypatch.setattr(lesson08, "_rate_data", lambda: (None, None))
    lesson08._rate_cached.cache_clear()
    yield calls
    lesson08._rate_cached.cache_clear()


def test_beta_rate_accepts_betas_in_the_band(fake_rate, capsys):
    for beta in (3.0, 2.8, 3.2, torch.tensor(3.0), 3):
        checks.check_beta_rate(beta)
    out = capsys.readouterr().out
    assert out.count("✓") == 5 and "validation KL of 3.00 nats" in out


@pytest.mark.parametrize("beta, fragments", [
    (1.0, ("beta = 1 gives a validation KL of 9.00 nats", "6.00 nats above the target 3", "A larger beta")),
    (2.5, ("3.60 nats", "0.60 nats above the target")),
    (4.0, ("2.25 nats", "0.75 nats below the target", "A smaller beta")),
    (10.0, ("0.90 nats", "2.10 nats below")),
    (0.0, ("9000.00 nats", "above the target")),
    (3.5, ("2.57 nats", "below the target")),
])
def test_beta_rate_rejects_weak_settings_with_the_distance(fake_rate, beta, fragments):
    rejects(checks.check_beta_rate, beta, *fragments)


def test_beta_rate_rejects_non_numbers(fake_rate):
    rejects(checks.check_beta_rate, None, "not written yet")
    rejects(checks.check_beta_rate, -1.0, "beta = -1.0 is negative")
    rejects(checks.check_beta_rate, "3", "expected one number")
    rejects(checks.check_beta_rate, True, "expected one number")
    rejects(checks.check_beta_rate, float("nan"), "expected one number")
    rejects(checks.check_beta_rate, [3.0], "expected one number")
    assert fake_rate == []  # nothing was trained for them


def test_vae_rate_is_cached_and_validates(fake_rate):
    assert checks.vae_rate(2.0) == checks.vae_rate(2) and fake_rate == [2.0]
    with pytest.raises(ValueError, match="non-negative"):
        checks.vae_rate(-1)
