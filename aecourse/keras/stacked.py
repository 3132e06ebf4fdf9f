"""Greedy layer-wise pretraining with Model.fit per layer, and unrolling (lesson 06) in Keras."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

# --- Stacked autoencoders (lesson 06) ----------------------------------------------------------
# Greedy layer-wise pretraining with one Model.fit per layer, each layer a shallow autoencoder of
# the fixed codes of the trained layers below, and the unrolling of the trained layers into one
# deep autoencoder. The losses return one value per example (summed over its units) and Model.fit
# averages them over the batch: summed over pixels, averaged over the batch, as in the lesson.


def bce_with_logits(x, logits):
    """Return the BCE of targets x in [0, 1] given logits, summed over units: (B, D) -> (B,) (lesson 06).

    softplus(l) - x l equals -[x log sigmoid(l) + (1 - x) log(1 - sigmoid(l))] exactly, for any l.
    As a Keras loss, Model.fit averages it over the batch.
    """
    return ops.sum(ops.softplus(logits) - ops.multiply(x, logits), axis=-1)


def squared_error(x, x_hat):
    """Return the squared error summed over units: (B, D) -> (B,); Model.fit averages it over the batch."""
    return ops.sum(ops.square(ops.subtract(x, x_hat)), axis=-1)


def warmup_cosine(lr: float, steps: int, warmup_steps: int | None = None):
    """Return a learning-rate schedule: linear warm-up from 0 to lr, then a cosine decay to 0 (lesson 06).

    steps is the whole run's number of updates; warmup_steps defaults to 2% of them (at least 1).
    From the end of the warm-up on it equals the lesson's LambdaLR schedule; during the warm-up
    Keras' CosineDecay starts at 0 where the lesson starts at lr / warmup_steps.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"warmup_cosine needs the number of updates as a positive int, got steps={steps!r}")
    warmup = max(1, steps // 50) if warmup_steps is None else int(warmup_steps)
    if not 1 <= warmup <= steps:
        raise ValueError(f"warmup_cosine needs 1 <= warmup_steps <= steps={steps}, got {warmup_steps!r}")
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=max(1, steps - warmup),
                                                  warmup_target=lr, warmup_steps=warmup)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_stack_input(x, sizes) -> list[int]:
    """Return sizes as ints after checking that x (N, sizes[0]) is float data in [0, 1]."""
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating) or x.ndim != 2:
        got = f"an array of {x.dtype} with shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"pretrain_layerwise expects x as a 2-D floating NumPy array (N, D); got {got}. "
                        "Fix: aecourse.load_mnist(..., numpy=True, flatten=True) gives float32 (N, 784)")
    if len(x) == 0:
        raise ValueError("pretrain_layerwise got no examples: x has shape (0, D)")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"pretrain_layerwise expects x in [0, 1] (the first layer reconstructs it with the "
                         f"BCE); got values in [{x.min():.3g}, {x.max():.3g}]. Fix: scale x to [0, 1] first")
    if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
        raise ValueError(f"sizes must list at least two layer sizes, the data's dimension first, e.g. "
                         f"[784, 1000, 500, 250, 30]; got {sizes!r}")
    sizes = [_positive_int(s, "every entry of sizes") for s in sizes]
    if sizes[0] != x.shape[1]:
        raise ValueError(f"sizes must start with the data's dimension: x has shape {x.shape}, so sizes[0] "
                         f"should be {x.shape[1]}; got sizes={sizes}")
    return sizes


