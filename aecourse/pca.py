"""PCA by SVD, the baseline of every lesson; derived step by step in lesson 01."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PCA:
    """A fitted PCA: mean (D,), components (K, D) with orthonormal rows, variances (K,)."""

    mean: torch.Tensor
    components: torch.Tensor
    variances: torch.Tensor

    def encode(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Return the first k principal coordinates of x (N, D) or (N, 1, 28, 28): shape (N, k)."""
        return (_flat(x).to(self.mean) - self.mean) @ self.components[:k].T

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Map (N, k) coordinates back to (N, D) images."""
        k = codes.shape[1]
        return codes.to(self.mean) @ self.components[:k] + self.mean

    def reconstruct(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Project x onto the top-k subspace and back: (N, D)."""
        return self.decode(self.encode(x, k))


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1)


def fit_pca(x: torch.Tensor, max_components: int | None = None) -> PCA:
    """Fit PCA to x (N, D) or (N, 1, 28, 28) by an SVD of the centred data, in float64."""
    a = _flat(x).double()
    if len(a) < 2:
        raise ValueError(f"PCA needs at least two examples, got {tuple(x.shape)}")
    mean = a.mean(dim=0)
    _, s, vt = torch.linalg.svd(a - mean, full_matrices=False)
    k = max_components or len(s)
    return PCA(mean=mean, components=vt[:k], variances=s[:k] ** 2 / (len(a) - 1))


def pca_error_curve(pca: PCA, x: torch.Tensor, ks) -> dict[int, float]:
    """Return {k: squared error per image of x, summed over pixels} for each k in ks."""
    centred = _flat(x).double() - pca.mean
    total = (centred**2).sum(dim=1)  # (N,)
    coords2 = (centred @ pca.components[: max(ks)].T) ** 2  # (N, K)
    captured = coords2.cumsum(dim=1)  # energy kept by the first k components
    return {k: float((total - captured[:, k - 1]).mean()) if k > 0 else float(total.mean())
            for k in ks}
