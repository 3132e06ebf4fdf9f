"""aecourse.checks for exercises 07: the reference answers pass, plausible mistakes are named."""

import math

import pytest
import torch
from torch import nn

from aecourse import checks
from check_helpers import rejects

# ---------------------------------------------------------------- 7.1 the decoder


def build_decoder(channels, last_padding=0, sigmoid=False, bias=True, mode="nearest"):
    c1, c2, c3 = channels
    layers = [nn.Conv2d(c3, c3, 3, padding=1, bias=bias), nn.ReLU(), nn.Upsample(scale_factor=2, mode=mode),
              nn.Conv2d(c3, c2, 3, padding=1, bias=bias), nn.ReLU(), nn.Upsample(scale_factor=2, mode=mode),
              nn.Conv2d(c2, c1, 3, padding=last_padding, bias=bias), nn.ReLU(),
              nn.Upsample(scale_factor=2, mode=mode), nn.Conv2d(c1, 1, 3, padding=1, bias=bias)]
    return nn.Sequential(*layers, *([nn.Sigmoid()] if sigmoid else []))


def decoder_bilinear(channels):
    return build_decoder(channels, mode="bilinear")


def decoder_padded_third(channels):
    return build_decoder(channels, last_padding=1)


def decoder_sigmoid(channels):
    return build_decoder(channels, sigmoid=True)


def decoder_no_bias(channels):
    return build_decoder(channels, bias=False)


def decoder_not_mirrored(channels):
    return build_decoder(channels[::-1])


def decoder_relu_on_logits(channels):
    return nn.Sequential(*build_decoder(channels), nn.ReLU())


def decoder_upsample_three(channels):
    layers = list(build_decoder(channels))
    layers[2] = nn.Upsample(scale_factor=3)
    return nn.Sequential(*layers)


def test_conv_decoder_reference_passes(capsys):
    checks.check_conv_decoder(build_decoder)
    checks.check_conv_decoder(decoder_bilinear, channels=(32, 16, 4))
    checks.check_conv_decoder(build_decoder, channels=(8, 4, 2), batch=3, seed=1)
    out = capsys.readouterr().out
    assert "✓ build_decoder: (N, 8, 4, 4) → (N, 8, 8, 8) → (N, 8, 16, 16) → (N, 16, 28, 28) → (N, 1, 28, 28)" in out
    assert "2,481 parameters" in out


@pytest.mark.parametrize("answer, fragment", [
    (decoder_padded_third, "layer 7 of the decoder"),
    (decoder_padded_third, "takes no padding"),
    (decoder_sigmoid, "ends with a Sigmoid; return logits"),
    (decoder_relu_on_logits, "extra layers at its end (ReLU)"),
    (decoder_no_bias, "biases are missing"),
    (decoder_not_mirrored, "channels"),
    (decoder_upsample_three, "nn.Upsample(scale_factor=2)"),
])
def test_conv_decoder_mistakes_are_named(answer, fragment):
    rejects(checks.check_conv_decoder, answer, fragment, channels=(16, 8, 4))


def decoder_shared_relu(channels):
    c1, c2, c3 = channels
    relu, up = nn.ReLU(), nn.Upsample(scale_factor=2)  # one instance of each, reused
    return nn.Sequential(nn.Conv2d(c3, c3, 3, padding=1), relu, up, nn.Conv2d(c3, c2, 3, padding=1), relu, up,
                         nn.Conv2d(c2, c1, 3), relu, up, nn.Conv2d(c1, 1, 3, padding=1))


def decoder_nearest_subclass(channels):
    layers = [nn.UpsamplingNearest2d(scale_factor=2) if isinstance(m, nn.Upsample) else m
              for m in build_decoder(channels)]
    return nn.Sequential(*layers)


def decoder_identity_and_blocks(channels):
    layers = list(build_decoder(channels))
    blocks = [nn.Sequential(*layers[i:i + 3]) for i in range(0, 9, 3)]
    return nn.Sequential(*blocks, nn.Sequential(layers[9], nn.Identity()))


def decoder_inplace_relu(channels):
    return nn.Sequential(*[nn.ReLU(inplace=True) if isinstance(m, nn.ReLU) else m for m in build_decoder(channels)])


