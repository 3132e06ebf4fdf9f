"""The deep autoencoder of lesson 06 (Hinton & Salakhutdinov, 2006), trained outside the notebook.

Trains the 784-1000-500-250-30 autoencoder (linear 30-unit code, mirrored decoder) with the
recipe of lesson 06's `full` mode and prints its squared error per test image (summed over
pixels, averaged over the 10,000 test images), its error on the training images, and the wall
time, next to PCA with 30 components (13.87) and the paper's deep autoencoder (3.00).

The recipe, as the lesson explains it: SiLU hidden units; greedy layer-wise pretraining (each
layer a shallow autoencoder trained on the codes of the layer below); fine-tuning end to end
with the binary cross-entropy on logits, summed over pixels and averaged over the batch; Adam
with a short linear warm-up and a cosine decay to zero, batch 128. `--no-pretrain` trains the
same network from PyTorch's default random initialisation, everything else equal; `--init glorot`
starts every layer (pretrained or not) from Keras' default instead: Glorot-uniform weights, zero
biases, as the Keras companion of lesson 06 does.

Measured on an idle 2-core CPU (two threads) with --eval-every 10, the default recipe with
pretraining: test error 4.03, 3.28, 3.00, 2.86 after 10, 20, 30, 40 of its 50 epochs and 2.83
at the end (training images: 1.86), in 12 min of fine-tuning after 2.6 min of pretraining (an
earlier run on one busy core gave the same numbers in 38 min). With --no-pretrain, everything
else equal: 5.99, 4.35, 3.87, 3.69 and 3.65 at the end (training images: 2.22), in 11 min. From
PyTorch's default initialisation, the head start of pretraining survives the long schedule. From
Glorot's (--no-pretrain --init glorot): 3.90, 3.16, 2.86, 2.75 and 2.72 at the end (training
images: 1.69), in 9.5 min: a better random start does what pretraining did, and a little more.

    python benchmarks/deep_autoencoder_recipe.py                   # full-mode recipe, auto device
    python benchmarks/deep_autoencoder_recipe.py --no-pretrain     # the same without pretraining
    python benchmarks/deep_autoencoder_recipe.py --no-pretrain --init glorot  # ... from Keras' initialisation
    python benchmarks/deep_autoencoder_recipe.py --device cpu --n-train 10000 --epochs 5  # a short check
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import torch
import torch.nn.functional as F
from torch import nn

import aecourse

SIZES = (784, 1000, 500, 250, 30)
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU}
PAPER, PCA_30 = 3.00, 13.87  # Hinton & Salakhutdinov (2006), Fig. 2B: squared error per test image


INIT = {"torch": "PyTorch's default for nn.Linear, uniform in +-1/sqrt(d_in)",
        "glorot": "Keras' default for Dense: Glorot-uniform weights, zero biases"}


def layer_pair(d_in: int, d_out: int, act, code: bool, pixels: bool,
               init: str = "torch") -> tuple[nn.Module, nn.Module]:
    """Return one encoder layer d_in -> d_out and its decoder d_out -> d_in, as the lesson builds them."""
    encoder = nn.Sequential(nn.Linear(d_in, d_out)) if code else nn.Sequential(nn.Linear(d_in, d_out), act())
    decoder = nn.Sequential(nn.Linear(d_out, d_in)) if pixels else nn.Sequential(nn.Linear(d_out, d_in), act())
    if init == "glorot":
        for linear in (encoder[0], decoder[0]):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
    return encoder, decoder


def pair_loss(pixels: bool):
    """Return the loss of one shallow autoencoder: BCE on logits for pixels, else squared error."""
    def loss(pair, h):  # h (B, d_in); each summed over units, averaged over the batch
        out = pair(h)
        if pixels:
            return F.binary_cross_entropy_with_logits(out, h, reduction="none").sum(dim=1).mean()
        return ((out - h) ** 2).sum(dim=1).mean()
    return loss


def cosine_schedule(optimizer, total_steps: int, warmup: int):
    """Linear warm-up over `warmup` steps, then a cosine decay of the learning rate to zero."""
    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total_steps - warmup))))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train(model, loss_fn, x, epochs: int, batch_size: int, lr: float, weight_decay: float = 0.0,
          report=None, every: int = 0):
    """Train with Adam (AdamW if weight_decay) and the warm-up + cosine schedule; return the History.

    With every > 0, train in chunks of `every` epochs (one schedule throughout) and call
    report(epochs_done) after each chunk.
    """
    opt = (torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay) if weight_decay
           else torch.optim.Adam(model.parameters(), lr=lr))
    steps = epochs * math.ceil(len(x) / batch_size)
    sched = cosine_schedule(opt, steps, warmup=max(1, steps // 50))
    history, done = aecourse.History(), 0
    while done < epochs:
        chunk = min(every or epochs, epochs - done)
        part = aecourse.fit(model, loss_fn, x, epochs=chunk, batch_size=batch_size, optimizer=opt,
                            scheduler=sched, progress=False, verbose=False)
        for key in ("train_loss", "val_loss", "seconds"):
            getattr(history, key).extend(getattr(part, key))
        done += chunk
        if report is not None and every:
            report(done)
    return history


def pretrain(x, act, epochs: int, batch_size: int, lr: float, init: str = "torch"):
    """Greedy layer-wise pretraining: each layer a shallow autoencoder on the codes of the one below."""
    encoders, decoders, h = [], [], x
    for i, (d_in, d_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        encoder, decoder = layer_pair(d_in, d_out, act, code=i == len(SIZES) - 2, pixels=i == 0, init=init)
        pair = nn.Sequential(encoder, decoder).to(x.device)
        history = train(pair, pair_loss(pixels=i == 0), h, epochs, batch_size, lr)
        print(f"  layer {i + 1} ({d_in}-{d_out}): loss {history.train_loss[0]:.3f} -> {history.train_loss[-1]:.3f}")
        with torch.no_grad():
            h = aecourse.predict(encoder, h)  # (N, d_out): the codes the next layer learns from
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def random_layers(act, init: str = "torch"):
    """The same layers, freshly initialised (see INIT)."""
    pairs = [layer_pair(a, b, act, code=i == len(SIZES) - 2, pixels=i == 0, init=init)
             for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True))]
    return [e for e, _ in pairs], [d for _, d in pairs]


def bce_logits_loss(model, x):
    """BCE on the deep autoencoder's logits, summed over pixels, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(model(x), x, reduction="none").sum(dim=1).mean()


