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


def _torch_started_dense(d_in, d_out):
    dense = keras.layers.Dense(d_out, **aek.torch_linear_init(d_in))
    dense.build((None, d_in))
    return _np(dense.kernel), _np(dense.bias)


def test_torch_linear_init_draws_kernel_and_bias_as_nn_linear_does():
    d_in, d_out = 784, 1000
    torch.manual_seed(0)
    linear = nn.Linear(d_in, d_out)  # the reference: PyTorch's own start
    keras.utils.set_random_seed(0)
    kernel, bias = _torch_started_dense(d_in, d_out)
    assert kernel.shape == (d_in, d_out) and bias.shape == (d_out,)
    for ours, theirs in [(kernel, linear.weight), (bias, linear.bias)]:
        theirs = theirs.detach().numpy()
        assert np.abs(ours).max() <= np.abs(theirs).max() * 1.001  # the same bound, 1 / sqrt(784)
        assert np.abs(ours).max() >= 0.99 * np.abs(theirs).max()
        np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.05)  # uniform: bound / sqrt(3)
        assert abs(ours.mean()) < 0.1 * theirs.std()
    glorot = keras.layers.Dense(d_out)
    glorot.build((None, d_in))  # Keras' own start is wider, with zero biases: what the helper replaces
    assert _np(glorot.kernel).std() > 1.3 * kernel.std() and not _np(glorot.bias).any()


def test_torch_linear_init_draws_afresh_per_layer_and_repeats_with_the_seed():
    keras.utils.set_random_seed(0)
    first, second = _torch_started_dense(64, 32), _torch_started_dense(64, 32)
    assert not np.allclose(first[0], second[0]) and not np.allclose(first[1], second[1])
    keras.utils.set_random_seed(0)
    again = _torch_started_dense(64, 32)
    np.testing.assert_array_equal(again[0], first[0])
    np.testing.assert_array_equal(again[1], first[1])


@pytest.mark.parametrize("fan_in", [0, -3, 2.5, True, "784", None])
def test_torch_linear_init_rejects_a_fan_in_that_is_not_a_positive_int(fan_in):
    with pytest.raises(ValueError, match="positive int"):
        aek.torch_linear_init(fan_in)


def test_torch_linear_init_takes_numpy_integers():
    assert aek.torch_linear_init(np.int64(784))["kernel_initializer"].maxval == pytest.approx(784**-0.5)


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


def _identity_model(optimizer=None):
    """A 784-784 linear model that starts as the identity, compiled with the summed squared error.

    The default optimizer is SGD with learning rate 0: the model stays the identity, so its loss is exact.
    """
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(784, use_bias=False, kernel_initializer="identity")])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.0), loss=lambda x, x_hat: ops.sum(ops.square(x - x_hat), -1))
    return model


def test_fit_fresh_transforms_the_whole_set_afresh_every_epoch_with_clean_targets():
    x, seen = IMAGES[:1000], []

    def halve_and_mask(images, rng):
        out = 0.5 * aek.mask_pixels(images, 0.5, rng=rng)
        seen.append(out)
        return out

    model = _identity_model()  # the identity throughout: its loss is known exactly
    history = aek.fit_fresh(model, x, halve_and_mask, epochs=3, batch_size=128, seed=7, verbose=0,
                            validation_data=(0.5 * x[:200], x[:200]))
    assert len(seen) == 3 and all(s.shape == x.shape for s in seen)
    assert (seen[0] != seen[1]).any() and (seen[1] != seen[2]).any()  # a new corruption every epoch
    rng = np.random.default_rng(7)  # the seed makes the draws repeatable: replay them
    for s in seen:
        np.testing.assert_array_equal(s, 0.5 * aek.mask_pixels(x, 0.5, rng=rng))
    expected = [((s - x) ** 2).sum(axis=1).mean() for s in seen]  # inputs corrupted, targets clean
    np.testing.assert_allclose(history.train_loss, expected, rtol=1e-5)
    np.testing.assert_allclose(history.val_loss, [(0.25 * x[:200] ** 2).sum(axis=1).mean()] * 3, rtol=1e-5)
    assert len(history.seconds) == 3 and min(history.seconds) > 0
    assert int(_np(model.optimizer.iterations)) == 3 * 8  # one run of steps: a schedule sees them all


