"""The VAE of lesson 08 in Keras: Sampling, the ELBO's terms, a VAE trained by Model.fit, importance sampling."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from .pipeline import CorruptedPairs, _images

# --- Variational autoencoders (lesson 08) ------------------------------------------------------
# The twins of aecourse.vae: the reparameterization as a Sampling layer, the ELBO's two terms
# with the same reductions (per example, summed over pixels or latent dimensions), a VAE whose
# compute_loss is the negative ELBO averaged over the batch (no train_step of its own, so
# Model.fit runs it on every backend), dynamic binarization in the input pipeline, and the
# importance-sampled log-likelihood.

LOG_2PI = math.log(2 * math.pi)


def _heads(mu, log_var, what: str) -> None:
    """Check that mu and log_var look like the encoder's two heads: one shape, (B, K)."""
    if tuple(mu.shape) != tuple(log_var.shape):
        raise ValueError(f"{what}: mu and log_var must have one shape, got {tuple(mu.shape)} and "
                         f"{tuple(log_var.shape)}; both are the encoder's heads, (B, K)")
    if len(mu.shape) != 2:
        raise ValueError(f"{what}: expected mu and log_var of shape (B, K), got {tuple(mu.shape)}")


def reparameterize(mu, log_var, eps):
    """Return z = mu + exp(0.5 * log_var) * eps: mu, log_var, eps (B, K) -> z (B, K) (lesson 08)."""
    _heads(mu, log_var, "reparameterize")
    return mu + ops.exp(0.5 * log_var) * eps