def se_loss(model, x):
    """Squared error of sigmoid(logits), summed over pixels, averaged over the batch."""
    return ((torch.sigmoid(model(x)) - x) ** 2).sum(dim=1).mean()


def error_per_image(model, x) -> float:
    """Mean over images of the squared error summed over pixels, of sigmoid(logits)."""
    return aecourse.squared_error_per_image(torch.sigmoid(aecourse.predict(model, x)), x).mean().item()


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--epochs", type=int, default=50, help="fine-tuning epochs (full mode: 50)")
    p.add_argument("--pretrain-epochs", type=int, default=10, help="epochs per pretrained layer")
    p.add_argument("--no-pretrain", action="store_true", help="start fine-tuning from random weights")
    p.add_argument("--init", choices=sorted(INIT), default="torch",
                   help="initialisation of every layer: " + "; ".join(f"{k}: {v}" for k, v in INIT.items()))
    p.add_argument("--act", choices=sorted(ACTIVATIONS), default="silu", help="hidden-unit activation")
    p.add_argument("--loss", choices=("bce", "se"), default="bce", help="fine-tuning loss")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of fine-tuning")
    p.add_argument("--pretrain-lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW's decoupled weight decay")
    p.add_argument("--n-train", type=int, default=60_000, help="training images (the paper: 60,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=0, help="print train and test error every N epochs")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)

    device = torch.device(args.device) if args.device else aecourse.get_device(verbose=False)
    x_train, _ = aecourse.load_mnist("train", flatten=True)
    x_test, _ = aecourse.load_mnist("test", flatten=True)
    x_train, x_test = x_train[: args.n_train].to(device), x_test.to(device)
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"{platform.machine()} CPU, {torch.get_num_threads()} threads")
    print(f"{hardware} | {len(x_train)} training images | {vars(args)}")

    aecourse.set_seed(args.seed)
    act = ACTIVATIONS[args.act]
    start = time.perf_counter()
    if args.no_pretrain or args.pretrain_epochs == 0:
        encoders, decoders = random_layers(act, args.init)
    else:
        encoders, decoders = pretrain(x_train, act, args.pretrain_epochs, args.batch_size, args.pretrain_lr,
                                      args.init)
    pretrain_s = time.perf_counter() - start
    model = nn.Sequential(*encoders, *decoders[::-1]).to(device)  # unrolled: 784 -> 30 -> 784 logits
    loss_fn = bce_logits_loss if args.loss == "bce" else se_loss
    curve = []

    def report(done):
        curve.append((done, error_per_image(model, x_train[:10_000]), error_per_image(model, x_test)))
        print(f"  epoch {done}: squared error per image, train {curve[-1][1]:.3f}, test {curve[-1][2]:.3f}",
              flush=True)

    history = train(model, loss_fn, x_train, args.epochs, args.batch_size, args.lr, args.weight_decay,
                    report=report, every=args.eval_every)
    if device.type == "cuda":
        torch.cuda.synchronize()
    total_s = time.perf_counter() - start
    result = {
        "test_error": error_per_image(model, x_test),
        "train_error": error_per_image(model, x_train[:10_000]),
        "pca_30": PCA_30, "paper": PAPER,
        "seconds": total_s, "pretrain_seconds": pretrain_s,
        "seconds_per_epoch": sum(history.seconds) / len(history),
        "final_train_loss": history.train_loss[-1], "curve": curve, "hardware": hardware, "args": vars(args),
    }
    print(f"squared error per image: test {result['test_error']:.3f}, train (first 10,000) "
          f"{result['train_error']:.3f} | PCA-30 {PCA_30}, paper {PAPER:.2f} | "
          f"{'below' if result['test_error'] < PAPER else 'NOT below'} the paper's 3.00")
    print(f"wall time {total_s:.1f} s (pretraining {pretrain_s:.1f} s, "
          f"{result['seconds_per_epoch']:.2f} s per fine-tuning epoch)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