def test_fit_fresh_trains_and_prints_one_line_per_epoch(capsys):
    keras.utils.set_random_seed(0)
    model = _identity_model(keras.optimizers.Adam(1e-3))
    history = aek.fit_fresh(model, IMAGES[:512], lambda x, rng: aek.gaussian_noise(x, 0.3, rng=rng), epochs=3,
                            verbose=2)
    assert history.train_loss[-1] < history.train_loss[0]  # it learns to denoise a little
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch 1/3") and "ms/step - loss: " in lines[0]


def test_fit_fresh_without_targets_fits_a_vae_on_fresh_binarizations():
    vae, _ = _vae_pair()
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = aek.fit_fresh(vae, IMAGES[:300], aek.binarize, targets=False, epochs=2, verbose=0,
                            validation_data=X_BIN)
    assert len(history.train_loss) == 2 and len(history.val_loss) == 2
    assert int(_np(vae.optimizer.iterations)) == 2 * 3


@pytest.mark.parametrize("call, error, words", [
    (lambda m: aek.fit_fresh(m, torch.zeros(4, 784), aek.mask_pixels, epochs=1), TypeError, "NumPy array"),
    (lambda m: aek.fit_fresh(m, IMAGES[:4], "masking", epochs=1), TypeError, "transform"),
    (lambda m: aek.fit_fresh(m, IMAGES[:4], aek.mask_pixels, epochs=0), ValueError, "epochs"),
    (lambda m: aek.fit_fresh(m, IMAGES[:4], lambda x, rng: x[:2], epochs=1), ValueError, "shaped like x"),
    (lambda m: aek.fit_fresh(keras.Sequential([keras.Input((784,)), keras.layers.Dense(784)]), IMAGES[:4],
                             aek.mask_pixels, epochs=1), ValueError, "compiled"),
])
def test_fit_fresh_rejects_bad_arguments(call, error, words):
    with pytest.raises(error, match=words):
        call(_identity_model())


def test_history_converts_a_keras_history_for_plot_history():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(8), keras.layers.Dense(784)])
    model.compile(optimizer="adam", loss="mse")
    h = aek.history(model.fit(IMAGES[:256], IMAGES[:256], validation_data=(IMAGES[:64], IMAGES[:64]),
                              epochs=2, batch_size=128, verbose=0))
    assert len(h.train_loss) == 2 and len(h.val_loss) == 2 and all(isinstance(v, float) for v in h.train_loss)
    assert isinstance(aek.describe_hardware(), str)


# --- stacked autoencoders (lesson 06) -----------------------------------------------------------

STACK = [784, 48, 24, 8]  # a small stand-in for 784-1000-500-250-30
DIGITS = IMAGES[:300]  # (300, 784) in [0, 1]


def _lesson06_layers(sizes):
    """Return the lesson's encoders and decoders (lesson 06's layer_pair): SiLU, a linear code, pixel logits."""
    encoders, decoders = [], []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        code, pixels = k == len(sizes) - 1, k == 1
        encoders.append(nn.Sequential(nn.Linear(a, b)) if code else nn.Sequential(nn.Linear(a, b), nn.SiLU()))
        decoders.append(nn.Sequential(nn.Linear(b, a)) if pixels else nn.Sequential(nn.Linear(b, a), nn.SiLU()))
    return encoders, decoders


def _dense_from(block: nn.Sequential):
    """Return a built Dense with the weights of nn.Sequential(nn.Linear[, nn.SiLU])."""
    linear = block[0]
    dense = keras.layers.Dense(linear.out_features, activation="silu" if len(block) > 1 else None)
    dense.build((None, linear.in_features))
    dense.set_weights([linear.weight.detach().numpy().T.copy(), linear.bias.detach().numpy().copy()])
    return dense