@keras.saving.register_keras_serializable(package="aecourse")
class Sampling(keras.layers.Layer):
    """Return z = mu + exp(0.5 * log_var) * eps, eps ~ N(0, I), from [mu, log_var], each (B, K) (lesson 08).

    Gradients reach mu and log_var through z; the randomness is all in eps, drawn afresh on every
    call (in training and in evaluation alike) from a keras.random.SeedGenerator seeded with `seed`.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mu, log_var = inputs
        _heads(mu, log_var, "Sampling")
        eps = keras.random.normal(ops.shape(mu), dtype=self.compute_dtype, seed=self.seed_generator)
        return reparameterize(mu, log_var, eps)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


def kl_normal(mu, log_var):
    """Return KL(N(mu, sigma^2) || N(0, I)) per example, summed over latent dims: (B, K) -> (B,) (lesson 08).

    Closed form: 0.5 * sum_k (mu_k^2 + sigma_k^2 - 1 - log sigma_k^2), with log_var = log sigma^2.
    """
    _heads(mu, log_var, "kl_normal")
    return 0.5 * ops.sum(ops.square(mu) + ops.exp(log_var) - 1 - log_var, axis=1)


def bernoulli_log_likelihood(x, logits):
    """Return log p(x | z) = sum over pixels of log Bernoulli(x; sigmoid(logits)): (B, D) -> (B,) (lesson 08).

    Target first, as in Keras losses (aecourse.vae's twin takes logits first). x in [0, 1],
    usually binary; images (B, H, W, C) are flattened. From logits, stable for any logit:
    x log sigmoid(a) + (1 - x) log(1 - sigmoid(a)) = x a - softplus(a).
    """
    if isinstance(x, np.ndarray):
        _images(x, "bernoulli_log_likelihood")
    if len(x.shape) < 2 or x.shape[0] != logits.shape[0] or math.prod(x.shape[1:]) != math.prod(logits.shape[1:]):
        raise ValueError(f"bernoulli_log_likelihood: x {tuple(x.shape)} and logits {tuple(logits.shape)} must "
                         "hold the same number of images and pixels (the decoder's logits, before any sigmoid)")
    x = ops.reshape(ops.cast(x, logits.dtype), (-1, math.prod(x.shape[1:])))
    logits = ops.reshape(logits, (-1, math.prod(logits.shape[1:])))
    return ops.sum(x * logits - ops.softplus(logits), axis=1)


def elbo(x, logits, mu, log_var, beta: float = 1.0):
    """Return the ELBO per example, log p(x | z) - beta * KL(q(z | x) || p(z)): (B,) (lesson 08).

    The training loss is its negative averaged over the batch, as VAE.compute_loss returns it.
    """
    return bernoulli_log_likelihood(x, logits) - beta * kl_normal(mu, log_var)


@keras.saving.register_keras_serializable(package="aecourse")
class VAE(keras.Model):
    """A VAE trained by Model.fit: encoder x -> [mu, log_var], decoder z -> Bernoulli logits (lesson 08).

    call(x) returns (logits, mu, log_var), with z drawn by a Sampling layer. compute_loss is the
    negative ELBO, -log p(x | z) summed over pixels + beta * KL summed over latent dims, averaged
    over the batch; fit and evaluate also report its terms as `reconstruction` (-log p(x | z)) and
    `kl`, per image. The target is the input: fit it on images only, e.g. BinarizedImages(x).
    """

    def __init__(self, encoder, decoder, beta: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if float(beta) < 0:
            raise ValueError(f"beta weighs the KL term and must be >= 0, got {beta}")
        self.encoder, self.decoder, self.beta, self.seed = encoder, decoder, float(beta), seed
        self.sampling = Sampling(seed=seed)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def encode(self, x, training=False):
        """Return mu and log_var, each (B, K)."""
        heads = self.encoder(x, training=training)
        if not isinstance(heads, (list, tuple)) or len(heads) != 2:
            raise ValueError("the encoder must return two heads, [mu, log_var], each (B, K)")
        return heads[0], heads[1]

    def decode(self, z, training=False):
        """Return the Bernoulli logits of the images, before any sigmoid."""
        return self.decoder(z, training=training)

    def call(self, x, training=False):
        mu, log_var = self.encode(x, training=training)
        return self.decode(self.sampling([mu, log_var]), training=training), mu, log_var

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Return the negative ELBO averaged over the batch (plus any add_loss terms)."""
        if y is not None or sample_weight is not None:
            raise ValueError("a VAE reconstructs its input, so fit and evaluate take images only: "
                             "vae.fit(x) or vae.fit(aecourse.keras.BinarizedImages(x)), not fit(x, y)")
        logits, mu, log_var = y_pred
        recon, kl = -bernoulli_log_likelihood(x, logits), kl_normal(mu, log_var)  # (B,) each, nats
        self.reconstruction_tracker.update_state(recon)
        self.kl_tracker.update_state(kl)
        loss = ops.mean(recon + self.beta * kl)
        return loss + ops.sum(self.losses) if self.losses else loss

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": self.beta, "seed": self.seed,
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for half in ("encoder", "decoder"):
            config[half] = keras.saving.deserialize_keras_object(config[half])
        return cls(**config)


def mlp_vae(latent_dim: int = 32, hidden=(512, 256), d: int = 784, beta: float = 1.0,
            seed: int | None = None) -> VAE:
    """Return lesson 08's VAE with MLP halves, layer for layer aecourse.vae.MLPVAE (ReLU, logits out)."""
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
    x = keras.Input((d,))
    h = x
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"body_{i}")(h)
    heads = [keras.layers.Dense(latent_dim, name="mu")(h), keras.layers.Dense(latent_dim, name="log_var")(h)]
    encoder = keras.Model(x, heads, name="encoder")
    decoder = keras.Sequential([keras.Input((latent_dim,))]
                               + [keras.layers.Dense(u, activation="relu") for u in hidden[::-1]]
                               + [keras.layers.Dense(d, name="logits")], name="decoder")
    return VAE(encoder, decoder, beta=beta, seed=seed)


