"""aecourse.checks for exercises 05: the reference answers pass, plausible mistakes are named."""

import pytest
import torch

from aecourse import checks, penalties
from check_helpers import rejects

# ---------------------------------------------------------------- 5.1 the closed-form penalty


def contractive_penalty(h, weight, lam):
    per_example = (h * (1 - h)) ** 2 @ (weight**2).sum(dim=1)  # (B,)
    return lam * per_example.mean()


def penalty_broadcast(h, weight, lam):  # the same sum written with broadcasting
    return lam * ((h * (1 - h)) ** 2 * (weight**2).sum(dim=1)).sum(dim=1).mean()


def penalty_einsum(h, weight, lam):  # forms the Jacobian, then its Frobenius norm
    jac = torch.einsum("bk,kd->bkd", h * (1 - h), weight)
    return lam * jac.pow(2).sum(dim=(1, 2)).mean()


def penalty_package(h, weight, lam):
    return penalties.contractive_sigmoid(h, weight, lam)


def penalty_stub(h, weight, lam):
    raise NotImplementedError()


def penalty_dh_not_squared(h, weight, lam):
    return lam * ((h * (1 - h)) @ (weight**2).sum(dim=1)).mean()


def penalty_w_not_squared(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 @ weight.sum(dim=1)).mean()


def penalty_w_abs(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 @ weight.abs().sum(dim=1)).mean()


def penalty_sqrt(h, weight, lam):
    return lam * contractive_penalty(h, weight, 1.0).sqrt()  # sqrt of the mean is not the mean of sqrts


def penalty_sqrt_per_example(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 @ (weight**2).sum(dim=1)).sqrt().mean()


def penalty_h_as_derivative(h, weight, lam):
    return lam * (h**2 @ (weight**2).sum(dim=1)).mean()


def penalty_tanh_derivative(h, weight, lam):
    return lam * ((1 - h**2) ** 2 @ (weight**2).sum(dim=1)).mean()


def penalty_sigmoid_twice(h, weight, lam):
    s = torch.sigmoid(h)
    return lam * ((s * (1 - s)) ** 2 @ (weight**2).sum(dim=1)).mean()


def penalty_batch_sum(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 @ (weight**2).sum(dim=1)).sum()


def penalty_mean_over_units(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 * (weight**2).sum(dim=1)).mean()


def penalty_wrong_axis(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2 @ (weight**2).sum(dim=0)).mean()


def penalty_whole_matrix(h, weight, lam):
    return lam * ((h * (1 - h)) ** 2).sum(dim=1).mean() * (weight**2).sum()


def penalty_no_lambda(h, weight, lam):
    return contractive_penalty(h, weight, 1.0)


def penalty_per_example(h, weight, lam):
    return lam * (h * (1 - h)) ** 2 @ (weight**2).sum(dim=1)


def penalty_per_unit(h, weight, lam):
    return lam * (h * (1 - h)) ** 2 * (weight**2).sum(dim=1)


def penalty_item(h, weight, lam):
    return contractive_penalty(h, weight, lam).item()


def penalty_detached(h, weight, lam):
    return contractive_penalty(h.detach(), weight.detach(), lam)


def penalty_h_detached(h, weight, lam):
    return contractive_penalty(h.detach(), weight, lam)


def penalty_in_place(h, weight, lam):
    dh = h.mul_(1 - h)  # overwrites h
    return lam * (dh**2 @ (weight**2).sum(dim=1)).mean()


def penalty_float64(h, weight, lam):
    return contractive_penalty(h.double(), weight.double(), lam)


def penalty_float64_inside(h, weight, lam):  # float64 maths, float32 result: correct
    return contractive_penalty(h.double(), weight.double(), lam).to(h.dtype)


def penalty_cpu_lambda(h, weight, lam):
    scale = torch.full((h.shape[1],), float(lam))  # made on the CPU whatever h's device
    return ((h * (1 - h)) ** 2 * (weight**2).sum(dim=1) * scale).sum(dim=1).mean()


def test_contractive_penalty_reference_passes(capsys):
    checks.check_contractive_penalty(contractive_penalty)
    checks.check_contractive_penalty(contractive_penalty, seed=1, batch=7, k=32, d=100, lam=2.5)
    checks.check_contractive_penalty(penalty_broadcast, seed=2)
    checks.check_contractive_penalty(penalty_einsum)
    checks.check_contractive_penalty(penalty_package, seed=3, lam=1.0)
    checks.check_contractive_penalty(penalty_float64_inside, seed=4)
    out = capsys.readouterr().out
    assert "✓ contractive_penalty: equals λ · mean over the batch of ‖J_f(x)‖²_F" in out
    assert "✓ penalty_package" in out