def test_unrolled_autoencoder_matches_the_lessons_torch_unroll():
    torch.manual_seed(0)
    encoders, decoders = _lesson06_layers([784, 1000, 500, 250, 30])
    deep = nn.Sequential(*encoders, *decoders[::-1])  # the lesson's unroll (without the copies)
    pairs = [(_dense_from(e), _dense_from(d)) for e, d in zip(encoders, decoders, strict=True)]
    encoder, decoder, autoencoder = aek.unroll(pairs)
    x = torch.from_numpy(X)
    with torch.no_grad():
        logits, z = deep(x).numpy(), nn.Sequential(*encoders)(x).numpy()
        expected = (F.binary_cross_entropy_with_logits(deep(x), x, reduction="sum") / len(x)).item()
    assert autoencoder.count_params() == sum(p.numel() for p in deep.parameters())
    np.testing.assert_allclose(_np(autoencoder(X)), logits, **TOL)
    np.testing.assert_allclose(_np(encoder(X)), z, **TOL)  # the linear 30-unit code
    np.testing.assert_allclose(_np(decoder(encoder(X))), logits, **TOL)
    bce = aek.bce_with_logits(X, autoencoder(X))  # (B,): summed over pixels; NumPy targets, backend logits
    assert tuple(bce.shape) == (len(X),)
    np.testing.assert_allclose(float(_np(ops.mean(bce))), expected, **TOL)
    autoencoder.compile(loss=aek.bce_with_logits)  # Model.fit/evaluate average over the batch
    np.testing.assert_allclose(autoencoder.evaluate(X, X, batch_size=len(X), verbose=0), expected, rtol=1e-5)
    pairs[0][0].kernel.assign(np.zeros((784, 1000), dtype="float32"))  # the unrolled layers are copies
    np.testing.assert_allclose(_np(autoencoder(X)), logits, **TOL)


def test_squared_error_sums_over_units_and_averages_over_the_batch():
    x_hat = RNG.random(X.shape, dtype=np.float32)
    expected = F.mse_loss(torch.from_numpy(x_hat), torch.from_numpy(X), reduction="sum").item() / len(X)
    np.testing.assert_allclose(float(_np(ops.mean(aek.squared_error(X, ops.convert_to_tensor(x_hat))))), expected, **TOL)


def test_warmup_cosine_follows_the_lessons_schedule():
    steps, warmup = 500, 10  # the default warm-up: 2% of the updates
    lesson = torch.optim.lr_scheduler.LambdaLR(  # lesson 06's warmup_cosine
        torch.optim.Adam(nn.Linear(1, 1).parameters(), lr=1e-3),
        lambda s: (s + 1) / warmup if s < warmup
        else 0.5 * (1 + np.cos(np.pi * min(1.0, (s - warmup) / max(1, steps - warmup)))))
    schedule = aek.warmup_cosine(1e-3, steps)
    for step in range(steps + 5):
        ours = float(_np(schedule(step)))
        if step >= warmup:  # the cosine decay: the same
            np.testing.assert_allclose(ours, lesson.get_last_lr()[0], rtol=1e-5, atol=1e-10)
        else:  # the warm-up: Keras starts at 0, one step behind the lesson
            np.testing.assert_allclose(ours, 1e-3 * step / warmup, rtol=1e-5, atol=1e-10)
        lesson.optimizer.step()
        lesson.step()
    with pytest.raises(ValueError, match="positive int"):
        aek.warmup_cosine(1e-3, 0)


def test_pretrain_layerwise_trains_every_layer_on_the_codes_of_the_trained_layer_below(monkeypatch):
    calls, fit = [], keras.Model.fit

    def recording_fit(self, x=None, y=None, **kwargs):  # Model.fit, noting what each call trained on
        before = [w.copy() for w in self.get_weights()]
        history = fit(self, x, y, **kwargs)
        calls.append({"model": self, "x": np.array(x), "y": np.array(y), "loss": self.loss,
                      "before": before, "after": self.get_weights()})
        return history

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    keras.utils.set_random_seed(0)
    pairs = aek.pretrain_layerwise(DIGITS, STACK, epochs=2, batch_size=64)
    assert len(pairs) == len(calls) == len(STACK) - 1, "one Model.fit per layer"
    h = DIGITS  # the data each layer should have been trained on
    for k, ((encoder, decoder), call) in enumerate(zip(pairs, calls, strict=True), start=1):
        assert [layer.name for layer in call["model"].layers] == [encoder.name, decoder.name]
        assert call["model"].layers[0] is encoder and call["model"].layers[1] is decoder, "return the trained layers"
        assert tuple(encoder.kernel.shape) == (STACK[k - 1], STACK[k]) and tuple(decoder.kernel.shape) == (STACK[k], STACK[k - 1])
        np.testing.assert_allclose(call["x"], h, **TOL)  # layer k: the codes of the *trained* layer k - 1
        np.testing.assert_array_equal(call["y"], call["x"])  # a shallow autoencoder of its own data
        assert call["loss"] is (aek.bce_with_logits if k == 1 else aek.squared_error)
        for w0, w1 in zip(call["before"], call["after"], strict=True):
            assert not np.allclose(w0, w1), f"layer {k}: a weight did not change during its fit"
        h = _np(encoder(h))
    assert pairs[-1][0].activation is keras.activations.linear and pairs[0][1].activation is keras.activations.linear
    assert pairs[0][0].activation is keras.activations.silu and pairs[1][1].activation is keras.activations.silu
    encoder, _, autoencoder = aek.unroll(pairs)
    np.testing.assert_allclose(_np(encoder(DIGITS)), h, **TOL)  # the unrolled encoder computes the top codes


