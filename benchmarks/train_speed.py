"""Training speed: a typical tutorial's DataLoader loop against aecourse.fit, on real MNIST.

Both train the MLP autoencoder that many PyTorch tutorials use (784-128-64-32, ReLU,
sigmoid output, MSE, Adam 1e-3, batch 128) from the same initial weights, on the same
machine. The tutorial's way reads torchvision's MNIST one item at a time through a
DataLoader; aecourse.fit keeps the data in one tensor and draws batches by index. Each
runs in its own process so that its peak memory is its own. After every epoch the test
MSE per pixel is measured (off the clock) until it reaches the target. Last, fit's
arithmetic rate (FLOP/s of this model's forward and backward passes) is set against what
one plain matrix multiply reaches on the same device: the share of the machine fit uses.

    python benchmarks/train_speed.py                 # both methods, auto device
    python benchmarks/train_speed.py --device cpu --max-epochs 40
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

import aecourse


class TutorialAutoencoder(nn.Module):
    """The tutorials' model: 784-128-64-32 with ReLU, sigmoid output; returns (x_hat, z)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                     nn.Linear(64, 32))
        self.decoder = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(),
                                     nn.Linear(128, 784), nn.Sigmoid())

    def forward(self, x):
        z = self.encoder(x.view(-1, 784))
        return self.decoder(z), z


class PerSampleMNIST(Dataset):
    """The tutorials' data path without torchvision: torchvision.datasets.MNIST + transforms.ToTensor.

    Per item, as torchvision does it: the uint8 image becomes a PIL image, and
    ToTensor turns it back into a (1, 28, 28) float tensor divided by 255.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, via_pil: bool = True):
        self.images, self.labels = torch.from_numpy(images), torch.from_numpy(labels)
        self.via_pil = via_pil

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        if not self.via_pil:  # a leaner per-sample path, for comparison: no PIL round trip
            return self.images[i].float().div(255).unsqueeze(0), int(self.labels[i])
        pic = Image.fromarray(self.images[i].numpy(), mode="L")
        img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
        img = img.view(pic.size[1], pic.size[0], 1).permute((2, 0, 1)).contiguous()
        return img.to(dtype=torch.get_default_dtype()).div(255), int(self.labels[i])


def recon_loss(model, x):
    """MSE averaged over pixels and batch, as nn.MSELoss() does by default."""
    x_hat, _ = model(x)
    return F.mse_loss(x_hat, x.view(-1, 784))


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_one(method: str, device: torch.device, target: float, max_epochs: int,
            via_pil: bool = True) -> dict:
    x_train, y_train = aecourse.load_mnist("train")
    x_test, _ = aecourse.load_mnist("test")
    x_test = x_test.to(device)
    aecourse.set_seed(0)
    model = TutorialAutoencoder().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    if method == "dataloader":
        images = (x_train.squeeze(1).numpy() * 255).round().astype(np.uint8)
        loader = DataLoader(PerSampleMNIST(images, y_train.numpy(), via_pil), batch_size=128, shuffle=True)

        def train_epoch():
            model.train()
            total = 0.0
            for img, _ in loader:
                img = img.to(device)
                loss = recon_loss(model, img)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item()
    else:
        x_dev = x_train.to(device)

        def train_epoch():
            aecourse.fit(model, recon_loss, x_dev, epochs=1, batch_size=128, optimizer=opt,
                         progress=False, verbose=False)

    epoch_seconds, test_mse, reached_at = [], [], None
    for epoch in range(1, max_epochs + 1):
        _sync(device)
        start = time.perf_counter()
        train_epoch()
        _sync(device)
        epoch_seconds.append(time.perf_counter() - start)
        test_mse.append(aecourse.evaluate(model, recon_loss, x_test))
        if test_mse[-1] <= target:
            reached_at = epoch
            break
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {
        "method": method,
        "epochs_run": len(epoch_seconds),
        "seconds_per_epoch": statistics.median(epoch_seconds),
        "epoch_seconds": epoch_seconds,
        "test_mse": test_mse,
        "reached_target_at_epoch": reached_at,
        "seconds_to_target": sum(epoch_seconds) if reached_at else None,
        "peak_memory_mib": peak,
        "peak_memory_kind": "GPU allocated" if device.type == "cuda" else "process RSS",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--target", type=float, default=0.0095, help="test MSE per pixel to reach")
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--no-pil", action="store_true",
                        help="give the DataLoader loop a leaner per-sample path without the PIL round trip")
    parser.add_argument("--method", choices=["dataloader", "fit"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = (aecourse.get_device(verbose=False) if args.device == "auto"
              else torch.device(args.device))

    if args.method:  # child process: one method, JSON on stdout
        print(json.dumps(run_one(args.method, device, args.target, args.max_epochs,
                                 via_pil=not args.no_pil)))
        return

    hardware = (torch.cuda.get_device_name(0) if device.type == "cuda"
                else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    print(f"device: {device.type} ({hardware}); torch {torch.__version__}; "
          f"target test MSE {args.target} per pixel; at most {args.max_epochs} epochs; "
          f"DataLoader items {'without' if args.no_pil else 'via'} PIL")
    results = {}
    for method in ("dataloader", "fit"):
        cmd = [sys.executable, __file__, "--method", method, "--device", device.type,
               "--target", str(args.target), "--max-epochs", str(args.max_epochs)]
        cmd += ["--no-pil"] if args.no_pil else []
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[method] = r = json.loads(out.stdout.strip().splitlines()[-1])
        to_target = (f"{r['seconds_to_target']:.1f} s (epoch {r['reached_target_at_epoch']}, "
                     f"test MSE {r['test_mse'][-1]:.5f})" if r["seconds_to_target"]
                     else f"not reached in {r['epochs_run']} epochs (test MSE {r['test_mse'][-1]:.5f})")
        print(f"{method:>10}: {r['seconds_per_epoch']:.2f} s/epoch (median of {r['epochs_run']}), "
              f"to target {to_target}, peak {r['peak_memory_kind']} {r['peak_memory_mib']:.0f} MiB")
    s, f = results["dataloader"], results["fit"]
    print(f"speed-up per epoch: {s['seconds_per_epoch'] / f['seconds_per_epoch']:.2f}x")
    if s["seconds_to_target"] and f["seconds_to_target"]:
        print(f"speed-up to target: {s['seconds_to_target'] / f['seconds_to_target']:.2f}x")
    achieved = epoch_flop(TutorialAutoencoder(), 60_000) / f["seconds_per_epoch"]
    peak = matmul_flops_per_second(device)
    print(f"fit: {achieved / 1e9:.1f} GFLOP/s of forward and backward passes; one 2048x2048 float32 "
          f"matrix multiply: {peak / 1e9:.1f} GFLOP/s; fit uses {achieved / peak:.0%} of it")


def epoch_flop(model: nn.Module, n: int) -> float:
    """Return about the FLOP of one epoch over n images: 2 per weight per image forward, twice that backward (biases and activations left out)."""
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    return 3 * 2 * weights * n


def matmul_flops_per_second(device: torch.device, size: int = 2048, repeats: int = 20) -> float:
    """Return the FLOP/s of a plain float32 matrix multiply on device (the median of repeats)."""
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    (a @ b).sum().item()  # warm up
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times)


if __name__ == "__main__":
    main()