@pytest.mark.parametrize("answer, fragment", [
    (penalty_stub, "not written yet"),
    (penalty_dh_not_squared, "h_j(1 − h_j) is not squared"),
    (penalty_w_not_squared, "the weights are not squared"),
    (penalty_w_abs, "used |W_ji| instead of W_ji²"),
    (penalty_sqrt, "took a square root"),
    (penalty_sqrt_per_example, "took a square root"),
    (penalty_h_as_derivative, "used h_j as the sigmoid's derivative"),
    (penalty_tanh_derivative, "the derivative of tanh"),
    (penalty_sigmoid_twice, "applied the sigmoid to h again"),
    (penalty_batch_sum, "summed over the batch"),
    (penalty_mean_over_units, "averaged over the hidden units as well"),
    (penalty_wrong_axis, "summed W² over the hidden units (dim=0)"),
    (penalty_whole_matrix, "summed W² over the whole matrix"),
    (penalty_no_lambda, "left out lam"),
    (penalty_per_example, "returned one value per example, shape (B,)"),
    (penalty_per_unit, "shape (B, K); sum over the units"),
    (penalty_item, "returned a Python number"),
    (penalty_detached, "cut off from autograd"),
    (penalty_h_detached, "h was detached"),
    (penalty_in_place, "changed its input `h` in place"),
    (penalty_float64, "returned float64, expected float32"),
    (penalty_cpu_lambda, "made a tensor on the CPU"),
])
def test_contractive_penalty_mistakes_are_named(answer, fragment):
    rejects(checks.check_contractive_penalty, answer, fragment)


def test_contractive_penalty_wrong_axis_crashes_on_a_rectangular_w_only():
    # with K != D the transposed row norms cannot even be multiplied: the square case names the mistake first
    message = rejects(checks.check_contractive_penalty, penalty_wrong_axis, "nn.Linear stores W as (K, D)")
    assert "square W" in message


