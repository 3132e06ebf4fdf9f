"""Keras 3 pieces for the Keras companions (notebooks/keras): what Keras has no built-in for.

Backend-agnostic (keras.ops, keras.random, keras.layers), so the same code runs with
KERAS_BACKEND=tensorflow (the default, as on Colab) and KERAS_BACKEND=torch. Each piece
follows the conventions of the PyTorch lessons and of aecourse.penalties, and
tests/test_keras_parity.py checks that they agree with them to 1e-5 on both backends:
reconstruction losses summed over pixels and averaged over the batch, penalties averaged
over the batch (the KL sparsity penalty compares batch means).

One Keras detail matters here: since Keras 3.14 the value of an `activity_regularizer` is
divided by the batch size before it joins the loss; Keras 3.0-3.13 add it as it is. The
regularizers (aecourse.keras.regularizers) measure what the installed Keras does and undo it, so that
they add exactly the penalty that the lessons define, on every version.

The denoising corruption (lesson 04) lives in the input pipeline (.pipeline), with NumPy twins of
aecourse.corruption's three corruptions: fit_fresh corrupts the whole training set afresh every
epoch and fits it from arrays (fast on every backend); CorruptedPairs, a keras.utils.PyDataset,
yields (corrupted, clean) batches with a fresh corruption every time, for data that do not fit
in memory.

Stacked autoencoders (lesson 06, .stacked): pretrain_layerwise trains a deep autoencoder greedily, one
Model.fit per layer on the fixed codes of the trained layers below, and unroll stacks copies of
the trained layers into one deep encoder, decoder and autoencoder.

The VAE of lesson 08 (.vae) trains with a plain Model.fit: its compute_loss returns the negative ELBO
(reconstruction and KL reported as metrics), a Sampling layer reparameterizes, and the
images are binarized afresh in the input pipeline: binarize with fit_fresh, or BinarizedImages.
"""

from __future__ import annotations

import numbers
import os
import platform

from ..training import History

try:
    import keras
except ImportError as err:  # the package works without Keras; only this module needs it
    raise ImportError(f"aecourse.keras needs Keras 3 ({err}). Fix: pip install 'aecourse[keras]' "
                      "(Keras 3 and TensorFlow), or pip install keras and set KERAS_BACKEND=torch") from None

if int(keras.__version__.split(".")[0]) < 3:
    raise ImportError(f"aecourse.keras needs Keras 3; found Keras {keras.__version__}. "
                      "Fix: pip install -U 'keras>=3'")

# The pieces, by lesson; `from aecourse import keras as aek` gives them all (aek.KLSparsity, ...).
from .pipeline import (  # noqa: E402 (after the check)
    CORRUPTIONS,
    CorruptedPairs,
    fit_fresh,
    gaussian_noise,
    mask_pixels,
    salt_and_pepper,
)
from .regularizers import (  # noqa: E402
    ContractiveDense,
    KLSparsity,
    L1Activity,
    activity_loss_divisor_is_batch,
    bce_sum,
    contractive_sigmoid,
    kl_sparsity,
    l1_activity,
)
from .stacked import bce_with_logits, pretrain_layerwise, squared_error, unroll, warmup_cosine  # noqa: E402
from .vae import (  # noqa: E402
    VAE,
    BinarizedImages,
    Sampling,
    bernoulli_log_likelihood,
    binarize,
    elbo,
    importance_log_likelihood,
    importance_log_weights,
    kl_normal,
    mlp_vae,
    reparameterize,
)

__all__ = ["CORRUPTIONS", "VAE", "BinarizedImages", "ContractiveDense", "CorruptedPairs", "KLSparsity",
           "L1Activity", "Sampling", "activity_loss_divisor_is_batch", "bce_sum", "bce_with_logits",
           "bernoulli_log_likelihood", "binarize", "contractive_sigmoid", "describe_hardware", "elbo",
           "fit_fresh", "gaussian_noise", "history", "importance_log_likelihood", "importance_log_weights", "kl_normal",
           "kl_sparsity", "l1_activity", "mask_pixels", "mlp_vae", "pretrain_layerwise", "reparameterize",
           "salt_and_pepper", "squared_error", "torch_linear_init", "unroll", "warmup_cosine"]


# --- Small conveniences for the companions ----------------------------------------------------


def history(keras_history) -> History:
    """Return a keras.callbacks.History (from Model.fit) as an aecourse History, for plot_history."""
    logs = keras_history.history
    return History(train_loss=list(map(float, logs["loss"])),
                   val_loss=list(map(float, logs.get("val_loss", []))))


def torch_linear_init(fan_in: int) -> dict:
    """Return Dense's initializers for PyTorch's start: {"kernel_initializer": ..., "bias_initializer": ...}.

    PyTorch's nn.Linear(fan_in, units) draws its weights and its biases uniformly in
    +-1/sqrt(fan_in); Keras' Dense draws a Glorot-uniform kernel, +-sqrt(6 / (fan_in + units)),
    and zero biases. Use it as `layers.Dense(units, **torch_linear_init(fan_in))`, with fan_in the
    number of inputs of the layer, to start a Keras model where the PyTorch lesson's starts. Every
    call returns new initializers: Keras draws the same values each time one unseeded initializer
    is reused, so call it once per layer. Its seeds come from keras.utils.set_random_seed.
    """
    if isinstance(fan_in, bool) or not isinstance(fan_in, numbers.Integral) or fan_in < 1:
        raise ValueError(f"fan_in must be the layer's number of inputs, a positive int; got {fan_in!r}. "
                         "Fix: pass the size of the layer's input, e.g. 784 for the first layer of an MLP on MNIST")
    bound = fan_in**-0.5
    return {"kernel_initializer": keras.initializers.RandomUniform(-bound, bound),
            "bias_initializer": keras.initializers.RandomUniform(-bound, bound)}


def describe_hardware() -> str:
    """Return what Keras computes on: the GPU's name, or the CPU and its cores."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    elif backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return device.device_kind
    return f"{platform.machine()} CPU, {os.cpu_count()} cores"
