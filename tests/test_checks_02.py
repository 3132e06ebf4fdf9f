"""aecourse.checks for exercises 02: the reference answers pass, plausible mistakes are named."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aecourse import checks
from check_helpers import rejects

# ---------------------------------------------------------------- 2.1 layers from a list of sizes


def _stack(dims, last=()):
    layers = []
    for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(d_in, d_out), nn.ReLU()]
    return layers[:-1] + list(last)


def mlp_layers(sizes):
    return nn.Sequential(*_stack(sizes)), nn.Sequential(*_stack(sizes[::-1], [nn.Sigmoid()]))


def mlp_nested(sizes):  # blocks of Sequentials are fine too
    blocks = [nn.Sequential(nn.Linear(a, b), nn.ReLU()) for a, b in zip(sizes[:-2], sizes[1:-1], strict=True)]
    encoder = nn.Sequential(*blocks, nn.Linear(sizes[-2], sizes[-1]))
    return encoder, nn.Sequential(*_stack(sizes[::-1]), nn.Sigmoid())


def mlp_flatten_first(sizes):  # as in the lesson, so that images (N, 1, 28, 28) work too
    encoder, decoder = mlp_layers(sizes)
    return nn.Sequential(nn.Flatten(), *encoder), decoder


def mlp_relu_on_code(sizes):
    encoder, decoder = mlp_layers(sizes)
    return nn.Sequential(*encoder, nn.ReLU()), decoder


def mlp_no_sigmoid(sizes):
    return nn.Sequential(*_stack(sizes)), nn.Sequential(*_stack(sizes[::-1]))


def mlp_relu_before_sigmoid(sizes):
    return nn.Sequential(*_stack(sizes)), nn.Sequential(*_stack(sizes[::-1]), nn.ReLU(), nn.Sigmoid())


def mlp_not_mirrored(sizes):
    return nn.Sequential(*_stack(sizes)), nn.Sequential(*_stack([sizes[-1], sizes[0]]), nn.Sigmoid())


def mlp_skips_a_size(sizes):  # range(len(sizes) - 2): one layer short
    layers = []
    for i in range(len(sizes) - 2):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
    return nn.Sequential(*layers[:-1]), nn.Sequential(*_stack(sizes[::-1]), nn.Sigmoid())


def mlp_no_hidden_activation(sizes):
    encoder = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
    return encoder, nn.Sequential(*_stack(sizes[::-1]), nn.Sigmoid())


def mlp_sigmoid_hidden(sizes):
    encoder = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.Sigmoid(), *_stack(sizes[1:]))
    return encoder, nn.Sequential(*_stack(sizes[::-1]), nn.Sigmoid())


def mlp_python_lists(sizes):
    return _stack(sizes), _stack(sizes[::-1], [nn.Sigmoid()])


def mlp_one_module(sizes):
    encoder, decoder = mlp_layers(sizes)
    return nn.Sequential(encoder, decoder)


def test_mlp_layers_reference_passes(capsys):
    checks.check_mlp_layers(mlp_layers)
    checks.check_mlp_layers(mlp_nested, sizes=(784, 256, 128, 32))
    checks.check_mlp_layers(mlp_layers, sizes=(50, 3))
    checks.check_mlp_layers(mlp_flatten_first)
    out = capsys.readouterr().out
    assert "✓ mlp_layers: encoder 784 → 64 → 16 → 2 with ReLUs" in out and "✓ mlp_nested" in out


@pytest.mark.parametrize("answer, fragment", [
    (mlp_relu_on_code, "the encoder ends with ReLU after its last Linear layer"),
    (mlp_no_sigmoid, "the decoder must end with nn.Sigmoid()"),
    (mlp_relu_before_sigmoid, "the decoder has ReLU right before its Sigmoid"),
    (mlp_not_mirrored, "the decoder's Linear layers are Linear(2, 784); expected Linear(2, 16), "
                       "Linear(16, 64), Linear(64, 784) (the encoder's, mirrored)"),
    (mlp_skips_a_size, "the encoder's Linear layers are Linear(784, 64), Linear(64, 16); expected"),
    (mlp_no_hidden_activation, "no activation between Linear(784, 64) and Linear(64, 16)"),
    (mlp_sigmoid_hidden, "the encoder has Sigmoid between Linear(784, 64) and Linear(64, 16)"),
    (mlp_python_lists, "the encoder is a Python list; wrap the layers in nn.Sequential(*layers)"),
    (mlp_one_module, "returned Sequential; return the pair (encoder, decoder)"),
])
def test_mlp_layers_mistakes_are_named(answer, fragment):
    rejects(checks.check_mlp_layers, answer, fragment)


# ---------------------------------------------------------------- 2.2 the BCE loss


def bce_loss(x_hat, x):
    log_p = torch.log(x_hat).clamp(min=-100)
    log_q = torch.log(1 - x_hat).clamp(min=-100)
    return -(x * log_p + (1 - x) * log_q).sum(dim=1).mean()


def bce_with_torch(x_hat, x):
    return F.binary_cross_entropy(x_hat, x, reduction="none").sum(dim=1).mean()


def bce_with_eps(x_hat, x):
    eps = 1e-7
    return -(x * torch.log(x_hat + eps) + (1 - x) * torch.log(1 - x_hat + eps)).sum(dim=1).mean()


def bce_default_mean(x_hat, x):
    return F.binary_cross_entropy(x_hat, x)


def bce_summed(x_hat, x):
    return F.binary_cross_entropy(x_hat, x, reduction="sum")


def bce_per_image(x_hat, x):
    return F.binary_cross_entropy(x_hat, x, reduction="none").sum(dim=1)


def bce_per_pixel(x_hat, x):
    return F.binary_cross_entropy(x_hat, x, reduction="none")


def bce_no_minus(x_hat, x):
    return (x * torch.log(x_hat).clamp(min=-100) + (1 - x) * torch.log(1 - x_hat).clamp(min=-100)).sum(1).mean()


def bce_unclamped(x_hat, x):
    return -(x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)).sum(dim=1).mean()


def bce_swapped(x_hat, x):
    return F.binary_cross_entropy(x, x_hat, reduction="sum") / len(x)


def bce_first_term_only(x_hat, x):
    return -(x * torch.log(x_hat).clamp(min=-100)).sum(dim=1).mean()


def bce_item(x_hat, x):
    return bce_with_torch(x_hat, x).item()


def bce_detached(x_hat, x):
    return bce_with_torch(x_hat.detach(), x)


def bce_mse(x_hat, x):
    return ((x_hat - x) ** 2).sum(dim=1).mean()


def test_bce_reference_passes(capsys):
    checks.check_bce_loss(bce_loss)
    checks.check_bce_loss(bce_with_torch, seed=1, batch=7, d=100)
    checks.check_bce_loss(bce_with_eps, seed=2)
    assert "✓ bce_loss: equals F.binary_cross_entropy" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (bce_default_mean, "averaged over pixels as well as over the batch"),
    (bce_summed, "summed over the batch as well"),
    (bce_per_image, "returned one loss per image, shape (B,)"),
    (bce_per_pixel, "returned the loss of every pixel, shape (B, D)"),
    (bce_no_minus, "the loss has the wrong sign"),
    (bce_unclamped, "NaN or inf where x_hat is exactly 0 or 1"),
    (bce_swapped, "swapped x_hat and x"),
    (bce_first_term_only, "left out the (1 − x)·log(1 − x̂) term"),
    (bce_item, "returned a Python number"),
    (bce_detached, "cut off from autograd"),
    (bce_mse, "computed the squared error"),
])
def test_bce_mistakes_are_named(answer, fragment):
    rejects(checks.check_bce_loss, answer, fragment)


def test_bce_unclamped_logs_pass_unsaturated_inputs_then_fail_on_saturated_ones():
    message = rejects(checks.check_bce_loss, bce_unclamped, "clamp each log at -100")
    assert "saturated sigmoid" in message


def test_bce_in_place_changes_are_caught_on_the_inputs_only():
    def clamps_a_copy(x_hat, x):
        return bce_with_torch(x_hat, x.clone().clamp_(0, 1))

    def clamps_the_target(x_hat, x):
        x.clamp_(0.01, 0.99)
        return bce_with_torch(x_hat, x)

    checks.check_bce_loss(clamps_a_copy)
    rejects(checks.check_bce_loss, clamps_the_target, "changed its input `x` in place")


# ---------------------------------------------------------------- 2.3 interpolation


def interpolate(model, x_a, x_b, steps):
    z_a, z_b = model.encoder(x_a), model.encoder(x_b)
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return model.decoder((1 - t) * z_a + t * z_b)


def interpolate_loop(model, x_a, x_b, steps):
    with torch.no_grad():
        z = model.encoder(torch.stack([x_a, x_b]))
        frames = [model.decoder(z[0] + i / (steps - 1) * (z[1] - z[0])) for i in range(steps)]
    return torch.stack(frames)


def interpolate_pixels(model, x_a, x_b, steps):
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return (1 - t) * x_a + t * x_b


def interpolate_through_model(model, x_a, x_b, steps):
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return model((1 - t) * x_a + t * x_b)


def interpolate_reversed(model, x_a, x_b, steps):
    return interpolate(model, x_b, x_a, steps)


def interpolate_short_of_one(model, x_a, x_b, steps):
    z_a, z_b = model.encoder(x_a), model.encoder(x_b)
    t = (torch.arange(steps) / steps).unsqueeze(1)
    return model.decoder((1 - t) * z_a + t * z_b)


def interpolate_inner_points(model, x_a, x_b, steps):
    z_a, z_b = model.encoder(x_a), model.encoder(x_b)
    t = torch.linspace(0, 1, steps + 2)[1:-1].unsqueeze(1)
    return model.decoder((1 - t) * z_a + t * z_b)


def interpolate_raw_ends(model, x_a, x_b, steps):
    inner = interpolate(model, x_a, x_b, steps)[1:-1]
    return torch.cat([x_a[None], inner, x_b[None]])


def interpolate_codes(model, x_a, x_b, steps):
    z_a, z_b = model.encoder(x_a), model.encoder(x_b)
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return (1 - t) * z_a + t * z_b


def interpolate_extra_frame(model, x_a, x_b, steps):
    return interpolate(model, x_a, x_b, steps + 1)


def test_interpolate_reference_passes(capsys):
    checks.check_interpolate(interpolate)
    checks.check_interpolate(interpolate_loop, seed=1, steps=7)
    checks.check_interpolate(interpolate, steps=2)
    assert "✓ interpolate: decodes 5 evenly spaced codes" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (interpolate_pixels, "mixed the pixels of x_a and x_b"),
    (interpolate_through_model, "mixed the images, then ran the whole model"),
    (interpolate_reversed, "the frames run from x_b to x_a"),
    (interpolate_short_of_one, "t never reaches 1"),
    (interpolate_inner_points, "left out the end points"),
    (interpolate_raw_ends, "the first and last frames are x_a and x_b themselves"),
    (interpolate_codes, "returned the codes, shape (steps, k)"),
    (interpolate_extra_frame, "returned shape (6, 784), expected (5, 784)"),
])
def test_interpolate_mistakes_are_named(answer, fragment):
    rejects(checks.check_interpolate, answer, fragment)