def test_contractive_penalty_reference_agrees_with_the_package():
    # the check's reference is autograd's Jacobian; the package's closed form must match it
    from aecourse.checks.lesson05 import _autograd_penalty, _sigmoid_layer

    x, w, b = _sigmoid_layer(0, 5, 12, 30)
    h = torch.sigmoid(x @ w.T + b)
    torch.testing.assert_close(penalties.contractive_sigmoid(h, w, 0.7).double(),
                               _autograd_penalty(x, w, b, 0.7), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(penalties.jacobian_frobenius_sq(torch.nn.Sequential(), x).mean(),
                               torch.tensor(30.0))  # the identity map: ‖I‖²_F = D


# ---------------------------------------------------------------- 5.2 the Jacobian of a two-layer encoder


def two_layer_jacobian(x, w1, b1, w2, b2):
    h1 = torch.sigmoid(x @ w1.T + b1)
    h2 = torch.tanh(h1 @ w2.T + b2)
    return ((1 - h2**2)[:, :, None] * w2) @ ((h1 * (1 - h1))[:, :, None] * w1)


def jacobian_einsum(x, w1, b1, w2, b2):  # one einsum, the slopes from the pre-activations
    a1 = x @ w1.T + b1
    s1 = torch.sigmoid(a1) * (1 - torch.sigmoid(a1))
    a2 = torch.sigmoid(a1) @ w2.T + b2
    t2 = 1 / torch.cosh(a2) ** 2  # sech² = 1 − tanh²
    return torch.einsum("bk,kj,bj,jd->bkd", t2, w2, s1, w1)


def jacobian_diag_embed(x, w1, b1, w2, b2):  # explicit diagonal matrices, float64 inside
    xd, w1d, w2d = x.double(), w1.double(), w2.double()
    h1 = torch.sigmoid(xd @ w1d.T + b1.double())
    h2 = torch.tanh(h1 @ w2d.T + b2.double())
    j = torch.diag_embed(1 - h2**2) @ w2d @ torch.diag_embed(h1 * (1 - h1)) @ w1d
    return j.to(x.dtype)


def jacobian_autograd(x, w1, b1, w2, b2):  # autograd is a correct answer too (the text asks not to)
    def f(xi):
        return torch.tanh(w2 @ torch.sigmoid(w1 @ xi + b1) + b2)
    return torch.func.vmap(torch.func.jacrev(f))(x)


def jacobian_modules(x, w1, b1, w2, b2):  # through nn.functional.linear and the activation modules
    sig, th = torch.nn.Sigmoid(), torch.nn.Tanh()
    h1 = sig(torch.nn.functional.linear(x, w1, b1))
    h2 = th(torch.nn.functional.linear(h1, w2, b2))
    rows = (1 - h2 * h2).unsqueeze(2) * w2.unsqueeze(0)
    return torch.bmm(rows * (h1 - h1 * h1).unsqueeze(1), w1.expand(len(x), -1, -1))


def _jac(outer, inner, w1, w2):
    return torch.einsum("bk,kj,bj,jd->bkd", outer, w2, inner, w1)


def _layers(x, w1, b1, w2, b2):
    h1 = torch.sigmoid(x @ w1.T + b1)
    return h1, torch.tanh(h1 @ w2.T + b2)


def jacobian_stub(x, w1, b1, w2, b2):
    raise NotImplementedError()


def jacobian_no_tanh_slope(x, w1, b1, w2, b2):
    h1, h2 = _layers(x, w1, b1, w2, b2)
    return _jac(torch.ones_like(h2), h1 * (1 - h1), w1, w2)


def jacobian_no_sigmoid_slope(x, w1, b1, w2, b2):
    h1, h2 = _layers(x, w1, b1, w2, b2)
    return _jac(1 - h2**2, torch.ones_like(h1), w1, w2)


def jacobian_linear(x, w1, b1, w2, b2):
    return (w2 @ w1).expand(len(x), -1, -1)


def jacobian_sigmoid_slope_for_tanh(x, w1, b1, w2, b2):
    h1, h2 = _layers(x, w1, b1, w2, b2)
    return _jac(h2 * (1 - h2), h1 * (1 - h1), w1, w2)


def jacobian_tanh_slope_for_sigmoid(x, w1, b1, w2, b2):
    h1, h2 = _layers(x, w1, b1, w2, b2)
    return _jac(1 - h2**2, 1 - h1**2, w1, w2)


def jacobian_swapped_slopes(x, w1, b1, w2, b2):
    h1, h2 = _layers(x, w1, b1, w2, b2)
    return _jac(h2 * (1 - h2), 1 - h1**2, w1, w2)


def jacobian_activations_as_slopes(x, w1, b1, w2, b2):
    h1, h2 = _layers(x, w1, b1, w2, b2)
    return _jac(h2, h1, w1, w2)


def jacobian_activation_twice(x, w1, b1, w2, b2):
    h1, h2 = _layers(x, w1, b1, w2, b2)
    s = torch.sigmoid(h1)
    return _jac(1 - torch.tanh(h2) ** 2, s * (1 - s), w1, w2)


def jacobian_squared_slopes(x, w1, b1, w2, b2):
    h1, h2 = _layers(x, w1, b1, w2, b2)
    return _jac((1 - h2**2) ** 2, (h1 * (1 - h1)) ** 2, w1, w2)


def jacobian_no_bias(x, w1, b1, w2, b2):
    h1, h2 = _layers(x, w1, torch.zeros_like(b1), w2, torch.zeros_like(b2))
    return _jac(1 - h2**2, h1 * (1 - h1), w1, w2)


def jacobian_transposed(x, w1, b1, w2, b2):
    return two_layer_jacobian(x, w1, b1, w2, b2).transpose(1, 2)


def jacobian_batch_mean(x, w1, b1, w2, b2):
    return two_layer_jacobian(x, w1, b1, w2, b2).mean(dim=0)


def jacobian_first_layer(x, w1, b1, w2, b2):
    h1 = torch.sigmoid(x @ w1.T + b1)
    return (h1 * (1 - h1))[:, :, None] * w1


def jacobian_penalty(x, w1, b1, w2, b2):
    return (two_layer_jacobian(x, w1, b1, w2, b2) ** 2).sum(dim=(1, 2))


def jacobian_detached(x, w1, b1, w2, b2):
    return two_layer_jacobian(x, w1.detach(), b1.detach(), w2.detach(), b2.detach())


def jacobian_h_detached(x, w1, b1, w2, b2):
    h1, h2 = _layers(x, w1, b1, w2, b2)
    return _jac((1 - h2**2).detach(), (h1 * (1 - h1)).detach(), w1, w2)


def jacobian_float64(x, w1, b1, w2, b2):
    return jacobian_diag_embed(x, w1, b1, w2, b2).double()


def jacobian_cpu_ones(x, w1, b1, w2, b2):
    h1, h2 = _layers(x, w1, b1, w2, b2)
    ones = torch.ones(w1.shape[1])  # made on the CPU whatever x's device
    return _jac(1 - h2**2, h1 * (1 - h1), w1 * ones, w2)


def jacobian_numpy(x, w1, b1, w2, b2):
    return torch.from_numpy(two_layer_jacobian(x, w1, b1, w2, b2).detach().numpy())


def test_two_layer_jacobian_correct_answers_pass(capsys):
    for answer in (two_layer_jacobian, jacobian_einsum, jacobian_diag_embed, jacobian_autograd, jacobian_modules):
        checks.check_two_layer_jacobian(answer)
        checks.check_two_layer_jacobian(answer, seed=1, batch=6, d=30, k1=12, k2=8)
    checks.check_two_layer_jacobian(two_layer_jacobian, seed=2, batch=2, d=784, k1=64, k2=16)
    out = capsys.readouterr().out
    assert "✓ two_layer_jacobian: equals the Jacobian of x ↦ tanh(W2 σ(W1 x + b1) + b2)" in out
    assert "✓ jacobian_modules" in out


@pytest.mark.parametrize("answer, fragment", [
    (jacobian_stub, "not written yet"),
    (jacobian_no_tanh_slope, "left out the tanh layer's slope"),
    (jacobian_no_sigmoid_slope, "left out the sigmoid layer's slope"),
    (jacobian_linear, "left out both activations' slopes"),
    (jacobian_sigmoid_slope_for_tanh, "used the sigmoid's slope h2(1 − h2) for the tanh layer"),
    (jacobian_tanh_slope_for_sigmoid, "used tanh's slope 1 − h1² for the sigmoid layer"),
    (jacobian_swapped_slopes, "swapped the two slopes"),
    (jacobian_activations_as_slopes, "used the activations h1, h2 as the slopes"),
    (jacobian_activation_twice, "applied the activation to h again"),
    (jacobian_squared_slopes, "squared the slopes"),
    (jacobian_no_bias, "left out the biases b1 and b2"),
    (jacobian_transposed, "the transpose"),
    (jacobian_batch_mean, "returned one (K2, D) matrix"),
    (jacobian_first_layer, "the Jacobian of the first layer only"),
    (jacobian_penalty, "returned ‖J‖²_F per example"),
    (jacobian_detached, "cut off from autograd"),
    (jacobian_h_detached, "gradient of ‖J‖²_F with respect to W"),
    (jacobian_float64, "returned float64, expected float32"),
    (jacobian_cpu_ones, "made a tensor on the CPU"),
    (jacobian_numpy, "cut off from autograd"),
])
def test_two_layer_jacobian_mistakes_are_named(answer, fragment):
    rejects(checks.check_two_layer_jacobian, answer, fragment)


def test_two_layer_jacobian_mistakes_never_coincide():
    import itertools

    from aecourse.checks.lesson05 import _two_layer, _two_layer_mistakes, _two_layer_reference

    for seed in range(4):
        case = _two_layer(seed, 3, 7, 5, 4)
        values = [make() for _, make in _two_layer_mistakes(*case)] + [_two_layer_reference(*case)]
        for a, b in itertools.combinations(values, 2):
            assert not torch.allclose(a.double(), b.double(), rtol=1e-3, atol=1e-4)


def test_two_layer_jacobian_unknown_mistake_shows_the_largest_error():
    def off(x, w1, b1, w2, b2):
        j = two_layer_jacobian(x, w1, b1, w2, b2)
        return j + (torch.arange(j.numel()).reshape(j.shape) == 5) * 0.1  # one wrong entry

    rejects(checks.check_two_layer_jacobian, off, "wrong values", "entry (0, 0, 5)")


def test_two_layer_jacobian_rejects_degenerate_sizes():
    with pytest.raises(ValueError, match="three different sizes"):
        checks.check_two_layer_jacobian(two_layer_jacobian, d=5, k1=5)


# ---------------------------------------------------------------- 5.3 predict: scaling the weights


@pytest.mark.parametrize("answer", ["C", "c", " C\n"])
def test_prediction_5_3_right_letter_passes(answer, capsys):
    checks.check_prediction_5_3(answer)
    out = capsys.readouterr().out
    assert "✓ prediction_5_3: C is right" in out and "measured on 1,000 test digits" in out


@pytest.mark.parametrize("answer, fragment", [
    ("A", "the few whose pre-activation stays near 0"),
    ("b", "do not cancel"),
    ("D", "c² would hold only if the slopes"),
    (None, "not written yet"),
    ("E", "expected one letter"),
    (3, "expected one letter"),
    ("C or D", "expected one letter"),
])
def test_prediction_5_3_wrong_answers_are_explained(answer, fragment):
    rejects(checks.check_prediction_5_3, answer, fragment)


def test_prediction_5_3_letter_is_what_the_run_shows():
    from aecourse.checks.lesson05 import scaled_penalties

    runs = scaled_penalties((1, 100))
    assert 100 < runs[100][0] / runs[1][0] < 1000  # C
    assert runs[1][1] > 0.95 and runs[100][1] < 0.5  # unsaturated at c = 1, mostly saturated at c = 100


# ---------------------------------------------------------------- 5.4 experiment: choose λ


@pytest.fixture
def fake_cae(monkeypatch):
    """A stand-in for the training run: ‖J‖ falls and the error rises smoothly with λ."""
    from aecourse.checks import lesson05

    calls = []

    def fake(lam, n_train, epochs, n_val):
        calls.append(lam)
        return {"jacobian": 2.3 / (1 + 1.6 * lam), "error": 46.6 + 2.6 * lam, "row_norm": 0.1,
                "slope": 0.2, "saturated": 0.0}

    monkeypatch.setattr(lesson05, "train_cae", fake)
    monkeypatch.setattr(lesson05, "cae_budget", lambda: {
        "mode": "standard", "n_train": 6000, "epochs": 2, "n_val": 2000, "jacobian_target": 1.4,
        "error_bound": 48.0})
    return calls


@pytest.mark.parametrize("lam", [0.5, 0.45, torch.tensor(0.5)])
def test_cae_lambda_good_settings_pass(fake_cae, lam, capsys):
    checks.check_cae_lambda(lam)
    assert "✓ lam_5_4: λ = " in capsys.readouterr().out


@pytest.mark.parametrize("lam, fragments", [
    (0.0, ("λ = 0 is too small", "0.900 above its target 1.4")),
    (0.1, ("λ = 0.1 is too small", "above its target 1.4")),
    (0.3, ("λ = 0.3 is too small", "0.154 above its target")),
    (0.01, ("is too small",)),
    (1.0, ("λ = 1 is too large", "1.20 above its bound 48.0")),
    (0.8, ("λ = 0.8 is too large", "0.68 above its bound")),
    (30.0, ("is too large",)),
])
def test_cae_lambda_weak_settings_say_how_far_off(fake_cae, lam, fragments):
    rejects(checks.check_cae_lambda, lam, *fragments)


def test_cae_lambda_both_missed(monkeypatch, fake_cae):
    from aecourse.checks import lesson05

    monkeypatch.setattr(lesson05, "train_cae", lambda *a: {"jacobian": 2.0, "error": 50.0})
    rejects(checks.check_cae_lambda, 0.5, "misses both")


@pytest.mark.parametrize("lam, fragment", [
    (None, "not written yet"),
    ("0.5", "expected a number"),
    (True, "expected a number"),
    (-0.1, "finite number ≥ 0"),
    (float("nan"), "finite number ≥ 0"),
    (float("inf"), "finite number ≥ 0"),
])
def test_cae_lambda_rejects_non_answers(fake_cae, lam, fragment):
    rejects(checks.check_cae_lambda, lam, fragment)
    assert fake_cae == []  # nothing was trained


def test_train_cae_is_repeatable_and_leaves_the_random_state_alone():
    from aecourse.checks import lesson05

    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    first = lesson05.train_cae(0.5, 256, 1, 64)
    torch.testing.assert_close(torch.rand(3), expected)
    lesson05._CAE_RUNS.clear()
    again = lesson05.train_cae(0.5, 256, 1, 64)
    assert first == again and set(first) == {"error", "jacobian", "row_norm", "slope", "saturated"}
    assert lesson05.train_cae(3.0, 256, 1, 64)["jacobian"] < first["jacobian"]
