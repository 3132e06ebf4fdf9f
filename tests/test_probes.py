"""aecourse.probes: kinds, shapes and types, range, the box, repeatability, errors on bad input."""

import numpy as np
import pytest
import torch

from aecourse.probes import BOX, NOT_DIGITS, PROBE_KINDS, SHIFT, make_probes

DIGITS = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_every_kind_in_order_with_the_input_shape_and_range():
    probes = make_probes(DIGITS)
    assert tuple(probes) == PROBE_KINDS and set(NOT_DIGITS) < set(PROBE_KINDS)
    for kind, images in probes.items():
        assert isinstance(images, torch.Tensor) and images.shape == DIGITS.shape and images.dtype == torch.float32, kind
        assert images.min() >= 0 and images.max() <= 1, kind
    assert torch.equal(probes["digits"], DIGITS)


@pytest.mark.parametrize("shape", [(6, 28, 28), (6, 784)])
def test_numpy_in_numpy_out_same_images_as_torch(shape):
    probes_np = make_probes(DIGITS.numpy().reshape(shape), seed=3)
    probes_torch = make_probes(DIGITS, seed=3)
    for kind in PROBE_KINDS:
        assert isinstance(probes_np[kind], np.ndarray) and probes_np[kind].shape == shape
        np.testing.assert_array_equal(probes_np[kind].reshape(6, 784), probes_torch[kind].reshape(6, 784).numpy())


def test_shifted_digits_move_down_and_right():
    shifted = make_probes(DIGITS)["shifted"]
    assert torch.equal(shifted[:, :, SHIFT:, SHIFT:], DIGITS[:, :, :-SHIFT, :-SHIFT])
    assert shifted[:, :, :SHIFT].abs().sum() == 0 and shifted[:, :, :, :SHIFT].abs().sum() == 0


def test_non_digits_stay_inside_the_central_box():
    probes = make_probes(DIGITS[:1].repeat(10, 1, 1, 1))  # 10 copies of one image
    outside = torch.ones(28, 28, dtype=torch.bool)
    outside[BOX] = False
    for kind in NOT_DIGITS:
        assert probes[kind][:, 0][:, outside].abs().sum() == 0, kind
        assert probes[kind][:, 0][:, ~outside].sum() > 0, kind  # and they have ink inside
    assert torch.allclose(probes["inverted"][:, 0][:, ~outside], 1 - probes["digits"][:, 0][:, ~outside])


def test_stripes_and_shapes_are_binary_and_differ_between_images():
    probes = make_probes(DIGITS.repeat(5, 1, 1, 1))
    for kind in ("stripes", "shapes"):
        values = probes[kind].unique()
        assert set(values.tolist()) <= {0.0, 1.0}, kind
        assert len({tuple(image.flatten().tolist()) for image in probes[kind]}) > 1, kind


def test_a_seed_makes_the_probes_repeatable():
    a, b, c = make_probes(DIGITS, seed=1), make_probes(DIGITS, seed=1), make_probes(DIGITS, seed=2)
    assert all(torch.equal(a[k], b[k]) for k in PROBE_KINDS)
    assert not torch.equal(a["noise"], c["noise"])


def test_the_input_is_not_modified_and_not_shared():
    x = DIGITS.clone()
    probes = make_probes(x)
    probes["digits"].zero_()
    assert torch.equal(x, DIGITS)


@pytest.mark.parametrize(("bad", "error", "message"), [
    (torch.rand(4, 28), ValueError, r"\(N, 1, 28, 28\), \(N, 28, 28\) or \(N, 784\); got \(4, 28\)"),
    (torch.rand(0, 784), ValueError, "at least one"),
    (torch.rand(4, 784) * 255, ValueError, r"values in \[0, 1\]"),
    (torch.rand(4, 784) - 1, ValueError, r"values in \[0, 1\]"),
    ([[0.0] * 784], TypeError, "torch.Tensor or a NumPy array; got list"),
])
def test_bad_input_says_what_was_expected(bad, error, message):
    with pytest.raises(error, match=message):
        make_probes(bad)
