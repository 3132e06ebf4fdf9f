"""The penalties of lessons 02, 03 and 05 in Keras: activity regularizers, the contractive layer, the BCE."""

from __future__ import annotations

import functools

import keras
from keras import ops

from ..penalties import _EPS  # the same clamp of rho_hat as the PyTorch penalty


@functools.cache
def activity_loss_divisor_is_batch() -> bool:
    """Return whether this Keras divides an activity regularizer's value by the batch size (3.14+)."""
    probe = keras.layers.Identity(activity_regularizer=lambda h: ops.sum(h) * 0.0 + 1.0)
    probe(ops.ones((4, 1)))
    return abs(float(ops.convert_to_numpy(probe.losses[0])) - 0.25) < 1e-6


def _undo_batch_division(value, h):
    """Return value scaled so that Keras' own handling of activity losses leaves `value` unchanged."""
    if activity_loss_divisor_is_batch():
        return value * ops.cast(ops.shape(h)[0], value.dtype)
    return value


def kl_sparsity(h, rho: float = 0.05, beta: float = 3.0):
    """Return beta * sum_j KL(rho || rho_hat_j), rho_hat_j the batch mean of sigmoid unit j (lesson 03)."""
    rho_hat = ops.clip(ops.mean(h, axis=0), _EPS, 1 - _EPS)
    kl = rho * ops.log(rho / rho_hat) + (1 - rho) * ops.log((1 - rho) / (1 - rho_hat))
    return beta * ops.sum(kl)


def l1_activity(h, lam: float):
    """Return lam * mean over the batch of sum_j |h_j| (lesson 03)."""
    return lam * ops.mean(ops.sum(ops.abs(h), axis=1))


@keras.saving.register_keras_serializable(package="aecourse")
class KLSparsity(keras.regularizers.Regularizer):
    """Activity regularizer adding beta * sum_j KL(rho || rho_hat_j) to the loss, for sigmoid units."""

    def __init__(self, rho: float = 0.05, beta: float = 3.0):
        if not 0 < rho < 1:
            raise ValueError(f"KLSparsity needs a target rate 0 < rho < 1, got rho={rho}")
        self.rho, self.beta = float(rho), float(beta)

    def __call__(self, h):
        return _undo_batch_division(kl_sparsity(h, self.rho, self.beta), h)

    def get_config(self) -> dict:
        return {"rho": self.rho, "beta": self.beta}


@keras.saving.register_keras_serializable(package="aecourse")
class L1Activity(keras.regularizers.Regularizer):
    """Activity regularizer adding lam * mean_b sum_j |h_j| (keras.regularizers.L1 sums over the batch too)."""

    def __init__(self, lam: float):
        self.lam = float(lam)

    def __call__(self, h):
        return _undo_batch_division(l1_activity(h, self.lam), h)

    def get_config(self) -> dict:
        return {"lam": self.lam}


def contractive_sigmoid(h, kernel, lam: float = 1.0):
    """Return lam * mean_b sum_j (h_j (1 - h_j))^2 sum_i W_ij^2 for h = sigmoid(x W + b) (lesson 05).

    kernel is the Dense layer's kernel, shape (D, K): Keras stores (in, out), the transpose
    of torch's nn.Linear weight, so the sum over inputs runs over axis 0 here.
    """
    column_norms = ops.sum(ops.square(kernel), axis=0)  # (K,)
    per_example = ops.sum(ops.square(h * (1 - h)) * column_norms, axis=1)  # (B,)
    return lam * ops.mean(per_example)


@keras.saving.register_keras_serializable(package="aecourse")
class ContractiveDense(keras.layers.Dense):
    """A sigmoid Dense layer that adds lam * mean_b ||J(x_b)||_F^2 (closed form) to the model's loss."""

    def __init__(self, units: int, lam: float = 0.1, **kwargs):
        kwargs.pop("activation", None)
        super().__init__(units, activation="sigmoid", **kwargs)
        self.lam = float(lam)

    def call(self, inputs):
        h = super().call(inputs)
        self.add_loss(contractive_sigmoid(h, self.kernel, self.lam))
        return h

    def get_config(self) -> dict:
        return {**super().get_config(), "lam": self.lam}


def bce_sum(x, x_hat):
    """Return the binary cross-entropy summed over pixels and averaged over the batch (lesson 02).

    x_hat holds probabilities; each log is clamped at -100, as torch's binary_cross_entropy does.
    """
    x, x_hat = ops.reshape(x, (ops.shape(x)[0], -1)), ops.reshape(x_hat, (ops.shape(x_hat)[0], -1))
    log_p = ops.maximum(ops.log(x_hat), -100.0)
    log_q = ops.maximum(ops.log(1 - x_hat), -100.0)
    return -ops.mean(ops.sum(x * log_p + (1 - x) * log_q, axis=1))