def binarize(x: np.ndarray, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Return binary images drawn pixel by pixel, x_bin ~ Bernoulli(x): grey levels in [0, 1] -> {0, 1}."""
    x = _images(x, "binarize")
    rng = np.random.default_rng() if rng is None else rng
    return (rng.random(x.shape, dtype=np.float32) < x).astype(x.dtype)


class BinarizedImages(CorruptedPairs):
    """Batches of images binarized afresh every time they are drawn, for VAE.fit (lesson 08).

    x: grey levels (N, ...) in [0, 1] as a NumPy array. Yields inputs only (a VAE's target is its
    input), reshuffled every epoch; `seed` makes the stream repeatable.
    """

    def __init__(self, x: np.ndarray, batch_size: int = 128, shuffle: bool = True, seed: int | None = 0, **kwargs):
        super().__init__(_images(x, "BinarizedImages") if isinstance(x, np.ndarray) else x, binarize,
                         batch_size=batch_size, shuffle=shuffle, seed=seed, **kwargs)

    def __getitem__(self, index: int) -> np.ndarray:
        return super().__getitem__(index)[0]


def importance_log_weights(model, x, eps):
    """Return log p(x | z) + log p(z) - log q(z | x) for z = mu + sigma eps: x (b, D), eps (n, b, K) -> (n, b).

    `model` needs encode(x) -> (mu, log_var) and decode(z) -> logits, like VAE (lesson 08).
    """
    mu, log_var = model.encode(x)  # (b, K)
    n, b, k = eps.shape
    if (b, k) != tuple(mu.shape):
        raise ValueError(f"eps must have shape (n, {mu.shape[0]}, {mu.shape[1]}) for these images, got {tuple(eps.shape)}")
    z = mu + ops.exp(0.5 * log_var) * eps  # (n, b, K)
    logits = model.decode(ops.reshape(z, (n * b, k)))  # (n b, D)
    x_rep = ops.reshape(ops.broadcast_to(ops.reshape(x, (1, b, -1)), (n, b, math.prod(x.shape[1:]))), (n * b, -1))
    log_px_z = ops.reshape(bernoulli_log_likelihood(x_rep, logits), (n, b))
    log_pz = -0.5 * ops.sum(ops.square(z) + LOG_2PI, axis=2)  # log N(z; 0, I)
    log_qz = -0.5 * ops.sum(ops.square(eps) + LOG_2PI + log_var, axis=2)  # log N(z; mu, sigma^2)
    return log_px_z + log_pz - log_qz


def importance_log_likelihood(model, x: np.ndarray, k: int = 1000, batch_size: int = 100, chunk: int = 250,
                              seed: int | None = None) -> np.ndarray:
    """Return log p(x) per image from k importance samples of q(z | x), by log-mean-exp: (N, D) -> (N,) (lesson 08).

    log p(x) ~ log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x). Works `batch_size` images times
    `chunk` samples at a time, so memory stays small; `seed` seeds the draws. Returns NumPy.
    """
    for name, value in (("k", k), ("batch_size", batch_size), ("chunk", chunk)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int (k: the number of importance samples), got {value!r}")
    if not (hasattr(model, "encode") and hasattr(model, "decode")):
        raise TypeError(f"model must have encode(x) -> (mu, log_var) and decode(z) -> logits, like "
                        f"aecourse.keras.VAE; got {type(model).__name__}")
    x = _images(x, "importance_log_likelihood")
    seed_generator = keras.random.SeedGenerator(seed)
    latent_dim = model.encode(ops.convert_to_tensor(x[:1]))[0].shape[1]
    out = []
    for start in range(0, len(x), batch_size):
        xb = ops.convert_to_tensor(x[start : start + batch_size])
        log_w = []
        for n in [chunk] * (k // chunk) + ([k % chunk] if k % chunk else []):
            eps = keras.random.normal((n, len(xb), latent_dim), seed=seed_generator)  # (n, b, K)
            log_w.append(importance_log_weights(model, xb, eps))
        log_mean_w = ops.logsumexp(ops.concatenate(log_w, axis=0), axis=0) - math.log(k)  # (b,)
        out.append(ops.convert_to_numpy(log_mean_w))
    return np.concatenate(out)