@pytest.mark.parametrize("x, sizes, kwargs, error, words", [
    (DIGITS, [100, 8], {}, ValueError, "should be 784"),
    (DIGITS.reshape(-1, 28, 28), [784, 8], {}, TypeError, "2-D"),
    ((DIGITS * 255).astype(np.uint8), [784, 8], {}, TypeError, "floating"),
    (torch.from_numpy(DIGITS), [784, 8], {}, TypeError, "NumPy"),
    (DIGITS * 2, [784, 8], {}, ValueError, r"\[0, 1\]"),
    (DIGITS, [784], {}, ValueError, "at least two"),
    (DIGITS, [784, 0], {}, ValueError, "positive int"),
    (DIGITS, [784, 8], {"epochs": 0}, ValueError, "epochs"),
    (DIGITS, [784, 8], {"optimizer": "adam"}, TypeError, "fresh keras optimizer"),
])
def test_pretrain_layerwise_rejects_bad_input(x, sizes, kwargs, error, words):
    with pytest.raises(error, match=words):
        aek.pretrain_layerwise(x, sizes, **kwargs)


def test_unroll_rejects_pairs_that_do_not_fit_together():
    def built(units, d_in):
        dense = keras.layers.Dense(units)
        dense.build((None, d_in))
        return dense

    with pytest.raises(ValueError, match="non-empty"):
        aek.unroll([])
    with pytest.raises(ValueError, match="should map 8 -> 784"):
        aek.unroll([(built(8, 784), built(700, 8))])
    with pytest.raises(ValueError, match="bottom first"):
        aek.unroll([(built(8, 24), built(24, 8)), (built(24, 784), built(784, 24))])
    with pytest.raises(ValueError, match="unbuilt"):
        aek.unroll([(keras.layers.Dense(8), keras.layers.Dense(784))])
    with pytest.raises(TypeError, match="pairs of keras.layers.Dense"):
        aek.unroll([nn.Linear(784, 8)])


# --- the variational autoencoder (lesson 08) ----------------------------------------------------

from aecourse import vae as torch_vae  # noqa: E402

X_BIN = (RNG.random((16, 784)) < X).astype(np.float32)  # binary images, as the VAE models them


def _vae_pair(latent_dim=8, hidden=(64, 32), beta=1.0):
    """Return aek.mlp_vae and aecourse.vae.MLPVAE with the same weights (Keras kernels transposed)."""
    vae = aek.mlp_vae(latent_dim, hidden, beta=beta, seed=0)
    twin = torch_vae.MLPVAE(latent_dim, hidden)
    keras_dense = [vae.encoder.get_layer(name) for name in ("body_0", "body_1", "mu", "log_var")]
    keras_dense += [layer for layer in vae.decoder.layers if isinstance(layer, keras.layers.Dense)]
    torch_linear = [twin.body[0], twin.body[2], twin.mu_head, twin.log_var_head, *twin.decoder[::2]]
    assert len(keras_dense) == len(torch_linear) == 7
    with torch.no_grad():
        for dense, linear in zip(keras_dense, torch_linear, strict=True):
            dense.bias.assign(0.1 * RNG.normal(size=dense.bias.shape).astype(np.float32))
            linear.weight.copy_(torch.from_numpy(_np(dense.kernel).T.copy()))
            linear.bias.copy_(torch.from_numpy(_np(dense.bias)))
    return vae, twin


