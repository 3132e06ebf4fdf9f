"""aecourse.checks for exercises 06: the reference answers pass, plausible mistakes are named."""

import copy

import pytest
import torch
from torch import nn

from aecourse import checks
from check_helpers import rejects


def layer_pair(d_in, d_out, code=False, pixels=False, act=nn.SiLU):
    """The exercise notebook's helper: one encoder layer d_in -> d_out and its decoder."""
    encoder = nn.Sequential(nn.Linear(d_in, d_out)) if code else nn.Sequential(nn.Linear(d_in, d_out), act())
    decoder = nn.Sequential(nn.Linear(d_out, d_in)) if pixels else nn.Sequential(nn.Linear(d_out, d_in), act())
    return encoder, decoder


# ---------------------------------------------------------------- 6.1 greedy layer-wise pretraining


def pretrain_layerwise(sizes, x, train_pair):
    encoders, decoders, h = [], [], x
    for k in range(1, len(sizes)):
        encoder, decoder = layer_pair(sizes[k - 1], sizes[k], code=k == len(sizes) - 1, pixels=k == 1)
        train_pair(encoder, decoder, h, pixels=k == 1)
        with torch.no_grad():
            h = encoder(h)
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def pretrain_zip_detach(sizes, x, train_pair):  # another correct way: zip over sizes, .detach()
    pairs, h = [], x
    last = len(sizes) - 2
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        enc, dec = layer_pair(a, b, code=i == last, pixels=i == 0)
        train_pair(enc, dec, h, i == 0)
        h = enc(h).detach()
        pairs.append((enc, dec))
    return [e for e, _ in pairs], [d for _, d in pairs]


def pretrain_stub(sizes, x, train_pair):
    raise NotImplementedError()


def pretrain_never_trains(sizes, x, train_pair):  # a circulating snippet's loop: builds every layer, trains none
    encoders, decoders = [], []
    for k in range(1, len(sizes)):
        encoder, decoder = layer_pair(sizes[k - 1], sizes[k], code=k == len(sizes) - 1, pixels=k == 1)
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def pretrain_on_pixels(sizes, x, train_pair):  # h is never updated
    encoders, decoders = [], []
    for k in range(1, len(sizes)):
        encoder, decoder = layer_pair(sizes[k - 1], sizes[k], code=k == len(sizes) - 1, pixels=k == 1)
        train_pair(encoder, decoder, x, pixels=k == 1)
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def pretrain_codes_first(sizes, x, train_pair):  # computes the codes before training the layer
    encoders, decoders, h = [], [], x
    for k in range(1, len(sizes)):
        encoder, decoder = layer_pair(sizes[k - 1], sizes[k], code=k == len(sizes) - 1, pixels=k == 1)
        with torch.no_grad():
            h_next = encoder(h)
        train_pair(encoder, decoder, h, pixels=k == 1)
        h = h_next
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def pretrain_not_detached(sizes, x, train_pair):
    encoders, decoders, h = [], [], x
    for k in range(1, len(sizes)):
        encoder, decoder = layer_pair(sizes[k - 1], sizes[k], code=k == len(sizes) - 1, pixels=k == 1)
        train_pair(encoder, decoder, h, pixels=k == 1)
        h = encoder(h)
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def pretrain_skips_top(sizes, x, train_pair):  # range one short: the code layer is never trained
    encoders, decoders, h = [], [], x
    for k in range(1, len(sizes) - 1):
        encoder, decoder = layer_pair(sizes[k - 1], sizes[k], pixels=k == 1)
        train_pair(encoder, decoder, h, pixels=k == 1)
        with torch.no_grad():
            h = encoder(h)
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def pretrain_all_pixels(sizes, x, train_pair):
    encoders, decoders, h = [], [], x
    for k in range(1, len(sizes)):
        encoder, decoder = layer_pair(sizes[k - 1], sizes[k], code=k == len(sizes) - 1, pixels=k == 1)
        train_pair(encoder, decoder, h, pixels=True)
        with torch.no_grad():
            h = encoder(h)
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def pretrain_no_linear_code(sizes, x, train_pair):
    encoders, decoders, h = [], [], x
    for k in range(1, len(sizes)):
        encoder, decoder = layer_pair(sizes[k - 1], sizes[k], pixels=k == 1)
        train_pair(encoder, decoder, h, pixels=k == 1)
        with torch.no_grad():
            h = encoder(h)
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def pretrain_sigmoid_free_pixels(sizes, x, train_pair):  # layer 1's decoder built with pixels=False
    encoders, decoders, h = [], [], x
    for k in range(1, len(sizes)):
        encoder, decoder = layer_pair(sizes[k - 1], sizes[k], code=k == len(sizes) - 1)
        train_pair(encoder, decoder, h, pixels=k == 1)
        with torch.no_grad():
            h = encoder(h)
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def pretrain_decoders_top_first(sizes, x, train_pair):
    encoders, decoders = pretrain_layerwise(sizes, x, train_pair)
    return encoders, decoders[::-1]