def decoder_list(channels):
    return list(build_decoder(channels))


def decoder_no_relu(channels):
    return nn.Sequential(*[m for m in build_decoder(channels) if not isinstance(m, nn.ReLU)])


def decoder_5x5_last(channels):
    layers = list(build_decoder(channels))
    layers[9] = nn.Conv2d(channels[0], 1, 5, padding=2)
    return nn.Sequential(*layers)


def decoder_transposed(channels):
    c1, c2, c3 = channels
    return nn.Sequential(nn.ConvTranspose2d(c3, c2, 4), nn.ReLU(),
                         nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1))


def test_conv_decoder_correct_answers_pass(capsys):
    for answer in (build_decoder, decoder_bilinear, decoder_shared_relu, decoder_nearest_subclass,
                   decoder_identity_and_blocks, decoder_inplace_relu):
        checks.check_conv_decoder(answer)
        checks.check_conv_decoder(answer, channels=(32, 16, 8))
        checks.check_conv_decoder(answer, channels=(8, 4, 2), batch=3, seed=1)
    out = capsys.readouterr().out
    assert out.count("✓") == 18 and "✗" not in out
    assert "2,481 parameters" in out


@pytest.mark.parametrize("answer, fragment", [
    (decoder_list, "wrap the layers in nn.Sequential"),
    (decoder_no_relu, "the decoder has 0 ReLUs, expected 3"),
    (decoder_5x5_last, "use 3×3 kernels"),
    (decoder_transposed, "uses transposed convolutions"),
])
def test_conv_decoder_more_mistakes_are_named(answer, fragment):
    rejects(checks.check_conv_decoder, answer, fragment)


def test_conv_decoder_stub():
    def stub(channels):
        raise NotImplementedError()

    rejects(checks.check_conv_decoder, stub, "not written yet")


# ---------------------------------------------------------------- 7.2 the receptive field


def receptive_field(layers):
    r, j = 1, 1
    for k, s in layers:
        r += (k - 1) * j
        j *= s
    return r


def receptive_field_backward(layers):
    r = 1
    for k, s in reversed(layers):
        r = (r - 1) * s + k
    return r


def receptive_field_numpy(layers):
    import numpy as np

    ks, ss = np.array([k for k, _ in layers]), np.array([s for _, s in layers])
    jumps = np.concatenate([[1], np.cumprod(ss)[:-1]])
    return np.int64(1 + ((ks - 1) * jumps).sum())


def receptive_field_float(layers):
    return 1.0 + sum((k - 1) * math.prod(s for _, s in layers[:i]) for i, (k, _) in enumerate(layers))


def rf_no_strides(layers):
    return 1 + sum(k - 1 for k, _ in layers)


def rf_own_stride(layers):
    r, j = 1, 1
    for k, s in layers:
        j *= s
        r += (k - 1) * j
    return r


def rf_backward_forward_order(layers):
    r = 1
    for k, s in layers:
        r = (r - 1) * s + k
    return r


def rf_product(layers):
    return math.prod(k for k, _ in layers)


def rf_sum(layers):
    return sum(k for k, _ in layers)


def rf_no_one(layers):
    return receptive_field(layers) - 1


def rf_off_by_jump(layers):
    return receptive_field(layers) + 3


def rf_string(layers):
    return str(receptive_field(layers))


def rf_fraction(layers):
    return receptive_field(layers) + 0.5


def test_receptive_field_correct_answers_pass(capsys):
    for answer in (receptive_field, receptive_field_backward, receptive_field_numpy, receptive_field_float):
        for seed in (0, 1, 2):
            checks.check_receptive_field(answer, seed=seed)
    out = capsys.readouterr().out
    assert out.count("✓") == 12 and "sees 22 × 22 pixels" in out


@pytest.mark.parametrize("answer, fragment", [
    (rf_no_strides, "ignored the strides"),
    (rf_own_stride, "counted each layer's own stride"),
    (rf_backward_forward_order, "applied the output-to-input recursion"),
    (rf_product, "multiplied the kernel sizes"),
    (rf_sum, "added the kernel sizes"),
    (rf_no_one, "left out the 1 you start from"),
    (rf_off_by_jump, "returned 39, expected 36"),
    (rf_string, "returned str"),
    (rf_fraction, "not a whole number"),
])
def test_receptive_field_mistakes_are_named(answer, fragment):
    message = rejects(checks.check_receptive_field, answer, fragment)
    assert "(k - 1)" not in message and "jump *=" not in message