def test_vae_heads_logits_terms_and_loss_agree_with_aecourse_vae():
    vae, twin = _vae_pair(beta=1.0)
    x_k, x_t = ops.convert_to_tensor(X_BIN), torch.from_numpy(X_BIN)
    mu, log_var = vae.encode(x_k)
    with torch.no_grad():
        mu_t, log_var_t = twin.encode(x_t)
    np.testing.assert_allclose(_np(mu), mu_t.numpy(), **TOL)
    np.testing.assert_allclose(_np(log_var), log_var_t.numpy(), **TOL)
    eps = RNG.standard_normal(mu_t.shape).astype(np.float32)  # the same eps for both
    z = aek.reparameterize(mu, log_var, ops.convert_to_tensor(eps))
    logits = vae.decode(z)
    with torch.no_grad():
        logits_t = twin.decode(mu_t + torch.exp(0.5 * log_var_t) * torch.from_numpy(eps))
    np.testing.assert_allclose(_np(logits), logits_t.numpy(), **TOL)
    np.testing.assert_allclose(_np(aek.kl_normal(mu, log_var)), torch_vae.kl_normal(mu_t, log_var_t).numpy(), **TOL)
    np.testing.assert_allclose(_np(aek.bernoulli_log_likelihood(x_k, logits)),
                               torch_vae.bernoulli_log_likelihood(logits_t, x_t).numpy(), **TOL)
    for beta in (1.0, 4.0):
        np.testing.assert_allclose(_np(aek.elbo(x_k, logits, mu, log_var, beta)),
                                   torch_vae.elbo(logits_t, x_t, mu_t, log_var_t, beta).numpy(), **TOL)
    # compute_loss: the negative ELBO averaged over the batch, and its two terms as metrics
    loss = vae.compute_loss(x_k, None, (logits, mu, log_var))
    expected = -torch_vae.elbo(logits_t, x_t, mu_t, log_var_t).mean().item()
    np.testing.assert_allclose(float(_np(loss)), expected, **TOL)
    recon_t = -torch_vae.bernoulli_log_likelihood(logits_t, x_t).mean().item()
    np.testing.assert_allclose(float(_np(vae.reconstruction_tracker.result())), recon_t, **TOL)
    np.testing.assert_allclose(float(_np(vae.kl_tracker.result())), torch_vae.kl_normal(mu_t, log_var_t).mean().item(), **TOL)


def test_vae_bernoulli_log_likelihood_is_stable_for_large_logits():
    logits = np.array([[-200.0, -30.0, 0.0, 30.0, 200.0]], dtype=np.float32)
    x = np.array([[0.0, 1.0, 1.0, 0.0, 1.0]], dtype=np.float32)
    ours = _np(aek.bernoulli_log_likelihood(x, ops.convert_to_tensor(logits)))
    theirs = torch_vae.bernoulli_log_likelihood(torch.from_numpy(logits), torch.from_numpy(x)).numpy()
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, **TOL)  # about -30 - log 2 - 30: no log(0) anywhere


def test_vae_sampling_layer_reparameterizes_with_its_seeded_draws():
    mu = ops.convert_to_tensor(RNG.normal(size=(6, 3)).astype(np.float32))
    log_var = ops.convert_to_tensor(RNG.normal(size=(6, 3)).astype(np.float32))
    layer = aek.Sampling(seed=3)
    z = _np(layer([mu, log_var]))
    eps = _np(keras.random.normal((6, 3), seed=keras.random.SeedGenerator(3)))  # the layer's first draw
    np.testing.assert_allclose(z, _np(mu) + np.exp(0.5 * _np(log_var)) * eps, **TOL)
    assert np.abs(_np(layer([mu, log_var])) - z).min() > 0  # a fresh eps on every call
    again = aek.Sampling.from_config(layer.get_config())
    np.testing.assert_allclose(_np(again([mu, log_var])), z, **TOL)  # the seed is in the config


