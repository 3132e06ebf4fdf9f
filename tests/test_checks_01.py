"""aecourse.checks for exercises 01: the reference answers pass, plausible mistakes are named."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aecourse import checks
from check_helpers import rejects

# ---------------------------------------------------------------- 1.1 PCA reconstruction


def pca_reconstruct(x_train, x, k):
    mu = x_train.mean(dim=0)
    _, _, Vt = torch.linalg.svd(x_train - mu, full_matrices=False)
    V_k = Vt[:k].T
    return mu + (x - mu) @ V_k @ V_k.T


def pca_in_float64(x_train, x, k):  # the lesson's way
    mu = x_train.double().mean(dim=0)
    _, _, Vt = torch.linalg.svd(x_train.double() - mu, full_matrices=False)
    return mu + (x.double() - mu) @ Vt[:k].T @ Vt[:k]


def pca_not_centred(x_train, x, k):
    _, _, Vt = torch.linalg.svd(x_train, full_matrices=False)
    return x @ Vt[:k].T @ Vt[:k]


def pca_mean_not_added_back(x_train, x, k):
    mu = x_train.mean(dim=0)
    _, _, Vt = torch.linalg.svd(x_train - mu, full_matrices=False)
    return (x - mu) @ Vt[:k].T @ Vt[:k]


def pca_own_mean(x_train, x, k):
    _, _, Vt = torch.linalg.svd(x_train - x_train.mean(dim=0), full_matrices=False)
    mu = x.mean(dim=0)
    return mu + (x - mu) @ Vt[:k].T @ Vt[:k]


def pca_columns_of_vt(x_train, x, k):
    mu = x_train.mean(dim=0)
    _, _, Vt = torch.linalg.svd(x_train - mu, full_matrices=False)
    V_k = Vt[:, :k]
    return mu + (x - mu) @ V_k @ V_k.T


def pca_eigh_ascending(x_train, x, k):
    mu = x_train.mean(dim=0)
    _, vectors = torch.linalg.eigh((x_train - mu).T @ (x_train - mu))  # eigenvalues ascending
    V_k = vectors[:, :k]
    return mu + (x - mu) @ V_k @ V_k.T


def pca_one_too_many(x_train, x, k):
    return pca_reconstruct(x_train, x, k + 1)


def pca_codes(x_train, x, k):
    mu = x_train.mean(dim=0)
    _, _, Vt = torch.linalg.svd(x_train - mu, full_matrices=False)
    return (x - mu) @ Vt[:k].T


def pca_in_place(x_train, x, k):
    mu = x_train.mean(dim=0)
    x_train -= mu
    _, _, Vt = torch.linalg.svd(x_train, full_matrices=False)
    return mu + (x - mu) @ Vt[:k].T @ Vt[:k]


def pca_stub(x_train, x, k):
    raise NotImplementedError()


def test_pca_reference_passes(capsys):
    checks.check_pca_reconstruct(pca_reconstruct)
    checks.check_pca_reconstruct(pca_in_float64, seed=3, n=60, d=12, k=2)
    assert capsys.readouterr().out.startswith("✓ pca_reconstruct: matches PCA")


@pytest.mark.parametrize("answer, fragment", [
    (pca_not_centred, "forgot to centre"),
    (pca_mean_not_added_back, "did not add the mean back"),
    (pca_own_mean, "centred x with its own mean"),
    (pca_columns_of_vt, "took columns of Vt"),
    (pca_eigh_ascending, "the k directions of smallest variance"),
    (pca_one_too_many, "used k + 1 components"),
    (pca_codes, "returned the codes z, shape (M, k) = (2, 1)"),
    (pca_in_place, "changed its input `x_train` in place"),
    (pca_stub, "not written yet"),
])
def test_pca_mistakes_are_named(answer, fragment):
    rejects(checks.check_pca_reconstruct, answer, fragment)


def test_pca_hidden_inputs_catch_what_the_fixed_example_cannot(capsys):
    def k_is_always_one(x_train, x, k):
        return pca_reconstruct(x_train, x, 1)

    message = rejects(checks.check_pca_reconstruct, k_is_always_one, "wrong values", seed=1, n=150, d=40, k=7)
    assert "seed 1: x_train 150×40, x 10×40, k = 7" in message
    # The diagnosis is shown once, as the error (IPython renders it), not printed beside it too.
    assert capsys.readouterr().out == ""
    try:
        checks.check_pca_reconstruct(k_is_always_one, seed=1, n=150, d=40, k=7)
    except checks.CheckFailed as err:
        assert err._render_traceback_()[-1] == f"CheckFailed: {message}"


# ---------------------------------------------------------------- 1.2 the forward pass


class LinearAutoencoder(nn.Module):
    def __init__(self, k: int):
        super().__init__()
        self.encoder = nn.Linear(784, k)
        self.decoder = nn.Linear(k, 784)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def _variant(forward):
    return type("LinearAutoencoder", (LinearAutoencoder,), {"forward": forward})


ae_explicit = _variant(lambda self, x: (x @ self.encoder.weight.T + self.encoder.bias) @ self.decoder.weight.T
                       + self.decoder.bias)
ae_code = _variant(lambda self, x: self.encoder(x))
ae_tuple = _variant(lambda self, x: (self.encoder(x), self.decoder(self.encoder(x))))
ae_sigmoid = _variant(lambda self, x: torch.sigmoid(self.decoder(self.encoder(x))))
ae_relu_code = _variant(lambda self, x: self.decoder(torch.relu(self.encoder(x))))
ae_no_bias = _variant(lambda self, x: F.linear(F.linear(x, self.encoder.weight), self.decoder.weight))
ae_tied = _variant(lambda self, x: self.encoder(x) @ self.encoder.weight + self.decoder.bias)
ae_identity = _variant(lambda self, x: x)
ae_detached = _variant(lambda self, x: self.decoder(self.encoder(x)).detach())


def _ae_stub(self, x):
    raise NotImplementedError()


def test_linear_autoencoder_reference_passes(capsys):
    checks.check_linear_autoencoder(LinearAutoencoder)
    checks.check_linear_autoencoder(ae_explicit, seed=2, k=7, batch=1)
    assert "✓ LinearAutoencoder: forward returns decoder(encoder(x))" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (ae_code, "returned the code z, shape (B, k)"),
    (ae_tuple, "returned a tuple of 2 items"),
    (ae_sigmoid, "added an activation"),
    (ae_relu_code, "added an activation"),
    (ae_no_bias, "left out both biases"),
    (ae_tied, "decoded with the encoder's weights"),
    (ae_identity, "returned its input unchanged"),
    (ae_detached, "cut off from autograd"),
    (_variant(_ae_stub), "not written yet"),
])
def test_linear_autoencoder_mistakes_are_named(answer, fragment):
    rejects(checks.check_linear_autoencoder, answer, fragment)


def test_checks_leave_the_learners_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_linear_autoencoder(LinearAutoencoder)
    checks.check_training_step(training_step)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------- 1.3 the training step


def training_step(model, optimizer, x):
    loss = ((model(x) - x) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_zero_grad_last(model, optimizer, x):
    loss = F.mse_loss(model(x), x, reduction="sum") / len(x)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return float(loss.detach())


def step_mse_loss(model, optimizer, x):
    loss = F.mse_loss(model(x), x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_summed_over_batch(model, optimizer, x):
    loss = ((model(x) - x) ** 2).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_no_zero_grad(model, optimizer, x):
    loss = ((model(x) - x) ** 2).sum(dim=1).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_no_step(model, optimizer, x):
    loss = ((model(x) - x) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    return loss.item()


def step_before_backward(model, optimizer, x):
    loss = ((model(x) - x) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    optimizer.step()
    loss.backward()
    return loss.item()


def step_no_backward(model, optimizer, x):
    loss = ((model(x) - x) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def step_returns_tensor(model, optimizer, x):
    loss = ((model(x) - x) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def step_returns_nothing(model, optimizer, x):
    training_step(model, optimizer, x)


def step_absolute_error(model, optimizer, x):
    loss = (model(x) - x).abs().sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_loss_after_update(model, optimizer, x):
    training_step(model, optimizer, x)
    with torch.no_grad():
        return ((model(x) - x) ** 2).sum(dim=1).mean().item()


def step_two_updates(model, optimizer, x):
    loss = training_step(model, optimizer, x)
    training_step(model, optimizer, x)
    return loss


def step_half_the_loss(model, optimizer, x):
    return training_step(model, optimizer, x) / 2


def test_training_step_reference_passes(capsys):
    checks.check_training_step(training_step)
    checks.check_training_step(step_zero_grad_last, seed=1, batch=5, k=2)
    assert "✓ training_step: returns the loss and takes one optimizer step" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (step_mse_loss, "averaged over pixels too"),
    (step_summed_over_batch, "summed over the batch too"),
    (step_no_zero_grad, "did not clear the old gradients"),
    (step_no_step, "computed gradients but did not apply them"),
    (step_before_backward, "call optimizer.step() after loss.backward()"),
    (step_no_backward, "the weights did not change"),
    (step_returns_tensor, "returned a tensor; return loss.item()"),
    (step_returns_nothing, "returned NoneType"),
    (step_absolute_error, "used the absolute error"),
    (step_loss_after_update, "returned the loss after the update"),
    (step_two_updates, "the loss is right, but the weights did not move by one optimizer step"),
    (step_half_the_loss, "the first call returned the loss 505.34, expected 1010.7"),
])
def test_training_step_mistakes_are_named(answer, fragment):
    rejects(checks.check_training_step, answer, fragment)


# ---------------------------------------------------------------- 1.4 principal angles


def principal_angles(A, B):
    Q1, _ = torch.linalg.qr(A.double())
    Q2, _ = torch.linalg.qr(B.double())
    return torch.rad2deg(torch.arccos(torch.linalg.svdvals(Q1.T @ Q2).clamp(max=1.0)))


def angles_float32(A, B):
    cosines = torch.linalg.svd(torch.linalg.qr(A)[0].T @ torch.linalg.qr(B)[0]).S
    return torch.arccos(cosines.clamp(-1, 1)) * 180 / torch.pi


def angles_radians(A, B):
    return torch.deg2rad(principal_angles(A, B))


def angles_cosines(A, B):
    return torch.linalg.svdvals(torch.linalg.qr(A)[0].T @ torch.linalg.qr(B)[0])


def angles_largest_first(A, B):  # the lesson notebook's .flip(0)
    return principal_angles(A, B).flip(0)


def angles_without_qr(A, B):
    return torch.rad2deg(torch.arccos(torch.linalg.svdvals(A.T @ B).clamp(max=1.0)))


def angles_without_clamp(A, B):
    Q1, _ = torch.linalg.qr(A.double())
    Q2, _ = torch.linalg.qr(B.double())
    return torch.rad2deg(torch.arccos(torch.linalg.svdvals(Q1.T @ Q2)))


def angles_arcsin(A, B):
    return torch.rad2deg(torch.arcsin(torch.cos(torch.deg2rad(principal_angles(A, B)))))


def angles_complete_qr(A, B):
    Q1, _ = torch.linalg.qr(A, mode="complete")
    Q2, _ = torch.linalg.qr(B, mode="complete")
    return torch.rad2deg(torch.arccos(torch.linalg.svdvals(Q1.T @ Q2).clamp(max=1.0)))


def angles_one_qr(A, B):
    Q1, _ = torch.linalg.qr(A)
    return torch.rad2deg(torch.arccos(torch.linalg.svdvals(Q1.T @ B).clamp(max=1.0)))


def test_principal_angles_reference_passes(capsys):
    checks.check_principal_angles(principal_angles)
    checks.check_principal_angles(angles_float32, seed=4, d=50, k=6)
    out = capsys.readouterr().out
    assert "✓ principal_angles: degrees, smallest first" in out and "✓ angles_float32: degrees" in out


@pytest.mark.parametrize("answer, fragment", [
    (angles_radians, "returned radians"),
    (angles_cosines, "returned the cosines"),
    (angles_largest_first, "sorted largest first"),
    (angles_without_qr, "did not orthonormalise"),
    (angles_without_clamp, "clamp the cosines"),
    (angles_arcsin, "used arcsin"),
    (angles_complete_qr, "use the reduced QR"),
    (angles_one_qr, "orthonormalised only one of A and B"),
])
def test_principal_angles_mistakes_are_named(answer, fragment):
    rejects(checks.check_principal_angles, answer, fragment)


def test_unclamped_nan_is_found_on_identical_subspaces():
    message = rejects(checks.check_principal_angles, angles_without_clamp, "NaN where a cosine is 1")
    assert "two bases of one subspace" in message


# ---------------------------------------------------------------- what every check shares


def test_a_crash_names_the_error_and_the_inputs():
    def broken(x_train, x, k):
        return x @ x_train  # (10, 30) @ (100, 30)

    message = rejects(checks.check_pca_reconstruct, broken, "raised RuntimeError", "x_train=tensor (4, 2)")
    assert "k=1" in message


def test_the_error_of_a_crash_is_chained_for_the_traceback():
    def broken(x_train, x, k):
        raise KeyError("oops")

    with pytest.raises(AssertionError) as err:
        checks.check_pca_reconstruct(broken)
    assert isinstance(err.value.__cause__, KeyError)
