"""aecourse.checks for exercises 01: the reference answers pass, plausible mistakes are named."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import grad as differentiate

from aecourse import checks
from aecourse.checks import lesson01
from check_helpers import rejects

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- 1.1 the training step (build)


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


def step_encoder_then_decoder(model, optimizer, x):
    x = x.view(-1, 784)  # lesson 01's own idiom: the model's two halves, images flattened
    loss = ((model.decoder(model.encoder(x)) - x) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_returns_nan(model, optimizer, x):
    training_step(model, optimizer, x)
    return float("nan")


def step_per_image_loop(model, optimizer, x):
    optimizer.zero_grad(set_to_none=True)
    x_hat = model(x)
    loss = sum(torch.sum((x_hat[i] - x[i]) ** 2) for i in range(len(x))) / len(x)
    loss.backward()
    optimizer.step()
    return loss.item()


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


def step_under_no_grad(model, optimizer, x):
    with torch.no_grad():
        loss = ((model(x) - x) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_own_optimizer(model, optimizer, x):
    mine = torch.optim.SGD(model.parameters(), lr=1e-4)
    loss = ((model(x) - x) ** 2).sum(dim=1).mean()
    mine.zero_grad()
    loss.backward()
    mine.step()
    return loss.item()


def step_frozen(model, optimizer, x):
    for p in model.parameters():
        p.requires_grad_(False)
    return training_step(model, optimizer, x)


def _stub(*args):
    raise NotImplementedError()


def test_training_step_correct_answers_pass(capsys):
    checks.check_training_step(training_step)
    checks.check_training_step(step_zero_grad_last, seed=1, batch=5, k=2)
    checks.check_training_step(step_per_image_loop)
    checks.check_training_step(step_encoder_then_decoder)
    assert capsys.readouterr().out.count("✓ ") == 4


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
    (step_returns_nan, "the first call returned the loss nan, expected 1010.7"),
    (step_under_no_grad, "the loss has no autograd graph"),
    (step_frozen, "turned off requires_grad of the model's parameters"),
    (step_own_optimizer, "without calling optimizer.step() on the optimizer passed in"),
    (_stub, "not written yet"),
])
def test_training_step_mistakes_are_named(answer, fragment):
    rejects(checks.check_training_step, answer, fragment)


def test_checks_leave_the_learners_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_training_step(training_step)
    checks.check_principal_directions(principal_directions)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------- 1.2 the gradients by hand (derive)


def linear_ae_gradients(W_e, b_e, W_d, b_d, x):
    z = x @ W_e.T + b_e
    G = 2 * (z @ W_d.T + b_d - x) / len(x)
    H = G @ W_d
    return H.T @ x, H.sum(dim=0), G.T @ z, G.sum(dim=0)


def grads_einsum(W_e, b_e, W_d, b_d, x):  # per-example outer products, summed
    z = F.linear(x, W_e, b_e)
    r = F.linear(z, W_d, b_d) - x
    B = x.shape[0]
    g_wd = torch.einsum("bd,bk->dk", r, z) * 2 / B
    dz = torch.einsum("bd,dk->bk", r, W_d)
    return [torch.einsum("bk,bd->kd", dz, x) * 2 / B, 2 * dz.mean(dim=0), g_wd, 2 * r.mean(dim=0)]


def grads_float64(W_e, b_e, W_d, b_d, x):  # float64 inside, the input's dtype out
    out = linear_ae_gradients(*(t.double() for t in (W_e, b_e, W_d, b_d, x)))
    return tuple(g.to(x.dtype) for g in out)


def grads_loop(W_e, b_e, W_d, b_d, x):  # one example at a time
    g = [torch.zeros_like(t) for t in (W_e, b_e, W_d, b_d)]
    for xi in x:
        z = W_e @ xi + b_e
        e = 2 * (W_d @ z + b_d - xi) / len(x)
        h = W_d.T @ e
        g = [g[0] + torch.outer(h, xi), g[1] + h, g[2] + torch.outer(e, z), g[3] + e]
    return tuple(g)


def _scaled(s):
    return lambda *a: tuple(g * s for g in linear_ae_gradients(*a))


def grads_no_two(*a):
    return _scaled(0.5)(*a)


def grads_summed(W_e, b_e, W_d, b_d, x):
    return _scaled(len(x))(W_e, b_e, W_d, b_d, x)


def grads_pixel_mean(W_e, b_e, W_d, b_d, x):
    return _scaled(1 / x.shape[1])(W_e, b_e, W_d, b_d, x)


def grads_sign(*a):
    return _scaled(-1.0)(*a)


def grads_recon_without_be(W_e, b_e, W_d, b_d, x):
    return linear_ae_gradients(W_e, torch.zeros_like(b_e), W_d, b_d, x)


def grads_recon_without_bd(W_e, b_e, W_d, b_d, x):
    return linear_ae_gradients(W_e, b_e, W_d, torch.zeros_like(b_d), x)


def grads_through_We(W_e, b_e, W_d, b_d, x):
    z = x @ W_e.T + b_e
    G = 2 * (z @ W_d.T + b_d - x) / len(x)
    H = G @ W_e.T
    return H.T @ x, H.sum(dim=0), G.T @ z, G.sum(dim=0)


def grads_be_mean(W_e, b_e, W_d, b_d, x):
    z = x @ W_e.T + b_e
    G = 2 * (z @ W_d.T + b_d - x) / len(x)
    H = G @ W_d
    return H.T @ x, H.mean(dim=0), G.T @ z, G.sum(dim=0)


def grads_bd_zero(W_e, b_e, W_d, b_d, x):
    g = linear_ae_gradients(W_e, b_e, W_d, b_d, x)
    return g[0], g[1], g[2], torch.zeros_like(b_d)


def grads_wd_code_without_bias(W_e, b_e, W_d, b_d, x):
    z = x @ W_e.T + b_e
    G = 2 * (z @ W_d.T + b_d - x) / len(x)
    H = G @ W_d
    return H.T @ x, H.sum(dim=0), G.T @ (x @ W_e.T), G.sum(dim=0)


def grads_wd_transposed(W_e, b_e, W_d, b_d, x):
    g = linear_ae_gradients(W_e, b_e, W_d, b_d, x)
    return g[0], g[1], g[2].T, g[3]


def grads_other_order(W_e, b_e, W_d, b_d, x):
    g = linear_ae_gradients(W_e, b_e, W_d, b_d, x)
    return g[2], g[3], g[0], g[1]


def grads_bias_per_example(W_e, b_e, W_d, b_d, x):
    z = x @ W_e.T + b_e
    G = 2 * (z @ W_d.T + b_d - x) / len(x)
    H = G @ W_d
    return H.T @ x, H.sum(dim=0), G.T @ z, G


def grads_we_without_decoder(W_e, b_e, W_d, b_d, x):
    z = x @ W_e.T + b_e
    G = 2 * (z @ W_d.T + b_d - x) / len(x)
    return G.T @ x, (G @ W_d).sum(dim=0), G.T @ z, G.sum(dim=0)


def grads_float64_out(W_e, b_e, W_d, b_d, x):
    return linear_ae_gradients(*(t.double() for t in (W_e, b_e, W_d, b_d, x)))


def grads_cpu_zeros(W_e, b_e, W_d, b_d, x):
    g = linear_ae_gradients(W_e, b_e, W_d, b_d, x)
    return g[0], g[1] + torch.zeros(len(b_e)), g[2], g[3]


def grads_in_place(W_e, b_e, W_d, b_d, x):
    x -= 0  # harmless, but in place
    x *= 1.5
    return linear_ae_gradients(W_e, b_e, W_d, b_d, x / 1.5)


def grads_dict(W_e, b_e, W_d, b_d, x):
    return dict(zip(("W_e", "b_e", "W_d", "b_d"), linear_ae_gradients(W_e, b_e, W_d, b_d, x), strict=True))


def grads_three(W_e, b_e, W_d, b_d, x):
    return linear_ae_gradients(W_e, b_e, W_d, b_d, x)[:3]


def grads_autograd(W_e, b_e, W_d, b_d, x):
    params = [t.detach().clone().requires_grad_(True) for t in (W_e, b_e, W_d, b_d)]
    loss = (((x @ params[0].T + params[1]) @ params[2].T + params[3] - x) ** 2).sum(dim=1).mean()
    return tuple(torch.autograd.grad(loss, params))


def grads_autograd_renamed(W_e, b_e, W_d, b_d, x):
    params = [t.detach().clone().requires_grad_(True) for t in (W_e, b_e, W_d, b_d)]
    loss = (((x @ params[0].T + params[1]) @ params[2].T + params[3] - x) ** 2).sum(dim=1).mean()
    return tuple(differentiate(loss, params))


def grads_backward(W_e, b_e, W_d, b_d, x):
    params = [t.detach().clone().requires_grad_(True) for t in (W_e, b_e, W_d, b_d)]
    (((x @ params[0].T + params[1]) @ params[2].T + params[3] - x) ** 2).sum(dim=1).mean().backward()
    return tuple(p.grad for p in params)


def grads_func(W_e, b_e, W_d, b_d, x):
    def loss(we, be, wd, bd):
        return (((x @ we.T + be) @ wd.T + bd - x) ** 2).sum(dim=1).mean()
    return torch.func.grad(loss, argnums=(0, 1, 2, 3))(W_e, b_e, W_d, b_d)


_helper = torch.func.jacrev


def grads_func_renamed(W_e, b_e, W_d, b_d, x):
    def loss(we, be, wd, bd):
        return (((x @ we.T + be) @ wd.T + bd - x) ** 2).sum(dim=1).mean()
    return _helper(loss, argnums=(0, 1, 2, 3))(W_e, b_e, W_d, b_d)


def test_gradients_reference_agrees_with_a_finite_difference():
    args = lesson01._grad_inputs(0, 3, 5, 2)
    args = {k: v.double() for k, v in args.items()}
    ref = lesson01._grad_reference(**args)

    def loss(W_e):
        a = dict(args, W_e=W_e)
        return (((a["x"] @ a["W_e"].T + a["b_e"]) @ a["W_d"].T + a["b_d"] - a["x"]) ** 2).sum(dim=1).mean()

    eps, E = 1e-6, torch.zeros_like(args["W_e"])
    E[1, 3] = eps
    assert abs((loss(args["W_e"] + E) - loss(args["W_e"] - E)) / (2 * eps) - ref[0][1, 3]) < 1e-6


def test_gradients_correct_answers_pass(capsys):
    checks.check_linear_ae_gradients(linear_ae_gradients)
    checks.check_linear_ae_gradients(grads_einsum, seed=1, batch=6, d=9, k=3)
    checks.check_linear_ae_gradients(grads_float64)
    checks.check_linear_ae_gradients(grads_loop)
    checks.check_linear_ae_gradients(lambda *a: list(linear_ae_gradients(*a)))
    out = capsys.readouterr().out
    assert out.count("✓ ") == 5 and "question 1.3 asks why" in out


@pytest.mark.parametrize("answer, fragment", [
    (grads_no_two, "forgot the factor 2"),
    (grads_summed, "summed over the batch instead of averaging"),
    (grads_pixel_mean, "averaged over the pixels too"),
    (grads_sign, "flipped the sign"),
    (_scaled(1.5), "forgot the factor 2 and summed over the batch"),
    (grads_recon_without_be, "the reconstruction left out b_e"),
    (grads_recon_without_bd, "the reconstruction left out b_d"),
    (grads_through_We, "back-propagated to the code through W_e.T"),
    (grads_be_mean, "g_be is divided by B twice"),
    (grads_bd_zero, "g_bd is zero"),
    (grads_wd_code_without_bias, "g_Wd used the code without its bias"),
    (grads_wd_transposed, "g_Wd is transposed"),
    (grads_other_order, "returned the gradients in another order"),
    (grads_bias_per_example, "g_bd has a batch dimension"),
    (grads_we_without_decoder, "g_We has shape (D, D)"),
    (grads_float64_out, "returned float64, expected float32"),
    (grads_cpu_zeros, "made a tensor on the CPU whatever the input's device"),
    (grads_in_place, "changed its input `x` in place"),
    (grads_dict, "returned a dict"),
    (grads_three, "returned 3 items"),
    (grads_autograd, "with autograd"),
    (grads_autograd_renamed, "with autograd"),
    (grads_backward, "with autograd"),
    (grads_func, "with autograd"),
    (grads_func_renamed, "with autograd"),
    (_stub, "not written yet"),
])
def test_gradients_mistakes_are_named(answer, fragment):
    rejects(checks.check_linear_ae_gradients, answer, fragment)


def test_gradients_hidden_inputs_name_the_same_mistakes():
    rejects(checks.check_linear_ae_gradients, grads_summed, "B = 6 times too large", seed=1, batch=6, d=9, k=3)
    rejects(checks.check_linear_ae_gradients, grads_pixel_mean, "D = 9 times too small", seed=1, batch=6, d=9, k=3)


def test_gradients_autograd_hidden_in_a_helper_is_found():
    def helper(loss, params):
        return differentiate(loss, params)

    def answer(W_e, b_e, W_d, b_d, x):
        params = [t.detach().clone().requires_grad_(True) for t in (W_e, b_e, W_d, b_d)]
        loss = (((x @ params[0].T + params[1]) @ params[2].T + params[3] - x) ** 2).sum(dim=1).mean()
        return tuple(helper(loss, params))

    rejects(checks.check_linear_ae_gradients, answer, "with autograd")


def test_gradients_a_no_grad_block_is_not_autograd(capsys):
    def answer(W_e, b_e, W_d, b_d, x):
        with torch.no_grad():
            return linear_ae_gradients(W_e, b_e, W_d, b_d, x)

    checks.check_linear_ae_gradients(answer)
    assert "✓ " in capsys.readouterr().out


def test_gradients_a_fallback_shows_what_it_measured():
    def answer(W_e, b_e, W_d, b_d, x):
        g = linear_ae_gradients(W_e, b_e, W_d, b_d, x)
        return g[0], g[1], g[2], g[3] + 0.1

    rejects(checks.check_linear_ae_gradients, answer, "wrong values in g_bd", "expected")


# ---------------------------------------------------------------- 1.4 PCA's basis from the decoder (derive)


def principal_directions(W_d, x):
    U, _, _ = torch.linalg.svd(W_d, full_matrices=False)
    y = (x - x.mean(dim=0)) @ U
    _, R = torch.linalg.eigh(y.T @ y / (len(x) - 1))
    return U @ R.flip(1)


def directions_qr_svd(W_d, x):
    Q, _ = torch.linalg.qr(W_d)
    _, _, Vt = torch.linalg.svd((x - x.mean(0, keepdim=True)) @ Q, full_matrices=False)
    return Q @ Vt.T


def directions_float64(W_d, x):
    Q = torch.linalg.qr(W_d.double())[0]
    y = (x.double() - x.double().mean(0)) @ Q
    values, R = torch.linalg.eigh(torch.cov(y.T))
    order = values.argsort(descending=True)
    out = Q @ R[:, order]
    return (out * torch.sign(out.sum(0))).to(W_d.dtype)  # signs normalised: fine too


def directions_biased_cov(W_d, x):  # 1/N instead of 1/(N-1), and the projector form
    Q = torch.linalg.qr(W_d)[0]
    xc = x - x.mean(0)
    C = (Q.T @ xc.T @ xc @ Q) / len(x)
    _, R = torch.linalg.eigh(C)
    return -(Q @ R.flip(-1))


def _rotate(W_d, x, basis="svd", centre="mean", desc=True, rows=False):
    U = torch.linalg.svd(W_d, full_matrices=False)[0] if basis == "svd" else W_d / W_d.norm(dim=0)
    xc = {"mean": x - x.mean(0), "none": x, "row": x - x.mean(1, keepdim=True)}[centre]
    _, R = torch.linalg.eigh((xc @ U).T @ (xc @ U))
    R = R.flip(1) if desc else R
    return U @ (R.T if rows else R)


def dirs_not_centred(W_d, x):
    return _rotate(W_d, x, centre="none")


def dirs_row_centred(W_d, x):
    return _rotate(W_d, x, centre="row")


def dirs_ascending(W_d, x):
    return _rotate(W_d, x, desc=False)


def dirs_rows(W_d, x):
    return _rotate(W_d, x, rows=True)


def dirs_unit_columns(W_d, x):
    return _rotate(W_d, x, basis="unit")


def dirs_svd_only(W_d, x):
    return torch.linalg.svd(W_d, full_matrices=False)[0]


def dirs_qr_only(W_d, x):
    return torch.linalg.qr(W_d)[0]


def dirs_raw_projection(W_d, x):
    y = (x - x.mean(0)) @ W_d
    _, R = torch.linalg.eigh(y.T @ y)
    return W_d @ R.flip(1)


def dirs_global_pca(W_d, x):
    return torch.linalg.svd(x - x.mean(0), full_matrices=False)[2][:W_d.shape[1]].T


def dirs_transposed(W_d, x):
    return principal_directions(W_d, x).T


def dirs_rotation_only(W_d, x):
    U = torch.linalg.svd(W_d, full_matrices=False)[0]
    y = (x - x.mean(0)) @ U
    return torch.linalg.eigh(y.T @ y)[1].flip(1)


def dirs_float64_out(W_d, x):
    return principal_directions(W_d.double(), x.double())


def dirs_numpy(W_d, x):
    U = torch.linalg.svd(W_d, full_matrices=False)[0]
    y = (x - x.mean(0)) @ U
    _, R = np.linalg.eigh((y.T @ y).numpy())
    return U @ torch.from_numpy(R[:, ::-1].copy())


def dirs_cpu_signs(W_d, x):  # a sign convention made on the CPU
    out = principal_directions(W_d, x)
    signs = torch.ones(W_d.shape[1])
    signs[out.sum(dim=0) < 0] = -1.0
    return out * signs


def dirs_scaled(W_d, x):  # the right directions, not of unit length
    return 2 * principal_directions(W_d, x)


def dirs_outside(W_d, x):  # orthonormal, but not in the decoder's span
    return torch.linalg.qr(principal_directions(W_d, x) + 0.3)[0]


def dirs_wrong_rotation(W_d, x):  # in the span, orthonormal, but rotated
    out = principal_directions(W_d, x)
    k = out.shape[1]
    c, s = np.cos(0.4), np.sin(0.4)
    rot = torch.eye(k, dtype=out.dtype)
    rot[0, 0], rot[0, 1], rot[1, 0], rot[1, 1] = c, -s, s, c
    return out @ rot


def test_directions_references_agree_on_a_decoder_that_spans_pca():
    W_d, x, pca = lesson01._dir_inputs(5, 200, 20, 4, exact=True)
    ref = lesson01._directions(W_d, x)
    assert torch.allclose(lesson01._align(ref, pca), pca, atol=1e-5)


def test_directions_correct_answers_pass(capsys):
    checks.check_principal_directions(principal_directions)
    checks.check_principal_directions(directions_qr_svd, seed=1, n=300, d=30, k=6)
    checks.check_principal_directions(directions_float64)
    checks.check_principal_directions(directions_biased_cov)
    assert capsys.readouterr().out.count("✓ ") == 4


@pytest.mark.parametrize("answer, fragment", [
    (dirs_not_centred, "did not centre the data"),
    (dirs_row_centred, "centred each image by its own mean"),
    (dirs_ascending, "smallest variance first"),
    (dirs_rows, "used the eigenvectors as rows"),
    (dirs_unit_columns, "normalised W_d's columns, but they are not orthogonal"),
    (dirs_svd_only, "used the decoder's left singular vectors as they are"),
    (dirs_qr_only, "returned the QR basis of the decoder's columns"),
    (dirs_raw_projection, "projected the data on W_d's columns themselves"),
    (dirs_global_pca, "ignoring W_d"),
    (dirs_transposed, "the directions are the columns of a (D, k)"),
    (dirs_rotation_only, "returned the k x k rotation"),
    (dirs_float64_out, "returned float64, expected float32"),
    (dirs_numpy, "copied a tensor off its device"),
    (dirs_cpu_signs, "made a tensor on the CPU whatever the input's device"),
    (dirs_scaled, "the columns are not orthonormal"),
    (dirs_outside, "does not lie in the column space of W_d"),
    (dirs_wrong_rotation, "not the principal one"),
    (_stub, "not written yet"),
])
def test_directions_mistakes_are_named(answer, fragment):
    rejects(checks.check_principal_directions, answer, fragment)


def test_directions_a_fully_trained_decoder_is_checked_on_its_own_case():
    def only_right_for_exact_spans(W_d, x):  # global PCA: right only when span(W_d) is PCA's subspace
        return dirs_global_pca(W_d, x)

    message = rejects(checks.check_principal_directions, only_right_for_exact_spans, "ignoring W_d")
    assert "small example" in message


# ---------------------------------------------------------------- 1.5 no biases (predict)


@pytest.mark.parametrize("answer", ["A", "a", " A\n"])
def test_bias_free_prediction_accepts_the_right_letter(answer, capsys):
    checks.check_bias_free_prediction(answer)
    assert "✓ prediction_1_5: A is right. Within a fraction of a percent" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    ("B", "the mean needs no unit of its own"),
    ("C", "nowhere near 50 % larger"),
    ("d", "PCA (the best affine rank-30 map) is at least as good"),
    ("E", "expected one letter"),
    ("AB", "expected one letter"),
    (1, "expected one letter"),
    (None, "not written yet"),
])
def test_bias_free_prediction_explains_each_wrong_answer(answer, fragment):
    message = rejects(checks.check_bias_free_prediction, answer, fragment)
    if isinstance(answer, str) and answer.upper() in "BCD":
        assert "is not what happens" in message


# ---------------------------------------------------------------- 1.6 a learning rate (experiment)


@pytest.fixture()
def tiny_data(monkeypatch):
    """Stand-in data: 1000 images with ten strong directions, so that a run takes about a second."""
    monkeypatch.setenv("AECOURSE_MODE", "standard")
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(784, 784, generator=g))[0]
    scales = torch.cat([torch.linspace(1.0, 0.5, 10), torch.full((774,), 0.001)])
    x = 0.3 + 10 * (torch.randn(1000, 784, generator=g) * scales) @ basis.T
    xc = x.double() - x.double().mean(0)
    V = torch.linalg.eigh(xc.T @ xc)[1].flip(1)[:, :10]
    monkeypatch.setattr(lesson01, "_align_data", lambda n: (x, V))
    monkeypatch.setattr(lesson01, "align_budget", lambda: {"n": 1000, "epochs": 8, "target": 10.0})


def test_alignment_accepts_a_learning_rate_that_reaches_the_target(tiny_data, capsys):
    checks.check_alignment_lr(1e-2)
    checks.check_alignment_lr(np.float32(1e-2))
    checks.check_alignment_lr(torch.tensor(0.01))
    out = capsys.readouterr().out
    assert out.count("✓ lr_1_6: at lr = 0.01 the median principal angle is") == 3 and "target 10°" in out


@pytest.mark.parametrize("lr", [1e-3, 1e-1])  # too slow, too noisy
def test_alignment_rejects_a_weak_learning_rate_with_the_distance(tiny_data, lr):
    message = rejects(checks.check_alignment_lr, lr, f"at lr = {lr:g}", "median principal angle is",
                      "above the target 10°", "standard mode's target")
    median = lesson01._alignment_run(lr, 1000, 8)[0].median().item()
    assert f"{median:.1f}°, {median - 10:.1f}° above" in message


@pytest.mark.parametrize("lr, fragment", [
    ("1e-2", "expected one positive number"),
    ([1e-2, 3e-3], "expected one positive number"),
    (True, "expected one positive number"),
    (-1e-2, "a learning rate is a positive number"),
    (0, "a learning rate is a positive number"),
    (float("nan"), "a learning rate is a positive number"),
    (None, "not written yet"),
])
def test_alignment_rejects_what_is_not_a_learning_rate(tiny_data, lr, fragment):
    rejects(checks.check_alignment_lr, lr, fragment)


def test_alignment_reports_a_diverged_run(tiny_data, monkeypatch):
    def diverges(lr, n, epochs):
        raise FloatingPointError("the training loss became nan")

    monkeypatch.setattr(lesson01, "_alignment_run", diverges)
    rejects(checks.check_alignment_lr, 5.0, "at lr = 5 the run diverged", "try a smaller learning rate")


def test_alignment_smoke_mode_trains_on_mnist_and_names_its_target(monkeypatch, capsys):
    monkeypatch.setenv("AECOURSE_MODE", "smoke")
    checks.check_alignment_lr(7e-3)
    assert "(target 80°, smoke mode's)" in capsys.readouterr().out
    rejects(checks.check_alignment_lr, 1e-3, "above the target 80° (smoke mode's target)")


def test_the_notebooks_helper_uses_the_checks_budget():
    """The exercise's median_angle(lr) trains exactly as the check does: same images, epochs, model, batches."""
    nb = json.loads((ROOT / "solutions" / "01_linear_autoencoder_vs_pca_exercises.ipynb").read_text())
    source = "\n".join("".join(c["source"]) for c in nb["cells"])
    assert "n_train = aecourse.pick(smoke=2000, standard=10000, full=10000)" in source
    assert "epochs_1_6 = 4" in source and "batch_size=128" in source and "torch.manual_seed(0)" in source
    assert "nn.Sequential(nn.Linear(784, 10), nn.Linear(10, 784))" in source
    for mode in ("smoke", "standard", "full"):
        monkeypatch = pytest.MonkeyPatch()
        monkeypatch.setenv("AECOURSE_MODE", mode)
        budget = lesson01.align_budget()
        monkeypatch.undo()
        assert budget["n"] == {"smoke": 2000, "standard": 10000, "full": 10000}[mode] and budget["epochs"] == 4
    assert (lesson01.ALIGN_K, lesson01.ALIGN_BATCH) == (10, 128)


# ---------------------------------------------------------------- what every check shares


def test_a_crash_names_the_error_and_the_inputs():
    def broken(W_d, x):
        return x @ W_d.T

    rejects(checks.check_principal_directions, broken, "raised RuntimeError", "W_d=tensor (5, 3)")


def test_the_error_of_a_crash_is_chained_for_the_traceback():
    def broken(*args):
        raise KeyError("oops")

    with pytest.raises(AssertionError) as err:
        checks.check_linear_ae_gradients(broken)
    assert isinstance(err.value.__cause__, KeyError)


def test_a_diagnosis_is_shown_once(capsys):
    message = rejects(checks.check_principal_directions, dirs_ascending, "smallest variance first")
    assert capsys.readouterr().out == ""
    try:
        checks.check_principal_directions(dirs_ascending)
    except checks.CheckFailed as err:
        assert err._render_traceback_()[-1] == f"CheckFailed: {message}"
