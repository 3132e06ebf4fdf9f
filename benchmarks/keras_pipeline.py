"""Milliseconds per training step of Keras' Model.fit, fed three ways, on the backend Keras picks.

The model and loss are those of the Keras companion of lesson 04 (an MLP 784-1024-784 with a
ReLU code and a sigmoid output, squared error summed over pixels, Adam, batches of 128), trained
on MNIST with Gaussian noise (noise factor 0.5) as the corruption. The three ways of feeding it:

- arrays:    Model.fit(x_noisy, x) on one fixed corrupted copy (a speed reference only: the
             corruption never changes, which is not what a denoising autoencoder should see);
- fit_fresh: aecourse.keras.fit_fresh, a fresh corruption of the whole set every epoch, then
             one epoch of Model.fit from arrays (what the companions use);
- pydataset: aecourse.keras.CorruptedPairs, a keras.utils.PyDataset that corrupts every batch.

Each way trains a fresh model for one warm-up epoch (on TensorFlow it traces the graph) and then
`--epochs` timed epochs, in a Python process of its own, as the first training of that process,
like the first `fit` of a notebook. The order matters on TensorFlow: in a process whose first
`fit` drew from a PyDataset, later fits from plain arrays ran as slowly (`--same-process --ways
pydataset arrays` shows it), while a PyDataset fitted after arrays ran at their speed.
Run it alone on an idle machine; pick the backend as for the notebooks:

    python benchmarks/keras_pipeline.py                        # KERAS_BACKEND, default tensorflow
    KERAS_BACKEND=torch python benchmarks/keras_pipeline.py
    python benchmarks/keras_pipeline.py --n-train 12800 --epochs 2   # a quicker check
    python benchmarks/keras_pipeline.py --same-process --ways pydataset arrays   # the order effect

Measured on a 2-core CPU (idle, Keras 3.15) with the defaults, milliseconds per step (arrays /
fit_fresh / pydataset): TensorFlow 2.21 21.5 / 22.0 / 28.6 in one run and 16.8 / 19.1 / 41.0 in
another; torch 2.13 15.9 / 17.0 / 16.7. In one process, `--same-process --ways pydataset arrays`
gave 36.1 and then 34.9, `--ways arrays pydataset` 24.1 and then 18.1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from functools import partial

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402 (after choosing the backend)
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

import aecourse  # noqa: E402
from aecourse import keras as aek  # noqa: E402

WAYS = ("arrays", "fit_fresh", "pydataset")


def make_dae() -> keras.Model:
    """The companion of lesson 04's denoising autoencoder, compiled with Adam and the summed squared error."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), layers.Dense(1024, activation="relu"),
                              layers.Dense(784, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=lambda x, x_hat: ops.sum(ops.square(x - x_hat), axis=-1))
    return model


def time_way(way: str, x: np.ndarray, epochs: int, batch_size: int) -> float:
    """Return the milliseconds per step of `epochs` epochs fed `way`, after one warm-up epoch."""
    corrupt = partial(aek.gaussian_noise, noise_factor=0.5)
    model = make_dae()
    if way == "arrays":
        x_noisy = corrupt(x, rng=np.random.default_rng(0))

        def run(n):
            model.fit(x_noisy, x, batch_size=batch_size, epochs=n, shuffle=True, verbose=0)
    elif way == "fit_fresh":
        def run(n):
            aek.fit_fresh(model, x, corrupt, epochs=n, batch_size=batch_size, verbose=0)
    else:
        data = aek.CorruptedPairs(x, corrupt, batch_size=batch_size)

        def run(n):
            model.fit(data, epochs=n, verbose=0)
    run(1)
    start = time.perf_counter()
    run(epochs)
    steps = epochs * math.ceil(len(x) / batch_size)
    return 1000 * (time.perf_counter() - start) / steps


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=55_000, help="training images (the companion's 55,000)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per way, after one warm-up epoch")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS), help="in this order")
    p.add_argument("--same-process", action="store_true",
                   help="time the ways one after another in this process, not each in a fresh one")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)

    x, _ = aecourse.load_mnist("train", numpy=True, flatten=True)
    x = x[: args.n_train]
    backend = keras.backend.backend()
    print(f"Keras {keras.__version__}, backend {backend} | {aek.describe_hardware()} | {len(x)} images, "
          f"batch {args.batch_size}, {args.epochs} timed epochs per way", flush=True)
    results = {"backend": backend, "keras": keras.__version__, "hardware": aek.describe_hardware(),
               "args": vars(args), "ms_per_step": {}}
    for way in args.ways:
        if args.same_process:
            ms = time_way(way, x, args.epochs, args.batch_size)
        else:  # a fresh process per way: each is the first training of its process
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "way.json")
                subprocess.run([sys.executable, __file__, "--same-process", "--ways", way, "--n-train",
                                str(args.n_train), "--epochs", str(args.epochs), "--batch-size",
                                str(args.batch_size), "--json", out], check=True, stdout=subprocess.DEVNULL)
                with open(out) as f:
                    ms = json.load(f)["ms_per_step"][way]
        results["ms_per_step"][way] = ms
        print(f"{way:10s} {ms:6.1f} ms per step", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