def test_vae_sampling_layer_draws_from_n_mu_sigma_squared():
    n = 40_000
    mu = ops.convert_to_tensor(np.tile(np.array([[1.0, -2.0, 0.0]], np.float32), (n, 1)))
    log_var = ops.convert_to_tensor(np.tile(np.log(np.array([[1.0, 4.0, 0.01]], np.float32)), (n, 1)))
    z = _np(aek.Sampling(seed=0)([mu, log_var]))
    std = np.array([1.0, 2.0, 0.1])
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0, 0.0], atol=float(4 * std.max() / np.sqrt(n)))
    np.testing.assert_allclose(z.std(axis=0), std, rtol=0.02)


def test_vae_reparameterized_gradients_reach_mu_and_log_var_in_fit():
    """One SGD step with learning rate 1 moves each weight by minus its gradient: d/dmu E[(z - 3)^2] = -4, d/dlog_var = 1."""

    class Toy(keras.layers.Layer):
        def build(self, input_shape):
            self.mu = self.add_weight(shape=(1,), initializer="ones")
            self.log_var = self.add_weight(shape=(1,), initializer="zeros")
            self.sampling = aek.Sampling(seed=0)

        def call(self, inputs):
            ones = ops.ones_like(inputs)  # (B, 1)
            return self.sampling([ones * self.mu, ones * self.log_var])

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), Toy()])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    n = 200_000
    model.fit(np.zeros((n, 1), np.float32), np.full((n, 1), 3.0, np.float32), batch_size=n, epochs=1, verbose=0)
    toy = model.layers[0]
    mu, log_var = float(_np(toy.mu)[0]), float(_np(toy.log_var)[0])
    np.testing.assert_allclose([1.0 - mu, 0.0 - log_var], [-4.0, 1.0], atol=0.05)