def _codes(layer, h: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Return layer(h) as a NumPy array, computed in chunks without training: h (N, D) -> (N, K)."""
    return np.concatenate([ops.convert_to_numpy(layer(h[i : i + chunk], training=False))
                           for i in range(0, len(h), chunk)])


def pretrain_layerwise(x: np.ndarray, sizes, *, activation="silu", code_activation=None, epochs: int = 1,
                       batch_size: int = 128, lr: float = 1e-3, optimizer=None, verbose=0):
    """Greedily pretrain one shallow autoencoder per pair of sizes; return [(encoder, decoder)], bottom first.

    x: (N, sizes[0]) float NumPy array in [0, 1]; sizes, e.g. [784, 1000, 500, 250, 30]. Layer k
    (k = 1, 2, ...) is an encoder Dense(sizes[k]) with `activation` (the top one with
    `code_activation`, linear by default) and a decoder Dense(sizes[k - 1]). Layer 1 reconstructs
    x: its decoder outputs logits and its loss is bce_with_logits; the layers above reconstruct the
    codes below with `activation` and squared_error. Both losses are summed over units and averaged
    over the batch. Each layer is trained with its own Model.fit(epochs, batch_size) on the codes of
    the trained layers below, computed once, after their training; the layers below stay fixed.
    optimizer(steps) must return a fresh optimizer for a run of `steps` updates; by default Adam
    with warmup_cosine(lr, steps). The returned Dense layers are the trained ones: see unroll.
    """
    sizes = _check_stack_input(x, sizes)
    epochs, batch_size = _positive_int(epochs, "epochs"), _positive_int(batch_size, "batch_size")
    if optimizer is None:
        def optimizer(steps):
            return keras.optimizers.Adam(warmup_cosine(lr, steps))
    elif not callable(optimizer):
        raise TypeError(f"optimizer must be a function steps -> a fresh keras optimizer, got {optimizer!r}")
    pairs, h = [], x  # h: the data of the current layer, the images at first
    for k in range(1, len(sizes)):
        top, pixels = k == len(sizes) - 1, k == 1
        encoder = keras.layers.Dense(sizes[k], activation=code_activation if top else activation)
        decoder = keras.layers.Dense(sizes[k - 1], activation=None if pixels else activation)
        pair = keras.Sequential([keras.Input((sizes[k - 1],)), encoder, decoder])
        pair.compile(optimizer=optimizer(epochs * math.ceil(len(h) / batch_size)),
                     loss=bce_with_logits if pixels else squared_error)
        pair.fit(h, h, epochs=epochs, batch_size=batch_size, verbose=verbose)
        h = _codes(encoder, h)  # (N, sizes[k]): the trained layer's codes, the next layer's data
        pairs.append((encoder, decoder))
    return pairs


def _copy_dense(layer, name: str):
    """Return a new, built layer with layer's configuration, a new name and a copy of its weights."""
    clone = type(layer).from_config({**layer.get_config(), "name": name})
    clone.build((None, layer.kernel.shape[0]))
    clone.set_weights(layer.get_weights())
    return clone


def unroll(pairs):
    """Return (encoder, decoder, autoencoder) Models built from copies of trained (encoder, decoder) Dense pairs.

    pairs, bottom first as pretrain_layerwise returns them: the encoder runs the encoders bottom
    up, the decoder the decoders top down, and the autoencoder the two in a row; its output is
    whatever the bottom decoder outputs (logits for pretrain_layerwise's). The layers are copies,
    so training the unrolled models leaves the pairs as they are.
    """
    if not isinstance(pairs, (list, tuple)) or not pairs:
        raise ValueError(f"unroll expects a non-empty list of (encoder, decoder) Dense pairs, got {pairs!r}")
    for k, pair in enumerate(pairs, start=1):
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(layer, keras.layers.Dense) for layer in pair)):
            raise TypeError(f"unroll expects (encoder, decoder) pairs of keras.layers.Dense; pair {k} is {pair!r}")
        if not all(layer.built for layer in pair):
            raise ValueError(f"pair {k} has an unbuilt layer; train it (pretrain_layerwise) or build it first")
        (d_in, d_out), back = tuple(pair[0].kernel.shape), tuple(pair[1].kernel.shape)
        if back != (d_out, d_in):
            raise ValueError(f"pair {k}: the encoder maps {d_in} -> {d_out}, so its decoder should map "
                             f"{d_out} -> {d_in}; it maps {back[0]} -> {back[1]}")
        if k > 1 and d_in != pairs[k - 2][0].kernel.shape[1]:
            raise ValueError(f"pair {k} takes {d_in} inputs, but the encoder of pair {k - 1} outputs "
                             f"{pairs[k - 2][0].kernel.shape[1]}; list the pairs bottom first")
    encoders = [_copy_dense(e, f"encoder_{k}") for k, (e, _) in enumerate(pairs, start=1)]
    decoders = [_copy_dense(d, f"decoder_{k}") for k, (_, d) in enumerate(pairs, start=1)][::-1]
    encoder = keras.Sequential([keras.Input((encoders[0].kernel.shape[0],)), *encoders], name="encoder")
    decoder = keras.Sequential([keras.Input((decoders[0].kernel.shape[0],)), *decoders], name="decoder")
    return encoder, decoder, keras.Sequential([encoder, decoder], name="autoencoder")
