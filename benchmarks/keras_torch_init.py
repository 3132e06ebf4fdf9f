"""Lesson 02's autoencoder in PyTorch and in Keras, each from its own default start and from the other's.

The model is lesson 02's k = 32 autoencoder (784-128-64-32-64-128-784, ReLU, sigmoid output),
trained as the lesson and its Keras companion train it: binary cross-entropy summed over pixels
and averaged over the batch, Adam at 1e-3, batches of 128, on the lesson's 55,000 training images,
then scored by the squared error per test image (summed over pixels, averaged over the 10,000
test images). Four arms, each from seed 0:

- torch-default:   nn.Linear's own start, weights and biases uniform in +-1/sqrt(fan_in) (the lesson);
- torch-glorot:    the same network with Keras' start, Glorot-uniform weights and zero biases;
- keras-default:   keras.layers.Dense's own start, Glorot-uniform kernels and zero biases;
- keras-torchlike: the same network with nn.Linear's start, kernels and biases uniform in
                   +-1/sqrt(fan_in) (aecourse.keras.torch_linear_init, as companion 02 starts).

If the start is the whole difference between the lesson and the companion, the arms pair up by
start, not by library. Measured on a 2-core CPU (torch 2.13, Keras 3.15 on TensorFlow 2.21), 50
epochs (the lesson's `full` mode), squared error per test image: torch-default 5.35 (the lesson's
own full-mode number), torch-glorot 4.54, keras-default 4.55 (companion 02's number while it kept
Keras' start), keras-torchlike 5.21; 6 min for the four (77 to 98 s per arm). So Glorot's start
lowers this model's error by 15 % in either library, and with the same start the two libraries
agree within 3 %.

    python benchmarks/keras_torch_init.py                      # all four arms, 50 epochs
    python benchmarks/keras_torch_init.py --epochs 10          # standard mode's length
    python benchmarks/keras_torch_init.py --arms torch-default torch-glorot   # no Keras needed
    KERAS_BACKEND=torch python benchmarks/keras_torch_init.py  # the Keras arms on the torch backend
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F
from torch import nn

import aecourse

ARMS = ("torch-default", "torch-glorot", "keras-default", "keras-torchlike")
SIZES = (784, 128, 64, 32, 64, 128, 784)  # lesson 02's encoder and decoder, k = 32
PAIRS = tuple(zip(SIZES[:-1], SIZES[1:], strict=True))  # (inputs, outputs) of each layer
CODE, OUTPUT = 2, 5  # the indices of the two layers without a ReLU: the code, the output (sigmoid)


def load(numpy: bool):
    """Return lesson 02's 55,000 training images and the 10,000 test images (tensors, or flat NumPy arrays)."""
    x_train, y_train = aecourse.load_mnist("train", numpy=numpy, flatten=numpy)
    x_test, _ = aecourse.load_mnist("test", numpy=numpy, flatten=numpy)
    (x_tr, _), _ = aecourse.train_val_split(x_train, y_train, val_size=5_000)
    return x_tr, x_test


def run_torch(glorot: bool, epochs: int) -> float:
    """Train lesson 02's model in PyTorch; return the squared error per test image."""
    x_tr, x_test = load(numpy=False)
    aecourse.set_seed(0)
    layers = [nn.Flatten()]
    for i, (d_in, d_out) in enumerate(PAIRS):
        layers.append(nn.Linear(d_in, d_out))
        layers.append(nn.Sigmoid() if i == OUTPUT else nn.Identity() if i == CODE else nn.ReLU())
    model = nn.Sequential(*layers)
    if glorot:  # keras.layers.Dense's defaults
        for layer in model:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def bce_loss(model, x):
        return F.binary_cross_entropy(model(x), x.flatten(1), reduction="none").sum(dim=1).mean()

    aecourse.fit(model, bce_loss, x_tr, epochs=epochs, batch_size=128)
    return aecourse.squared_error_per_image(aecourse.predict(model, x_test), x_test).mean().item()


def run_keras(torchlike: bool, epochs: int) -> float:
    """Train the companion's model in Keras (backend from KERAS_BACKEND); return the squared error per test image."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        from keras import layers, ops

        from aecourse import keras as aek
    except ImportError as error:
        raise SystemExit(f"the Keras arms need Keras 3 and a backend ({error}). Fix: pip install -e \".[keras]\", "
                         "or run only --arms torch-default torch-glorot") from error
    x_tr, x_test = load(numpy=True)
    keras.utils.set_random_seed(0)

    def dense(i, d_in, d_out):
        start = aek.torch_linear_init(d_in) if torchlike else {}  # nn.Linear's defaults, or Dense's own
        activation = "sigmoid" if i == OUTPUT else None if i == CODE else "relu"
        return layers.Dense(d_out, activation=activation, **start)

    model = keras.Sequential([keras.Input((784,))] + [dense(i, a, b) for i, (a, b) in enumerate(PAIRS)])

    def bce_loss(x, x_hat):  # per image, summed over pixels; Keras averages over the batch
        x_hat = ops.clip(x_hat, 1e-7, 1 - 1e-7)
        return -ops.sum(x * ops.log(x_hat) + (1 - x) * ops.log(1 - x_hat), axis=-1)

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=bce_loss)
    model.fit(x_tr, x_tr, epochs=epochs, batch_size=128, verbose=0)
    x_hat = ops.convert_to_numpy(model(x_test, training=False))
    return aecourse.squared_error_per_image(x_hat, x_test).mean().item()  # the same metric as the torch arms


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="which arms to train, in order")
    p.add_argument("--epochs", type=int, default=50, help="epochs per arm (lesson 02: 10 standard, 50 full)")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error(f"--epochs must be at least 1, got {args.epochs}")

    results = {"args": vars(args), "torch": torch.__version__, "threads": torch.get_num_threads(),
               "squared_error_per_test_image": {}, "seconds": {}}
    for arm in args.arms:
        start = time.perf_counter()
        library, init = arm.split("-")
        run = run_torch if library == "torch" else run_keras
        error = run(init != "default", args.epochs)  # True: the other library's start
        seconds = time.perf_counter() - start
        results["squared_error_per_test_image"][arm] = error
        results["seconds"][arm] = seconds
        print(f"{arm:16s} {args.epochs} epochs: squared error per test image {error:.2f} ({seconds:.0f} s)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