def pretrain_fresh_layers(sizes, x, train_pair):  # trains, then returns new layers, as that snippet's final model does
    pretrain_layerwise(sizes, x, train_pair)
    return pretrain_never_trains(sizes, x, train_pair)


def pretrain_trains_copies(sizes, x, train_pair):
    encoders, decoders, h = [], [], x
    for k in range(1, len(sizes)):
        encoder, decoder = layer_pair(sizes[k - 1], sizes[k], code=k == len(sizes) - 1, pixels=k == 1)
        enc_copy, dec_copy = copy.deepcopy(encoder), copy.deepcopy(decoder)
        train_pair(enc_copy, dec_copy, h, pixels=k == 1)
        with torch.no_grad():
            h = enc_copy(h)
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def pretrain_in_place(sizes, x, train_pair):
    x.clamp_(0.01, 0.99)
    return pretrain_layerwise(sizes, x, train_pair)


def pretrain_one_module(sizes, x, train_pair):
    encoders, decoders = pretrain_layerwise(sizes, x, train_pair)
    return nn.Sequential(*encoders), decoders


def pretrain_no_return(sizes, x, train_pair):
    pretrain_layerwise(sizes, x, train_pair)


def pretrain_on_reconstructions(sizes, x, train_pair):  # passes the decoder's output up, not the code
    encoders, decoders, h = [], [], x
    for k in range(1, len(sizes)):
        encoder, decoder = layer_pair(sizes[k - 1], sizes[k], code=k == len(sizes) - 1, pixels=k == 1)
        train_pair(encoder, decoder, h, pixels=k == 1)
        with torch.no_grad():
            h = decoder(encoder(h))
        encoders.append(encoder)
        decoders.append(decoder)
    return encoders, decoders


def test_pretrain_reference_passes(capsys):
    checks.check_pretrain_layerwise(pretrain_layerwise)
    checks.check_pretrain_layerwise(pretrain_zip_detach, seed=1, sizes=(30, 16, 4), n=50)
    checks.check_pretrain_layerwise(pretrain_layerwise, seed=2, sizes=(12, 10, 8, 6, 2), n=40)
    out = capsys.readouterr().out
    assert "✓ pretrain_layerwise: 3 layers 20 → 12 → 8 → 3, each trained once" in out
    assert "✓ pretrain_zip_detach: 2 layers" in out


def test_pretrain_leaves_the_callers_random_state_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    checks.check_pretrain_layerwise(pretrain_layerwise)
    assert torch.equal(torch.rand(3), before)


@pytest.mark.parametrize("answer, fragment", [
    (pretrain_stub, "not written yet"),
    (pretrain_never_trains, "no layer was trained: train_pair was never called"),
    (pretrain_on_pixels, "layer 2 was trained on the pixels x instead of layer 1's codes"),
    (pretrain_codes_first, "layer 2 was trained on the codes of layer 1 before layer 1 was trained"),
    (pretrain_not_detached, "the codes given to layer 2 still carry gradients"),
    (pretrain_skips_top, "layer 3 was never trained"),
    (pretrain_all_pixels, "pixels=True for the first layer and False for the others"),
    (pretrain_no_linear_code, "the top encoder (Linear(8, 3) → SiLU) ends with an activation"),
    (pretrain_sigmoid_free_pixels, "layer 1's decoder (Linear(12, 20) → SiLU) ends with an activation"),
    (pretrain_decoders_top_first, "the decoders come back top layer first"),
    (pretrain_fresh_layers, "is not the one train_pair trained"),
    (pretrain_trains_copies, "layer 1 was never trained: the encoder you returned still has its initial weights"),
    (pretrain_in_place, "changed its input `x` in place"),
    (pretrain_one_module, "`encoders` is one Sequential; return a Python list"),
    (pretrain_no_return, "returned NoneType; return the pair (encoders, decoders)"),
    (pretrain_on_reconstructions, "layer 2 was given data of shape (64, 20)"),
])
def test_pretrain_mistakes_are_named(answer, fragment):
    rejects(checks.check_pretrain_layerwise, answer, fragment)