def test_receptive_field_first_case_tells_all_mistakes_apart():
    from aecourse.checks import lesson07

    layers = lesson07.RF_SETTINGS[0]
    values = [v for _, v in lesson07._rf_mistakes(layers)] + [lesson07._receptive_field_reference(layers)]
    assert len(set(values)) == len(values)


def test_receptive_field_stub_and_crash():
    def stub(layers):
        raise NotImplementedError()

    rejects(checks.check_receptive_field, stub, "not written yet")
    rejects(checks.check_receptive_field, lambda layers: layers[0][2], "raised IndexError")


def rf_own_stride_alone(layers):
    return 1 + sum((k - 1) * s for k, s in layers)


def rf_jump_reset(layers):
    r, j = 1, 1
    for k, s in layers:
        r += (k - 1) * j
        j = s  # the previous stride only, not the product
    return r


def rf_backward_no_minus_one(layers):
    r = 1
    for k, s in reversed(layers):
        r = r * s + k
    return r


def rf_jump_returned(layers):
    return math.prod(s for _, s in layers)


def rf_area(layers):
    return receptive_field(layers) ** 2


def rf_plus_one(layers):
    return receptive_field(layers) + 1


def rf_first_kernel_twice(layers):
    return layers[0][0] + receptive_field(layers) - 1


def rf_backward_from_zero(layers):
    r = 0
    for k, s in reversed(layers):
        r = (r - 1) * s + k
    return r


def rf_half_side(layers):
    return (receptive_field(layers) - 1) // 2


def rf_kernel_times_jump(layers):
    return 1 + sum(k * math.prod(s for _, s in layers[:i]) for i, (k, _) in enumerate(layers))


def rf_tuple(layers):
    return receptive_field(layers), math.prod(s for _, s in layers)


def rf_list(layers):
    return [receptive_field(layers)]


@pytest.mark.parametrize("answer, fragment", [
    (rf_own_stride_alone, "by its own stride alone"),
    (rf_jump_reset, "only the stride of the layer just before"),
    (rf_backward_no_minus_one, "left out the − 1 of the output-to-input recursion"),
    (rf_jump_returned, "returned the product of the strides"),
    (rf_area, "returned the area"),
    (rf_tuple, "returned tuple (36, 12); return a whole number"),
    (rf_list, "returned list [36]; return a whole number"),
])
def test_receptive_field_more_mistakes_are_named(answer, fragment):
    rejects(checks.check_receptive_field, answer, fragment)


@pytest.mark.parametrize("answer, got", [
    (rf_plus_one, 37), (rf_first_kernel_twice, 38), (rf_backward_from_zero, 24), (rf_half_side, 17),
    (rf_kernel_times_jump, 58),
])
def test_receptive_field_unknown_mistakes_show_what_was_measured(answer, got):
    message = rejects(checks.check_receptive_field, answer, f"returned {got}, expected 36 (autograd:")
    assert message.count(":") == 2  # the name, then the measurement: no cause is guessed


def receptive_field_reduce(layers):
    import functools

    return functools.reduce(lambda fj, ks: (fj[0] + (ks[0] - 1) * fj[1], fj[1] * ks[1]), layers, (1, 1))[0]


def receptive_field_recursive(layers):
    if not layers:
        return 1
    (_, stride), rest = layers[0], layers[1:]
    return layers[0][0] + stride * (receptive_field_recursive(rest) - 1)


def receptive_field_tensor(layers):
    return torch.tensor(receptive_field(layers))


def receptive_field_numpy_float(layers):
    import numpy as np

    return np.float64(receptive_field_backward(layers))


def receptive_field_cumprod(layers):
    import numpy as np

    jumps = [1, *np.cumprod([s for _, s in layers])[:-1]]
    return int(1 + sum((k - 1) * j for (k, _), j in zip(layers, jumps, strict=True)))


