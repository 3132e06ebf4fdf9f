"""The variational autoencoder of lesson 08: reparameterization, the ELBO's terms, an MLP VAE and
the importance-sampled log-likelihood.

Conventions (lesson 08): the encoder returns mu and log_var = log sigma^2, both (B, K); the
decoder returns Bernoulli logits (B, D); per-example quantities are summed over latent dimensions
or pixels and returned as (B,); a training loss averages them over the batch, e.g.
loss = -elbo(logits, x, mu, log_var).mean().
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def _pair(mu, log_var, what: str) -> None:
    for name, t in (("mu", mu), ("log_var", log_var)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{what}: {name} must be a floating-point tensor, got "
                            f"{getattr(t, 'dtype', type(t).__name__)}")
    if mu.shape != log_var.shape:
        raise ValueError(f"{what}: mu and log_var must have one shape, got {tuple(mu.shape)} and "
                         f"{tuple(log_var.shape)}; both are the encoder's heads, (B, K)")


def _flat_images(x, what: str) -> torch.Tensor:
    """Return x as (B, D) and check that it holds pixel values in [0, 1]."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{what}: x must be a floating-point tensor of pixels in [0, 1], got "
                        f"{getattr(x, 'dtype', type(x).__name__)}")
    if x.dim() not in (2, 4):
        raise ValueError(f"{what}: expected images of shape (B, D) or (B, 1, H, W), got {tuple(x.shape)}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{what}: x must hold pixel values in [0, 1] (Bernoulli targets), got values in "
                         f"[{x.min().item():.3g}, {x.max().item():.3g}]; scale images to [0, 1] first")
    return x.flatten(1)


def reparameterize(mu: torch.Tensor, log_var: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Return z = mu + exp(0.5 * log_var) * eps, eps ~ N(0, I): mu, log_var (B, K) -> z (B, K) (lesson 08).

    Gradients flow to mu and log_var; the randomness is all in eps (drawn with `generator` if given).
    """
    _pair(mu, log_var, "reparameterize")
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * log_var) * eps


def kl_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Return KL(N(mu, sigma^2) || N(0, I)) per example, summed over latent dims: (B, K) -> (B,) (lesson 08).

    Closed form: 0.5 * sum_k (mu_k^2 + sigma_k^2 - 1 - log sigma_k^2), with log_var = log sigma^2.
    """
    _pair(mu, log_var, "kl_normal")
    if mu.dim() != 2:
        raise ValueError(f"kl_normal: expected mu and log_var of shape (B, K), got {tuple(mu.shape)}")
    return 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Return log p(x | z) = sum over pixels of log Bernoulli(x; sigmoid(logits)): (B, D) -> (B,) (lesson 08).

    Computed from logits (stable for any logit); x in [0, 1], usually binary.
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError("bernoulli_log_likelihood: logits must be a floating-point tensor (the decoder's "
                        f"output before any sigmoid), got {getattr(logits, 'dtype', type(logits).__name__)}")
    x = _flat_images(x, "bernoulli_log_likelihood")
    logits = logits.flatten(1)
    if logits.shape != x.shape:
        raise ValueError(f"bernoulli_log_likelihood: logits {tuple(logits.shape)} and x {tuple(x.shape)} "
                         "must hold the same number of images and pixels")
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)


def elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor,
         beta: float = 1.0) -> torch.Tensor:
    """Return the ELBO per example, log p(x | z) - beta * KL(q(z | x) || p(z)): (B,) (lesson 08).

    The training loss is its negative averaged over the batch: -elbo(...).mean().
    """
    recon, kl = bernoulli_log_likelihood(logits, x), kl_normal(mu, log_var)
    if len(recon) != len(kl):
        raise ValueError(f"elbo: {len(recon)} images but {len(kl)} codes; pass the batch's own mu and log_var")
    return recon - beta * kl


def _layers(sizes: Sequence[int]) -> list[nn.Module]:
    """Return Linear layers, each followed by a ReLU: [Linear, ReLU, ..., Linear, ReLU]."""
    layers: list[nn.Module] = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(d_in, d_out), nn.ReLU()]
    return layers


class MLPVAE(nn.Module):
    """A VAE with MLP encoder (two heads: mu, log_var) and MLP decoder to Bernoulli logits (lesson 08).

    encode(x (B, 784)) -> (mu, log_var), each (B, latent_dim); decode(z) -> logits (B, 784);
    forward(x) -> (logits, mu, log_var), with z drawn by reparameterize.
    """

    def __init__(self, latent_dim: int = 32, hidden: Sequence[int] = (512, 256), d: int = 784):
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        hidden = list(hidden)
        self.latent_dim = latent_dim
        self.body = nn.Sequential(*_layers([d, *hidden]))  # (B, hidden[-1])
        self.mu_head = nn.Linear(hidden[-1], latent_dim)
        self.log_var_head = nn.Linear(hidden[-1], latent_dim)
        self.decoder = nn.Sequential(*_layers([latent_dim, *hidden[::-1], d])[:-1])  # logits: no sigmoid

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x.flatten(1))
        return self.mu_head(h), self.log_var_head(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor):
        mu, log_var = self.encode(x)
        return self.decode(reparameterize(mu, log_var)), mu, log_var


@torch.no_grad()
def importance_log_likelihood(model: nn.Module, x: torch.Tensor, k: int = 1000, batch_size: int = 100,
                              chunk: int = 250, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return log p(x) estimated with k importance samples from q(z | x), per example: (B,) (lesson 08).

    log p(x) ~ log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x), computed by log-mean-exp. `model`
    needs encode(x) -> (mu, log_var) and decode(z) -> logits. Work goes `batch_size` images times
    `chunk` samples at a time, so memory stays small; `generator` (on the model's device) seeds the draws.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int (the number of importance samples), got {k!r}")
    if not (hasattr(model, "encode") and hasattr(model, "decode")):
        raise TypeError(f"model must have encode(x) -> (mu, log_var) and decode(z) -> logits, like "
                        f"aecourse.vae.MLPVAE; got {type(model).__name__}")
    x = _flat_images(x, "importance_log_likelihood")
    param = next(model.parameters(), None)
    device = param.device if param is not None else x.device
    was_training = model.training
    model.eval()
    out = []
    try:
        for xb in x.split(batch_size):
            xb = xb.to(device)
            mu, log_var = model.encode(xb)  # (b, K)
            std = torch.exp(0.5 * log_var)
            log_w = []
            for n in [chunk] * (k // chunk) + ([k % chunk] if k % chunk else []):
                eps = torch.randn((n, *mu.shape), generator=generator, device=device, dtype=mu.dtype)
                z = mu + std * eps  # (n, b, K)
                logits = model.decode(z.flatten(0, 1)).view(n, len(xb), -1)  # (n, b, D)
                log_px_z = -F.binary_cross_entropy_with_logits(
                    logits, xb.expand_as(logits), reduction="none").sum(dim=2)  # (n, b)
                log_pz = -0.5 * (z**2 + LOG_2PI).sum(dim=2)  # log N(z; 0, I)
                log_qz = -0.5 * (eps**2 + LOG_2PI + log_var).sum(dim=2)  # log N(z; mu, sigma^2)
                log_w.append(log_px_z + log_pz - log_qz)
            out.append(torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k))  # (b,)
    finally:
        model.train(was_training)
    return torch.cat(out).to(x.device)