def test_vae_importance_log_likelihood_matches_aecourse_vae_given_the_same_draws():
    vae, twin = _vae_pair()
    x, k, batch_size, chunk = X_BIN[:6], 7, 4, 3
    g = torch.Generator().manual_seed(0)  # replay the torch function's draws, in its order
    ours = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        log_w = [aek.importance_log_weights(vae, ops.convert_to_tensor(xb),
                                            ops.convert_to_tensor(torch.randn((n, len(xb), 8), generator=g).numpy()))
                 for n in (3, 3, 1)]
        ours.append(_np(ops.logsumexp(ops.concatenate(log_w, axis=0), axis=0)) - np.log(k))
    theirs = torch_vae.importance_log_likelihood(twin, torch.from_numpy(x), k=k, batch_size=batch_size, chunk=chunk,
                                                 generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(np.concatenate(ours), theirs.numpy(), **TOL)
    # the package's own loop draws from a seeded SeedGenerator in the same order
    seed_generator = keras.random.SeedGenerator(5)
    replay = []
    for start in range(0, len(x), batch_size):
        xb = ops.convert_to_tensor(x[start : start + batch_size])
        log_w = [aek.importance_log_weights(vae, xb, keras.random.normal((n, xb.shape[0], 8), seed=seed_generator))
                 for n in (3, 3, 1)]
        replay.append(_np(ops.logsumexp(ops.concatenate(log_w, axis=0), axis=0)) - np.log(k))
    ours_loop = aek.importance_log_likelihood(vae, x, k=k, batch_size=batch_size, chunk=chunk, seed=5)
    np.testing.assert_allclose(ours_loop, np.concatenate(replay), **TOL)


def test_vae_importance_log_likelihood_is_tighter_than_the_elbo():
    """k = 1 averages to the ELBO; many samples give a higher (tighter) estimate, as Burda et al. prove."""
    vae, twin = _vae_pair()
    x = np.repeat(X_BIN[:1], 2000, axis=0)  # one image, 2000 independent single-sample estimates
    single = aek.importance_log_likelihood(vae, x, k=1, batch_size=1000, seed=1)
    with torch.no_grad():
        mu_t, log_var_t = twin.encode(torch.from_numpy(X_BIN[:1]))
        eps = torch.randn((20_000, 8), generator=torch.Generator().manual_seed(2))
        logits_t = twin.decode(mu_t + torch.exp(0.5 * log_var_t) * eps)
        elbo = (torch_vae.bernoulli_log_likelihood(logits_t, torch.from_numpy(X_BIN[:1]).expand(20_000, -1)).mean()
                - torch_vae.kl_normal(mu_t, log_var_t)[0]).item()
    assert abs(single.mean() - elbo) < 5 * single.std() / np.sqrt(len(single)) + 0.1
    many = aek.importance_log_likelihood(vae, X_BIN[:1], k=2000, seed=3)[0]
    assert many > elbo


def test_vae_fit_and_evaluate_report_the_loss_and_its_terms():
    vae, _ = _vae_pair(beta=2.0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    logs = vae.fit(aek.BinarizedImages(IMAGES[:300], batch_size=128, seed=0), epochs=2, verbose=0,
                   validation_data=X_BIN).history
    assert {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"} <= set(logs)
    scores = vae.evaluate(X_BIN, batch_size=5, return_dict=True, verbose=0)  # batches of 5, 5, 5, 1
    np.testing.assert_allclose(scores["loss"], scores["reconstruction"] + 2.0 * scores["kl"], rtol=1e-5)
    mu, log_var = vae.encode(ops.convert_to_tensor(X_BIN))
    np.testing.assert_allclose(scores["kl"], _np(aek.kl_normal(mu, log_var)).mean(), rtol=1e-5)  # weighted by images
    with pytest.raises(ValueError, match="images only"):
        vae.fit(X_BIN, X_BIN, epochs=1, verbose=0)


def test_vae_saves_and_loads(tmp_path):
    vae, _ = _vae_pair()
    vae(ops.convert_to_tensor(X_BIN))
    vae.save(tmp_path / "vae.keras")
    loaded = keras.saving.load_model(tmp_path / "vae.keras")
    assert isinstance(loaded, aek.VAE) and loaded.beta == vae.beta
    for a, b in zip(loaded.encode(ops.convert_to_tensor(X_BIN)), vae.encode(ops.convert_to_tensor(X_BIN)), strict=True):
        np.testing.assert_allclose(_np(a), _np(b), **TOL)


def test_vae_binarized_images_are_fresh_binary_draws_of_the_grey_levels():
    grey = IMAGES[:256]
    data = aek.BinarizedImages(grey, batch_size=256, shuffle=False, seed=0)
    draws = np.stack([data[0] for _ in range(400)])  # (400, 256, 784)
    assert np.isin(draws, [0.0, 1.0]).all() and draws.dtype == np.float32
    assert (draws[0] != draws[1]).any()  # a fresh binarization every time
    assert np.all(draws[:, grey == 0] == 0)
    mid = (grey > 0.1) & (grey < 0.9)  # where the normal approximation of a pixel's rate holds
    z_score = (draws.mean(axis=0) - grey)[mid] / np.sqrt(grey * (1 - grey) / 400)[mid]
    assert np.abs(z_score).max() < 6 and abs(z_score.mean()) < 0.02  # each pixel's rate, and no bias overall
    expected = (np.random.default_rng(3).random(grey.shape, dtype=np.float32) < grey).astype(np.float32)
    np.testing.assert_array_equal(aek.binarize(grey, rng=np.random.default_rng(3)), expected)  # the definition


@pytest.mark.parametrize("call, error, words", [
    (lambda: aek.kl_normal(ops.zeros((4, 3)), ops.zeros((4, 2))), ValueError, "one shape"),
    (lambda: aek.kl_normal(ops.zeros((4,)), ops.zeros((4,))), ValueError, "(B, K)"),
    (lambda: aek.bernoulli_log_likelihood(X_BIN[:2] * 3, ops.zeros((2, 784))), ValueError, "[0, 1]"),
    (lambda: aek.bernoulli_log_likelihood(X_BIN[:2], ops.zeros((2, 783))), ValueError, "same number"),
    (lambda: aek.binarize((IMAGES[:2] * 255).astype(np.uint8)), TypeError, "floating"),
    (lambda: aek.BinarizedImages(IMAGES[:4] * 2), ValueError, "[0, 1]"),
    (lambda: aek.importance_log_likelihood(aek.mlp_vae(2, (8,)), X_BIN[:2], k=0), ValueError, "positive int"),
    (lambda: aek.importance_log_likelihood(keras.layers.Dense(2), X_BIN[:2]), TypeError, "encode"),
    (lambda: aek.mlp_vae(0), ValueError, "latent_dim"),
    (lambda: aek.Sampling()([ops.zeros((4, 3)), ops.zeros((5, 3))]), ValueError, "one shape"),
])
def test_vae_pieces_reject_bad_input(call, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        call()