def test_receptive_field_more_correct_answers_pass(capsys):
    for answer in (receptive_field_reduce, receptive_field_recursive, receptive_field_tensor,
                   receptive_field_numpy_float, receptive_field_cumprod):
        for seed in (0, 1, 2):
            checks.check_receptive_field(answer, seed=seed)
    out = capsys.readouterr().out
    assert out.count("✓") == 15 and "✗" not in out


# ---------------------------------------------------------------- 7.3 the taps of a transposed convolution


def taps(n, kernel, stride, padding=0):
    length = (n - 1) * stride + kernel
    counts = torch.zeros(length, dtype=torch.long)
    for i in range(n):
        counts[stride * i: stride * i + kernel] += 1
    return counts[padding: length - padding]


def taps_formula(n, kernel, stride, padding=0):
    out = []
    for t in range((n - 1) * stride + kernel - 2 * padding):
        pos = t + padding
        out.append(sum(1 for u in range(kernel) if (pos - u) % stride == 0 and 0 <= (pos - u) // stride < n))
    return torch.tensor(out)


def taps_list(n, kernel, stride, padding=0):
    return [float(v) for v in taps(n, kernel, stride, padding).tolist()]


def taps_conv_zero_insertion(n, kernel, stride, padding=0):
    x = torch.zeros(1, 1, (n - 1) * stride + 1)
    x[..., ::stride] = 1  # zeros inserted between the inputs
    y = torch.nn.functional.conv1d(x, torch.ones(1, 1, kernel), padding=kernel - 1)[0, 0]
    return y[padding: len(y) - padding]


def taps_no_crop(n, kernel, stride, padding=0):
    return taps(n, kernel, stride, 0)


def taps_crop_start(n, kernel, stride, padding=0):
    return taps(n, kernel, stride, 0)[padding:]


def taps_crop_end(n, kernel, stride, padding=0):
    full = taps(n, kernel, stride, 0)
    return full[:len(full) - padding]


def taps_crop_twice_start(n, kernel, stride, padding=0):
    return taps(n, kernel, stride, 0)[2 * padding:]


def taps_swapped(n, kernel, stride, padding=0):
    return taps(n, stride, kernel, padding)


def taps_average(n, kernel, stride, padding=0):
    return torch.full(((n - 1) * stride + kernel - 2 * padding,), kernel / stride)


def taps_ceil(n, kernel, stride, padding=0):
    return torch.full(((n - 1) * stride + kernel - 2 * padding,), math.ceil(kernel / stride))


def taps_no_border(n, kernel, stride, padding=0):
    return torch.tensor([sum(1 for u in range(kernel) if (t + padding - u) % stride == 0)
                         for t in range((n - 1) * stride + kernel - 2 * padding)])


def taps_library(n, kernel, stride, padding=0):
    return torch.nn.functional.conv_transpose1d(torch.ones(1, 1, n), torch.ones(1, 1, kernel), stride=stride,
                                                padding=padding)[0, 0]


def taps_library_alias(n, kernel, stride, padding=0):
    from torch import conv_transpose1d as upconv

    return upconv(torch.ones(1, 1, n), torch.ones(1, 1, kernel), stride=stride, padding=padding)[0, 0]


def taps_module(n, kernel, stride, padding=0):
    layer = nn.ConvTranspose1d(1, 1, kernel, stride=stride, padding=padding, bias=False)
    nn.init.ones_(layer.weight)
    with torch.no_grad():
        return layer(torch.ones(1, 1, n))[0, 0]


def taps_off_by_one_inner(n, kernel, stride, padding=0):
    out = taps(n, kernel, stride, padding).clone()
    out[3] += 1
    return out


def taps_2d(n, kernel, stride, padding=0):
    return taps(n, kernel, stride, padding)[None, :]


def taps_float64(n, kernel, stride, padding=0):
    return taps(n, kernel, stride, padding).double()  # float counts are whole numbers too: accepted


def taps_int32_formula(n, kernel, stride, padding=0):
    return torch.tensor([sum(1 for i in range(n) if 0 <= t + padding - stride * i < kernel)
                         for t in range((n - 1) * stride + kernel - 2 * padding)], dtype=torch.int32)


def taps_stacked_masks(n, kernel, stride, padding=0):
    starts = torch.arange(n) * stride
    return torch.stack([((starts <= t) & (t < starts + kernel)).sum()
                        for t in range(padding, (n - 1) * stride + kernel - padding)])


def taps_index_add(n, kernel, stride, padding=0):
    length = (n - 1) * stride + kernel
    where = (torch.arange(n)[:, None] * stride + torch.arange(kernel)).flatten()
    return torch.zeros(length).index_add(0, where, torch.ones(n * kernel))[padding:length - padding]


def taps_narrow(n, kernel, stride, padding=0):
    return taps(n, kernel, stride, 0).narrow(0, padding, (n - 1) * stride + kernel - 2 * padding)


def test_tap_counts_correct_answers_pass(capsys):
    for answer in (taps, taps_formula, taps_conv_zero_insertion, taps_float64, taps_int32_formula,
                   taps_stacked_masks, taps_index_add, taps_narrow):
        for seed in (0, 1, 2, 3):
            checks.check_tap_counts(answer, seed=seed)
    out = capsys.readouterr().out
    assert out.count("✓") == 32 and "✗" not in out


def test_tap_counts_first_settings_tell_all_mistakes_apart():
    from aecourse.checks import lesson07

    for settings in lesson07.TAP_SETTINGS.values():
        n, k, s, p = settings[0]
        assert p >= 2 and any(q == 0 for *_, q in settings)  # p - 1 is no crop only at p = 1; [p:-p] fails at 0
        ref = lesson07._tap_reference(n, k, s, p)
        values = [ref] + [v for _, v in lesson07._tap_mistakes(n, k, s, p, len(ref)) if v is not None]
        assert len(values) == 13
        for i, a in enumerate(values):
            for b in values[i + 1:]:
                assert not (a.shape == b.shape and torch.equal(a, b))


def taps_crop_one_too_few(n, kernel, stride, padding=0):
    full = taps(n, kernel, stride, 0)
    return full[padding - 1:len(full) - padding + 1]


def taps_crop_one_too_many(n, kernel, stride, padding=0):
    full = taps(n, kernel, stride, 0)
    return full[padding + 1:len(full) - padding - 1]


def taps_negative_slice(n, kernel, stride, padding=0):
    return taps(n, kernel, stride, 0)[padding:-padding]


def taps_too_long(n, kernel, stride, padding=0):
    length = n * stride + kernel
    counts = torch.zeros(length, dtype=torch.long)
    for i in range(n):
        counts[stride * i: stride * i + kernel] += 1
    return counts[padding: length - padding]


def taps_numpy(n, kernel, stride, padding=0):
    return taps(n, kernel, stride, padding).numpy()


def taps_bool(n, kernel, stride, padding=0):
    return taps(n, kernel, stride, padding) > 0


def taps_one_input_short(n, kernel, stride, padding=0):
    return taps(n - 1, kernel, stride, 0)[padding:]


def taps_kernel_one_short(n, kernel, stride, padding=0):
    return torch.tensor([sum(1 for i in range(n) for u in range(kernel - 1) if stride * i + u == t + padding)
                         for t in range((n - 1) * stride + kernel - 2 * padding)])


def taps_dilated(n, kernel, stride, padding=0):
    return torch.tensor([sum(1 for i in range(n) for u in range(kernel) if i + stride * u == t + padding)
                         for t in range((n - 1) * stride + kernel - 2 * padding)])


def taps_per_input(n, kernel, stride, padding=0):
    return torch.full((n,), kernel)


@pytest.mark.parametrize("answer, fragment", [
    (taps_no_crop, "did not crop the padding"),
    (taps_crop_start, "cropped the padding from the start only"),
    (taps_crop_end, "cropped the padding from the end only"),
    (taps_crop_twice_start, "cropped 2·padding pixels from the start"),
    (taps_swapped, "swapped the roles of kernel and stride"),
    (taps_average, "gave every pixel k / s = 2.33333 taps"),
    (taps_ceil, "gave every pixel ceil(k / s) = 3 taps"),
    (taps_no_border, "without the border effect"),
    (taps_library, "called a transposed convolution"),
    (taps_library_alias, "called a transposed convolution"),
    (taps_module, "called a transposed convolution"),
    (taps_off_by_one_inner, "output pixel 3 gets 2 taps, you counted 3"),
    (taps_2d, "return a 1-D tensor"),
    (taps_list, "returned a Python list; return a 1-D torch.Tensor of counts"),
    (taps_list, "the check cell goes on to call `.tolist()` on it"),
    (taps_crop_one_too_few, "cropped padding − 1 pixels from each end, one too few"),
    (taps_crop_one_too_many, "cropped padding + 1 pixels from each end, one too many"),
    (taps_negative_slice, "`counts[p:-p]` is empty for p = 0"),
    (taps_too_long, "made the uncropped output n·s + k pixels long"),
    (taps_numpy, "returned a NumPy array; return a 1-D torch.Tensor"),
    (taps_bool, "returned a tensor of bool"),
    (taps_one_input_short, "returned 17 counts; the transposed convolution's output has 18 pixels"),
    (taps_kernel_one_short, "output pixel 4 gets 3 taps, you counted 2"),
    (taps_dilated, "output pixel 4 gets 3 taps, you counted 2"),
    (taps_per_input, "returned 6 counts; the transposed convolution's output has 18 pixels"),
])
def test_tap_counts_mistakes_are_named(answer, fragment):
    rejects(checks.check_tap_counts, answer, fragment)


def test_tap_counts_stub_and_library_restored():
    def stub(n, kernel, stride, padding=0):
        raise NotImplementedError()

    rejects(checks.check_tap_counts, stub, "not written yet")
    rejects(checks.check_tap_counts, taps_library, "transposed convolution")
    assert torch.equal(taps_library(5, 5, 2, 1).long(), taps(5, 5, 2, 1))  # the trap is gone again


# ---------------------------------------------------------------- 7.4 and 7.5 predictions


def test_prediction_7_4():
    from aecourse.checks import lesson07

    for written in ("B", "b", " B\n"):
        checks.check_prediction_7_4(written)
    for letter, why in lesson07.WHY_7_4.items():
        if letter != "B":
            rejects(checks.check_prediction_7_4, letter, f"{letter} is not what happens", why)
    for bad in ("E", "AB", 2, "period 2"):
        rejects(checks.check_prediction_7_4, bad, "expected one letter")
    rejects(checks.check_prediction_7_4, None, "not written yet")


def test_prediction_7_4_is_what_a_run_shows():
    torch.manual_seed(0)
    out = nn.ConvTranspose2d(8, 1, 2, stride=2)(torch.ones(1, 8, 5, 5))[0, 0].detach()
    assert torch.equal(out, out[:2, :2].repeat(5, 5)) and len(set(out.flatten().tolist())) == 4


def test_prediction_7_5(capsys):
    for right in (1160, "1160", "1,160", 1160.0, torch.tensor(1160)):
        checks.check_prediction_7_5(right)
    assert capsys.readouterr().out.count("✓") == 5
    layer = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)
    assert sum(p.numel() for p in layer.parameters()) == 1160


@pytest.mark.parametrize("answer, fragment", [
    (1152, "left out the biases"),
    (1168, "counted one bias per input channel"),
    (4616, "multiplied by the stride squared"),
    (2312, "multiplied by the stride"),
    (392, "counted k weights per channel pair"),
    (136, "left out the kernel's k × k taps"),
    (152, "gave each input channel one k × k kernel"),
    (80, "gave each output channel one k × k kernel"),
    (1000, "is not the count. Count the weight tensor's entries"),
    (1160.5, "not a whole number"),
    ("many", "expected a whole number"),
    (None, "not written yet"),
])
def test_prediction_7_5_mistakes(answer, fragment):
    message = rejects(checks.check_prediction_7_5, answer, fragment)
    assert "1,160" not in message


# ---------------------------------------------------------------- 7.6 the parameter budget


class Tiny(nn.Module):
    """A stand-in autoencoder whose weights are chosen by hand: quality without training.

    The test images are 7 x 7 patterns of 4 x 4 blocks, so a code of c x 7 x 7 averages holds them
    exactly; the decoder turns the code back into sharp (or, with a small scale, blurry) logits.
    """

    def __init__(self, channels=1, extra=0, scale=1.0, probabilities=False, wide_kernel=0):
        super().__init__()
        self.encoder = nn.Sequential(nn.AvgPool2d(4), nn.Conv2d(1, channels, 1))  # the code: (channels, 7, 7)
        mix = nn.Conv2d(channels, 1, 1)
        self.decoder = nn.Sequential(mix, nn.Upsample(scale_factor=4))
        with torch.no_grad():
            self.encoder[1].weight.fill_(1.0)
            self.encoder[1].bias.zero_()
            mix.weight.fill_((1.0 if probabilities else 8.0 * scale) / channels)
            mix.bias.fill_(0.0 if probabilities else -4.0 * scale)
        if probabilities:
            self.decoder.append(nn.Hardtanh(0.01, 0.99))
        if wide_kernel:  # parameters spent on one layer, which keeps the code's 7 x 7 shape
            self.decoder.insert(1, nn.Conv2d(1, 1, wide_kernel, padding=wide_kernel // 2))
        self.pad = nn.Parameter(torch.zeros(extra))

    def forward(self, x):
        return self.decoder(self.encoder(x))


class Bypass(Tiny):
    """Right sizes, but the reconstruction goes around the code: logits straight from the image."""

    def forward(self, x):
        self.encoder(x)
        return 10 * x - 5


@pytest.fixture
def small_test_set(monkeypatch):
    from aecourse.checks import lesson07

    g = torch.Generator().manual_seed(0)
    blocks = (torch.rand(60, 1, 7, 7, generator=g) > 0.7).float()
    x = blocks.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)  # (60, 1, 28, 28)
    monkeypatch.setattr(lesson07, "_budget_test_images", lambda: x)
    monkeypatch.setenv("AECOURSE_MODE", "standard")
    return x


def test_param_budget_accepts_a_good_model(small_test_set, capsys):
    model = Tiny()
    model.train()
    checks.check_param_budget(model)
    out = capsys.readouterr().out
    assert "✓ model_7_6" in out and "standard mode's target" in out
    assert model.training and model.encoder.training  # modes restored on every submodule
    checks.check_param_budget(Tiny(channels=2))  # another code shape, 98 numbers
    checks.check_param_budget(Tiny(extra=2_000 - 4))  # at the budget exactly


def test_param_budget_keeps_eval_submodules(small_test_set):
    model = Tiny()
    model.train()
    model.encoder.eval()
    checks.check_param_budget(model)
    assert model.training and not model.encoder.training


@pytest.mark.parametrize("model, fragments", [
    (Tiny(extra=2_500), ("2,504 parameters, 504 over the budget of 2,000",)),
    (Tiny(wide_kernel=45), ("2,030 parameters, 30 over the budget of 2,000",)),
    (Tiny(channels=3), ("the code has 147 numbers per image", "more than 128")),
    (Bypass(), ("model(x) differs from model.decoder(model.encoder(x))", "no path around it")),
    (Tiny(scale=0.05), ("test BCE per pixel", "above the target 0.17 (standard mode's target)")),
    (Tiny(probabilities=True), ("outputs all lie in [0, 1], probabilities rather than logits",)),
    (nn.Sequential(nn.Conv2d(1, 1, 3, padding=1)), ("the model has no `encoder` and no `decoder` module",)),
    ("model", ("it must be the trained nn.Module itself",)),
    (None, ("not written yet",)),
])
def test_param_budget_rejections(small_test_set, model, fragments):
    rejects(checks.check_param_budget, model, *fragments)


def test_param_budget_says_how_far_off(small_test_set):
    message = rejects(checks.check_param_budget, Tiny(scale=0.1))
    assert "above the target 0.17" in message and "on 60 held-out test images" in message


def test_param_budget_smoke_target(small_test_set, monkeypatch, capsys):
    monkeypatch.setenv("AECOURSE_MODE", "smoke")
    checks.check_param_budget(Tiny())
    assert "smoke mode's target" in capsys.readouterr().out


def test_the_checks_are_fast():
    import time

    start = time.perf_counter()
    checks.check_conv_decoder(build_decoder)
    checks.check_receptive_field(receptive_field)
    checks.check_tap_counts(taps)
    assert time.perf_counter() - start < 8.0
