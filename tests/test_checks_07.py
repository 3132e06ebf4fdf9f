"""aecourse.checks for exercises 07: the reference answers pass, plausible mistakes are named."""

import math

import pytest
import torch
from torch import nn

from aecourse import checks
from check_helpers import rejects

# ---------------------------------------------------------------- 7.1 output size of a convolution


def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_output_size_floor(n, kernel, stride=1, padding=0, dilation=1):
    return math.floor((n + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1


def conv_no_floor(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1


def conv_float(n, kernel, stride=1, padding=0, dilation=1):
    return float(conv_output_size(n, kernel, stride, padding, dilation))


def conv_ceil(n, kernel, stride=1, padding=0, dilation=1):
    return math.ceil((n + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1


def conv_no_plus_one(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride


def conv_padding_once(n, kernel, stride=1, padding=0, dilation=1):
    return (n + padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_no_dilation(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - kernel) // stride + 1


def conv_dilation_times_kernel(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * kernel) // stride + 1


def conv_no_stride(n, kernel, stride=1, padding=0, dilation=1):
    return n + 2 * padding - dilation * (kernel - 1)


def conv_tensor(n, kernel, stride=1, padding=0, dilation=1):
    return torch.tensor(conv_output_size(n, kernel, stride, padding, dilation))


def conv_stub(n, kernel, stride=1, padding=0, dilation=1):
    raise NotImplementedError()


def test_conv_output_size_reference_passes(capsys):
    checks.check_conv_output_size(conv_output_size)
    checks.check_conv_output_size(conv_output_size_floor, seed=1)
    checks.check_conv_output_size(conv_tensor, seed=2)  # a one-element tensor is accepted
    assert "✓ conv_output_size: agrees with torch's convolution on all" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (conv_no_floor, "kept the fraction"),
    (conv_float, "a float; the size of a tensor is an int"),
    (conv_ceil, "rounded up"),
    (conv_no_plus_one, "forgot the + 1"),
    (conv_padding_once, "counted the padding once"),
    (conv_no_dilation, "ignored the dilation"),
    (conv_dilation_times_kernel, "spans d·(k − 1) + 1"),
    (conv_no_stride, "ignored the stride"),
    (conv_stub, "not written yet"),
])
def test_conv_output_size_mistakes_are_named(answer, fragment):
    message = rejects(checks.check_conv_output_size, answer, fragment)
    assert "not written yet" in message or "conv_" in message  # names a call that went wrong


def test_conv_output_size_message_names_a_call_and_torchs_answer():
    message = rejects(checks.check_conv_output_size, conv_padding_once, "F.conv1d gives")
    assert "padding=" in message


# ---------------------------------------------------------------- 7.2 output size of a transposed convolution


def conv_transpose_output_size(n, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    return (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def transpose_n_times_s(n, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    return n * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def transpose_no_output_padding(n, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    return (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1


def transpose_padding_once(n, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    return (n - 1) * stride - padding + dilation * (kernel - 1) + output_padding + 1


def transpose_plus_padding(n, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    return (n - 1) * stride + 2 * padding + dilation * (kernel - 1) + output_padding + 1


def transpose_no_dilation(n, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    return (n - 1) * stride - 2 * padding + (kernel - 1) + output_padding + 1


def transpose_as_conv(n, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    return conv_output_size(n, kernel, stride, padding, dilation)


def test_conv_transpose_output_size_reference_passes(capsys):
    checks.check_conv_transpose_output_size(conv_transpose_output_size)
    checks.check_conv_transpose_output_size(conv_transpose_output_size, seed=3)
    assert "✓ conv_transpose_output_size: agrees with torch's transposed" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (transpose_n_times_s, "multiplied n by the stride"),
    (transpose_no_output_padding, "left out the output_padding"),
    (transpose_padding_once, "subtracted the padding once"),
    (transpose_plus_padding, "added the padding"),
    (transpose_no_dilation, "ignored the dilation"),
    (transpose_as_conv, "used the formula of an ordinary convolution"),
])
def test_conv_transpose_output_size_mistakes_are_named(answer, fragment):
    rejects(checks.check_conv_transpose_output_size, answer, fragment)


# ---------------------------------------------------------------- 7.3 the encoder


def build_encoder(channels, padding=1, ceil_mode=True, bias=True, kernel=3, activation=nn.ReLU):
    layers, c_in = [], 1
    for c in channels:
        layers += [nn.Conv2d(c_in, c, kernel, padding=padding, bias=bias), activation(),
                   nn.MaxPool2d(2, ceil_mode=ceil_mode)]
        c_in = c
    return nn.Sequential(*layers)


def encoder_in_blocks(channels):
    blocks, c_in = [], 1
    for c in channels:
        blocks.append(nn.Sequential(nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)))
        c_in = c
    return nn.Sequential(*blocks)


def encoder_no_padding(channels):
    return build_encoder(channels, padding=0)


def encoder_floor_pooling(channels):
    return build_encoder(channels, ceil_mode=False)


def encoder_no_bias(channels):
    return build_encoder(channels, bias=False)


def encoder_5x5(channels):
    return build_encoder(channels, kernel=5, padding=2)


def encoder_wrong_channels(channels):
    return build_encoder([channels[0], channels[0], channels[2]])


def encoder_in_channels_wrong(channels):
    layers = list(build_encoder(channels))
    layers[3] = nn.Conv2d(channels[1], channels[1], 3, padding=1)  # takes c2 in, the previous stage gives c1
    return nn.Sequential(*layers)


def encoder_no_relu(channels):
    return nn.Sequential(*[m for m in build_encoder(channels) if not isinstance(m, nn.ReLU)])


def encoder_strided(channels):
    layers, c_in = [], 1
    for c in channels:
        layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.ReLU()]
        c_in = c
    return nn.Sequential(*layers)


def encoder_list(channels):
    return list(build_encoder(channels))


class EncoderModule(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = build_encoder(channels)

    def forward(self, x):
        return self.body(x)


def test_conv_encoder_reference_passes(capsys):
    checks.check_conv_encoder(build_encoder)
    checks.check_conv_encoder(encoder_in_blocks, channels=(32, 16, 4))
    checks.check_conv_encoder(build_encoder, channels=(8, 4, 2), batch=3, seed=1)
    out = capsys.readouterr().out
    assert "✓ build_encoder: (N, 1, 28, 28) → (N, 16, 14, 14) → (N, 8, 7, 7) → (N, 8, 4, 4)" in out
    assert "a code of 128 numbers; 1,904 parameters" in out


@pytest.mark.parametrize("answer, fragment", [
    (encoder_no_padding, "layer 1 of the encoder"),
    (encoder_no_padding, "padding=1 keeps the size"),
    (encoder_floor_pooling, "ceil_mode=True"),
    (encoder_floor_pooling, "layer 9 of the encoder"),
    (encoder_no_bias, "biases are missing"),
    (encoder_5x5, "use 3×3 kernels"),
    (encoder_wrong_channels, "its out_channels should be 8"),
    (encoder_wrong_channels, "(stage 2)"),
    (encoder_in_channels_wrong, "Its in_channels should be 16"),
    (encoder_no_relu, "the encoder has 0 ReLUs, expected 3"),
    (encoder_strided, "Keep the convolution's stride at 1"),
    (encoder_list, "wrap the layers in nn.Sequential"),
    (EncoderModule, "return the encoder as an nn.Sequential"),
])
def test_conv_encoder_mistakes_are_named(answer, fragment):
    rejects(checks.check_conv_encoder, answer, fragment)


def test_conv_encoder_shape_message_says_what_it_should_be():
    message = rejects(checks.check_conv_encoder, encoder_floor_pooling, "outputs (N, 8, 3, 3), expected (N, 8, 4, 4)")
    assert "stage 3" in message


def test_conv_encoder_stub_and_bad_channels():
    def stub(channels):
        raise NotImplementedError()

    rejects(checks.check_conv_encoder, stub, "not written yet")
    with pytest.raises(ValueError, match="three positive ints"):
        checks.check_conv_encoder(build_encoder, channels=(16, 8))


# ---------------------------------------------------------------- 7.4 the decoder


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


def test_the_checks_are_fast():
    import time

    start = time.perf_counter()
    checks.check_conv_output_size(conv_output_size)
    checks.check_conv_transpose_output_size(conv_transpose_output_size)
    checks.check_conv_encoder(build_encoder)
    checks.check_conv_decoder(build_decoder)
    assert time.perf_counter() - start < 8.0  # under 2 s each on an idle CPU