def test_pretrain_hidden_sizes_catch_the_same_mistakes():
    rejects(checks.check_pretrain_layerwise, pretrain_on_pixels, "layer 2 was trained on the pixels",
            seed=2, sizes=(12, 10, 8, 6, 2), n=40)
    rejects(checks.check_pretrain_layerwise, pretrain_skips_top, "layer 2 was never trained",
            seed=1, sizes=(30, 16, 4), n=50)


def test_pretrain_bad_sizes_are_an_error():
    with pytest.raises(ValueError, match="at least two layers"):
        checks.check_pretrain_layerwise(pretrain_layerwise, sizes=(20, 3))


# ---------------------------------------------------------------- 6.2 unrolling


def unroll(encoders, decoders):
    return nn.Sequential(*copy.deepcopy(encoders), *copy.deepcopy(decoders[::-1]))


def unroll_loop(encoders, decoders):  # another correct way
    layers = [copy.deepcopy(m) for m in encoders]
    layers += [copy.deepcopy(m) for m in reversed(decoders)]
    return nn.Sequential(*layers)


def unroll_stub(encoders, decoders):
    raise NotImplementedError()


def unroll_not_reversed(encoders, decoders):
    return nn.Sequential(*copy.deepcopy(encoders), *copy.deepcopy(decoders))


def unroll_shared(encoders, decoders):
    return nn.Sequential(*encoders, *decoders[::-1])


def unroll_reverse_in_place(encoders, decoders):
    decoders.reverse()
    return nn.Sequential(*copy.deepcopy(encoders), *copy.deepcopy(decoders))


def unroll_linears_only(encoders, decoders):
    return nn.Sequential(*[copy.deepcopy(m[0]) for m in [*encoders, *decoders[::-1]]])


def unroll_fresh(encoders, decoders):
    layers = []
    for m in [*encoders, *decoders[::-1]]:
        fresh = copy.deepcopy(m)
        fresh[0].reset_parameters()
        layers.append(fresh)
    return nn.Sequential(*layers)


def unroll_list(encoders, decoders):
    return [*copy.deepcopy(encoders), *copy.deepcopy(decoders[::-1])]


def unroll_encoders_reversed(encoders, decoders):
    return nn.Sequential(*copy.deepcopy(encoders[::-1]), *copy.deepcopy(decoders))


def unroll_drops_pixel_decoder(encoders, decoders):
    return nn.Sequential(*copy.deepcopy(encoders), *copy.deepcopy(decoders[:0:-1]))


def unroll_decoders_first(encoders, decoders):
    return nn.Sequential(*copy.deepcopy(decoders[::-1]), *copy.deepcopy(encoders))


def test_unroll_reference_passes(capsys):
    checks.check_unroll(unroll)
    checks.check_unroll(unroll_loop, seed=1, sizes=(30, 16, 4))
    checks.check_unroll(unroll, seed=2, sizes=(784, 100, 50, 25, 5))
    out = capsys.readouterr().out
    assert "✓ unroll: nn.Sequential of copies: 3 encoders then the decoders reversed, 20 → 12 → 8 → 3 → 8 → 12 → 20" in out


@pytest.mark.parametrize("answer, fragment", [
    (unroll_stub, "not written yet"),
    (unroll_not_reversed, "the decoders were not reversed"),
    (unroll_shared, "shares its layers with `encoders` and `decoders`"),
    (unroll_reverse_in_place, "changed the caller's list in place"),
    (unroll_linears_only, "the unrolled model has 0 activations, the given layers 4"),
    (unroll_fresh, "its layers have new weights"),
    (unroll_list, "returned a Python list; wrap the layers in nn.Sequential"),
    (unroll_encoders_reversed, "the encoders were reversed"),
    (unroll_drops_pixel_decoder, "the model has 5 Linear layers"),
    (unroll_decoders_first, "the model runs the decoders first"),
])
def test_unroll_mistakes_are_named(answer, fragment):
    rejects(checks.check_unroll, answer, fragment)


def test_unroll_bad_sizes_are_an_error():
    with pytest.raises(ValueError, match="at least two layers"):
        checks.check_unroll(unroll, sizes=[5])
