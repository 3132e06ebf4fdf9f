"""Keras-vs-PyTorch parity cases, run by tests/test_keras_parity.py once per Keras backend.

Each case builds the Keras and the PyTorch version of one piece with the same weights and
checks that outputs and loss values agree within 1e-5 on the same batch. Not collected by
pytest directly (the backend must be chosen before keras is imported).
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from aecourse import keras as aek  # noqa: E402
from aecourse import penalties  # noqa: E402

TOL = {"rtol": 1e-5, "atol": 1e-5}
RNG = np.random.default_rng(0)
X = RNG.random((16, 784), dtype=np.float32)


def _np(t) -> np.ndarray:
    return ops.convert_to_numpy(t)


def _dense_pair(d_in, d_out, activation=None):
    """Return a built keras Dense and an nn.Linear with the same weights."""
    dense = keras.layers.Dense(d_out, activation=activation)
    dense.build((None, d_in))
    linear = nn.Linear(d_in, d_out)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(_np(dense.kernel).T.copy()))
        linear.bias.copy_(torch.from_numpy(RNG.normal(size=d_out).astype(np.float32)))
    dense.bias.assign(linear.bias.detach().numpy())
    return dense, linear


def test_mlp_autoencoder_outputs_and_bce_agree():
    sizes = [784, 128, 64, 32]
    pairs = [_dense_pair(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    pairs += [_dense_pair(a, b) for a, b in zip(sizes[::-1][:-1], sizes[::-1][1:], strict=True)]
    h_k, h_t = ops.convert_to_tensor(X), torch.from_numpy(X)
    for i, (dense, linear) in enumerate(pairs):
        h_k, h_t = dense(h_k), linear(h_t)
        last = i == len(pairs) - 1
        if i != 2 and not last:  # ReLU between layers; the code (layer 3) stays linear
            h_k, h_t = ops.relu(h_k), torch.relu(h_t)
        if last:
            h_k, h_t = ops.sigmoid(h_k), torch.sigmoid(h_t)
    np.testing.assert_allclose(_np(h_k), h_t.detach().numpy(), **TOL)
    reference = F.binary_cross_entropy(h_t, torch.from_numpy(X), reduction="sum") / len(X)
    np.testing.assert_allclose(_np(aek.bce_sum(ops.convert_to_tensor(X), h_k)), reference.item(), **TOL)


@pytest.mark.parametrize("batch", [8, 64])
def test_kl_sparsity_regularizer_adds_the_lessons_penalty(batch):
    dense, linear = _dense_pair(784, 50, activation="sigmoid")
    dense.activity_regularizer = aek.KLSparsity(rho=0.05, beta=3.0)
    x = X[:batch] if batch <= len(X) else RNG.random((batch, 784), dtype=np.float32)
    h_k = dense(ops.convert_to_tensor(x))
    h_t = torch.sigmoid(linear(torch.from_numpy(x)))
    np.testing.assert_allclose(_np(h_k), h_t.detach().numpy(), **TOL)
    expected = penalties.kl_sparsity(h_t, rho=0.05, beta=3.0).item()
    np.testing.assert_allclose(float(_np(ops.sum(dense.losses))), expected, **TOL)


def test_l1_activity_regularizer_adds_the_lessons_penalty():
    dense, linear = _dense_pair(784, 50, activation="relu")
    dense.activity_regularizer = aek.L1Activity(1e-3)
    h_k = dense(ops.convert_to_tensor(X))
    h_t = torch.relu(linear(torch.from_numpy(X)))
    np.testing.assert_allclose(_np(h_k), h_t.detach().numpy(), **TOL)
    expected = penalties.l1_activity(h_t, 1e-3).item()
    np.testing.assert_allclose(float(_np(ops.sum(dense.losses))), expected, **TOL)


def test_contractive_dense_adds_the_closed_form_penalty():
    layer = aek.ContractiveDense(40, lam=0.3)
    layer.build((None, 784))
    linear = nn.Linear(784, 40)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(_np(layer.kernel).T.copy()))
        linear.bias.copy_(torch.from_numpy(_np(layer.bias)))
    h_k = layer(ops.convert_to_tensor(X))
    h_t = torch.sigmoid(linear(torch.from_numpy(X)))
    np.testing.assert_allclose(_np(h_k), h_t.detach().numpy(), **TOL)
    expected = penalties.contractive_sigmoid(h_t, linear.weight, lam=0.3).item()
    np.testing.assert_allclose(float(_np(ops.sum(layer.losses))), expected, **TOL)
    # and the closed form is the Jacobian's squared Frobenius norm, by autograd
    autograd = 0.3 * penalties.jacobian_frobenius_sq(nn.Sequential(linear, nn.Sigmoid()), torch.from_numpy(X)).mean()
    np.testing.assert_allclose(float(_np(ops.sum(layer.losses))), autograd.item(), **TOL)
