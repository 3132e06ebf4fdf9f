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

from aecourse import corruption, penalties  # noqa: E402
from aecourse import keras as aek  # noqa: E402

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


# --- the denoising input pipeline (lesson 04) ---------------------------------------------------

IMAGES = RNG.random((4_000, 784), dtype=np.float32) * (RNG.random((4_000, 784)) < 0.8)  # some exact zeros
TORCH_CORRUPTIONS = {"gaussian": corruption.gaussian_noise, "masking": corruption.mask_pixels,
                     "salt and pepper": corruption.salt_and_pepper}
LEVELS = {"gaussian": 0.5, "masking": 0.25, "salt and pepper": 0.1}


def _summary(x, x_tilde):
    """Statistics that pin down a per-pixel corruption: what changed, by how much, and to what."""
    changed = x_tilde != x
    return np.array([changed.mean(), (x_tilde == 0).mean(), (x_tilde == 1).mean(), x_tilde.mean(),
                     np.abs(x_tilde - x).mean(), (x_tilde**2).mean()])


@pytest.mark.parametrize("name", list(LEVELS))
def test_numpy_corruptions_match_aecourse_corruption(name):
    """The same definitions: the NumPy and the torch corruption agree in every statistic to sampling error."""
    level = LEVELS[name]
    ours = aek.CORRUPTIONS[name](IMAGES, level, rng=np.random.default_rng(1))
    theirs = TORCH_CORRUPTIONS[name](torch.from_numpy(IMAGES), level, generator=torch.Generator().manual_seed(1)).numpy()
    assert ours.dtype == np.float32 and ours.shape == IMAGES.shape and 0 <= ours.min() and ours.max() <= 1
    np.testing.assert_allclose(_summary(IMAGES, ours), _summary(IMAGES, theirs), rtol=0, atol=3e-3)


def test_numpy_corruptions_follow_their_definitions():
    x = IMAGES[:500]
    rng = np.random.default_rng(2)
    masked = aek.mask_pixels(x, 0.25, rng=rng)
    assert np.all((masked == x) | (masked == 0))  # pixels are kept or set to 0, nothing else
    hit = aek.salt_and_pepper(x, 0.1, rng=rng) != x
    assert np.all(np.isin(aek.salt_and_pepper(x, 1.0, rng=rng), [0.0, 1.0]))
    assert abs(hit.mean() - 0.1 * (1 - 0.5 * ((x == 0).mean() + (x == 1).mean()))) < 5e-3
    np.testing.assert_array_equal(aek.gaussian_noise(x, 0.0, rng=rng), x)  # no noise, no change
    per_image = aek.gaussian_noise(x, np.linspace(0, 1, len(x))[:, None], rng=rng)  # one level per image
    np.testing.assert_array_equal(per_image[0], x[0])
    before = x.copy()
    for corrupt in aek.CORRUPTIONS.values():
        corrupt(x, rng=rng)
    np.testing.assert_array_equal(x, before)  # the input is never modified


@pytest.mark.parametrize("bad, error, words", [
    (IMAGES[:4] * 2, ValueError, "[0, 1]"),
    ((IMAGES[:4] * 255).astype(np.uint8), TypeError, "floating"),
    (torch.zeros(2, 784), TypeError, "NumPy"),
])
def test_numpy_corruptions_reject_bad_images(bad, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        aek.gaussian_noise(bad, 0.5)


def test_corrupted_pairs_yield_corrupted_inputs_and_clean_targets():
    from functools import partial

    data = aek.CorruptedPairs(IMAGES[:1000], partial(aek.mask_pixels, fraction=0.5), batch_size=128, seed=0)
    assert len(data) == 8
    batches = [data[i] for i in range(len(data))]
    clean = np.concatenate([b[1] for b in batches])
    assert sorted(map(bytes, clean)) == sorted(map(bytes, IMAGES[:1000]))  # each image once per epoch
    assert batches[-1][0].shape == (1000 - 7 * 128, 784)
    x_tilde, target = batches[0]
    assert np.all((x_tilde == target) | (x_tilde == 0)) and (x_tilde != target).any()
    again, _ = data[0]
    assert (again != x_tilde).any()  # a fresh corruption every time a batch is drawn
    order = data.order.copy()
    data.on_epoch_end()
    assert (data.order != order).any()  # reshuffled for the next epoch
    replay = aek.CorruptedPairs(IMAGES[:1000], partial(aek.mask_pixels, fraction=0.5), batch_size=128, seed=0)
    np.testing.assert_array_equal(replay[0][0], x_tilde)  # the seed makes it repeatable


def test_model_evaluate_on_corrupted_pairs_scores_the_clean_images():
    """An identity model's loss on the pipeline is the squared error between corrupted and clean images.

    The corruption here halves every pixel, so the expected loss is exact (Keras may draw a batch
    more than once, e.g. to learn its shapes, which would change random corruptions).
    """
    keras.utils.set_random_seed(0)
    x = IMAGES[:500]  # 3 full batches and one of 116: the mean must weight batches by their size
    model = keras.Sequential([keras.Input((784,)), keras.layers.Identity()])
    model.compile(loss=lambda x, x_hat: ops.sum(ops.square(x - x_hat), axis=-1))
    loss = model.evaluate(aek.CorruptedPairs(x, lambda x, rng: 0.5 * x, batch_size=128), verbose=0)
    np.testing.assert_allclose(loss, (0.25 * x**2).sum(axis=1).mean(), rtol=1e-5)


def test_corrupted_pairs_rejects_bad_arguments():
    with pytest.raises(TypeError, match="NumPy array"):
        aek.CorruptedPairs(torch.zeros(4, 784), aek.mask_pixels)
    with pytest.raises(TypeError, match="corrupt"):
        aek.CorruptedPairs(IMAGES[:4], "masking")


def test_history_converts_a_keras_history_for_plot_history():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(8), keras.layers.Dense(784)])
    model.compile(optimizer="adam", loss="mse")
    h = aek.history(model.fit(IMAGES[:256], IMAGES[:256], validation_data=(IMAGES[:64], IMAGES[:64]),
                              epochs=2, batch_size=128, verbose=0))
    assert len(h.train_loss) == 2 and len(h.val_loss) == 2 and all(isinstance(v, float) for v in h.train_loss)
    assert isinstance(aek.describe_hardware(), str)
