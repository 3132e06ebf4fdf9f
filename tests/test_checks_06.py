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


def pretrain_copies_as_tuples(sizes, x, train_pair):  # correct too: copies of the trained layers, in tuples
    encoders, decoders, h = [], [], x
    for k, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False), start=1):
        pair = layer_pair(a, b, code=k == len(sizes) - 1, pixels=k == 1)
        train_pair(*pair, h, pixels=(k == 1))
        with torch.no_grad():
            h = pair[0](h)
        encoders.append(copy.deepcopy(pair[0]))
        decoders.append(copy.deepcopy(pair[1]))
    return tuple(encoders), tuple(decoders)


def pretrain_recursive(sizes, x, train_pair, _k=1):  # correct too: one layer, then recurse on its codes
    encoder, decoder = layer_pair(sizes[0], sizes[1], code=len(sizes) == 2, pixels=_k == 1)
    train_pair(encoder, decoder, x, pixels=_k == 1)
    if len(sizes) == 2:
        return [encoder], [decoder]
    with torch.no_grad():
        codes = encoder(x)
    above_enc, above_dec = pretrain_recursive(sizes[1:], codes, train_pair, _k + 1)
    return [encoder, *above_enc], [decoder, *above_dec]


def pretrain_all_under_no_grad(sizes, x, train_pair):  # the whole loop under no_grad: training would fail
    with torch.no_grad():
        return pretrain_layerwise(sizes, x, train_pair)


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
    checks.check_pretrain_layerwise(pretrain_copies_as_tuples)
    checks.check_pretrain_layerwise(pretrain_recursive, seed=2, sizes=(12, 10, 8, 6, 2), n=40)
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
    (pretrain_all_under_no_grad, "train_pair was called for layer 1 under torch.no_grad()"),
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


# ---------------------------------------------------------------- 6.2 one step of the top layer, the rest frozen


def _codes(encoders, x):
    with torch.no_grad():
        h = x
        for e in encoders[:-1]:
            h = e(h)
    return h


def train_top_layer(encoders, decoder, x, optimizer):
    for e in encoders[:-1]:
        e.eval()
    encoders[-1].train()
    decoder.train()
    h = _codes(encoders, x)
    loss = ((decoder(encoders[-1](h)) - h) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def top_detach_and_train_false(encoders, decoder, x, optimizer):  # .train(False), .detach(), a Sequential
    lower = nn.Sequential(*encoders[:-1]).train(False)
    pair = nn.Sequential(encoders[-1], decoder).train(True)
    h = lower(x).detach()
    loss = (pair(h) - h).pow(2).sum(1).mean()
    optimizer.zero_grad(set_to_none=False)
    loss.backward()
    optimizer.step()
    return float(loss)


def top_requires_grad_restored(encoders, decoder, x, optimizer):  # freezes by requires_grad, then restores
    lower = encoders[:-1]
    for e in lower:
        e.eval()
        e.requires_grad_(False)
    encoders[-1].train()
    decoder.train()
    h = x
    for e in lower:
        h = e(h)
    loss = torch.nn.functional.mse_loss(decoder(encoders[-1](h)), h, reduction="sum") / len(x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    for e in lower:
        e.requires_grad_(True)
    return loss.detach()  # a 0-d tensor is accepted too


def top_float64_inside(encoders, decoder, x, optimizer):  # the loss summed in float64
    for e in encoders[:-1]:
        e.eval()
    for m in (encoders[-1], decoder):
        m.train()
    h = _codes(encoders, x)
    err = (decoder(encoders[-1](h)) - h).double()
    loss = (err**2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def top_stub(encoders, decoder, x, optimizer):
    raise NotImplementedError()


def top_all_no_grad(encoders, decoder, x, optimizer):
    with torch.no_grad():
        return train_top_layer(encoders, decoder, x, optimizer)


def top_lower_train_mode(encoders, decoder, x, optimizer):  # forgets eval() on the frozen layers
    encoders[-1].train()
    decoder.train()
    h = _codes(encoders, x)
    loss = ((decoder(encoders[-1](h)) - h) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def top_mode_attribute_only(encoders, decoder, x, optimizer):  # sets .training on the containers only
    for e in encoders[:-1]:
        e.training = False
    encoders[-1].train()
    decoder.train()
    h = _codes(encoders, x)
    loss = ((decoder(encoders[-1](h)) - h) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def top_left_in_eval(encoders, decoder, x, optimizer):  # sets every module to eval, the top one too
    for e in encoders:
        e.eval()
    h = _codes(encoders, x)
    loss = ((decoder(encoders[-1](h)) - h) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def top_left_frozen(encoders, decoder, x, optimizer):  # freezes by requires_grad and never restores
    for e in encoders[:-1]:
        e.eval()
        e.requires_grad_(False)
    encoders[-1].train()
    decoder.train()
    h = x
    for e in encoders[:-1]:
        h = e(h)
    loss = ((decoder(encoders[-1](h)) - h) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def top_not_detached(encoders, decoder, x, optimizer):  # the codes keep their graph
    for e in encoders[:-1]:
        e.eval()
    encoders[-1].train()
    decoder.train()
    h = x
    for e in encoders[:-1]:
        h = e(h)
    loss = ((decoder(encoders[-1](h)) - h) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def top_no_zero_grad(encoders, decoder, x, optimizer):
    for e in encoders[:-1]:
        e.eval()
    encoders[-1].train()
    decoder.train()
    h = _codes(encoders, x)
    loss = ((decoder(encoders[-1](h)) - h) ** 2).sum(dim=1).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def top_no_step(encoders, decoder, x, optimizer):
    for e in encoders[:-1]:
        e.eval()
    encoders[-1].train()
    decoder.train()
    h = _codes(encoders, x)
    loss = ((decoder(encoders[-1](h)) - h) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    return loss.item()


def top_zero_grad_after_backward(encoders, decoder, x, optimizer):  # clears the gradients it just computed
    for e in encoders[:-1]:
        e.eval()
    encoders[-1].train()
    decoder.train()
    h = _codes(encoders, x)
    loss = ((decoder(encoders[-1](h)) - h) ** 2).sum(dim=1).mean()
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def top_mse_mean(encoders, decoder, x, optimizer):
    for e in encoders[:-1]:
        e.eval()
    encoders[-1].train()
    decoder.train()
    h = _codes(encoders, x)
    loss = torch.nn.functional.mse_loss(decoder(encoders[-1](h)), h)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def top_batch_sum(encoders, decoder, x, optimizer):
    for e in encoders[:-1]:
        e.eval()
    encoders[-1].train()
    decoder.train()
    h = _codes(encoders, x)
    loss = ((decoder(encoders[-1](h)) - h) ** 2).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def top_loss_after_step(encoders, decoder, x, optimizer):  # reports the loss after the update
    train_top_layer(encoders, decoder, x, optimizer)
    h = _codes(encoders, x)
    with torch.no_grad():
        return ((decoder(encoders[-1](h)) - h) ** 2).sum(dim=1).mean().item()


def top_returns_module(encoders, decoder, x, optimizer):
    train_top_layer(encoders, decoder, x, optimizer)
    return decoder


def top_on_all_layers(encoders, decoder, x, optimizer):  # computes h through the top encoder too
    for e in encoders[:-1]:
        e.eval()
    encoders[-1].train()
    decoder.train()
    with torch.no_grad():
        h = x
        for e in encoders:
            h = e(h)
    loss = ((decoder(h) - h) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


@pytest.mark.parametrize("answer", [train_top_layer, top_detach_and_train_false, top_requires_grad_restored,
                                    top_float64_inside])
def test_train_top_layer_correct_answers_pass(answer, capsys):
    checks.check_train_top_layer(answer)
    checks.check_train_top_layer(answer, seed=1, sizes=(12, 7, 4), batch=9)
    checks.check_train_top_layer(answer, seed=2, sizes=(30, 20, 16, 10, 5), batch=32)
    assert "one SGD step of the top layer" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (top_stub, "not written yet"),
    (top_all_no_grad, "the whole step ran under torch.no_grad()"),
    (top_lower_train_mode, "the frozen layer encoders[0] ran in training mode"),
    (top_mode_attribute_only, "set the mode of encoders[0] on the module only (`.training = False`)"),
    (top_left_in_eval, "the top layer (encoders[-1]) trained in eval mode"),
    (top_left_frozen, "with requires_grad=False"),
    (top_not_detached, "the frozen layer encoders[0] changed"),
    (top_no_zero_grad, "call optimizer.zero_grad()"),
    (top_no_step, "the top layer's weights did not change"),
    (top_zero_grad_after_backward, "the top layer's weights did not change"),
    (top_mse_mean, "averages over the units too"),
    (top_batch_sum, "sums over the batch"),
    (top_loss_after_step, "returned the loss"),
    (top_returns_module, "returned Sequential; return the loss of this step as a Python float"),
])
def test_train_top_layer_mistakes_are_named(answer, fragment):
    rejects(checks.check_train_top_layer, answer, fragment)


def test_train_top_layer_crash_is_reported_with_its_cause():
    rejects(checks.check_train_top_layer, top_on_all_layers, "raised RuntimeError")


def test_train_top_layer_hidden_cases_catch_the_same_mistakes():
    rejects(checks.check_train_top_layer, top_mode_attribute_only, "`.training = False`",
            seed=1, sizes=(12, 7, 4), batch=9)
    rejects(checks.check_train_top_layer, top_no_zero_grad, "zero_grad", seed=2, sizes=(30, 20, 16, 10, 5),
            batch=32)


def test_train_top_layer_bad_arguments_are_an_error():
    with pytest.raises(ValueError, match="at least one frozen layer"):
        checks.check_train_top_layer(train_top_layer, sizes=(10, 3))


# ---------------------------------------------------------------- 6.3 predict: freezing a layer under Adam


@pytest.mark.parametrize("answer", ["B", "b", " B "])
def test_prediction_6_3_right_letter_passes(answer, capsys):
    checks.check_prediction_6_3(answer)
    out = capsys.readouterr().out
    assert "✓ prediction_6_3: B is right" in out and "set_to_none=True" in out


@pytest.mark.parametrize("answer, fragment", [
    ("A", "leaves a zero tensor in .grad"),
    ("c", "plain Adam does not apply here"),
    ("D", "it raises nothing"),
    (None, "not written yet"),
    ("E", "expected one letter"),
    (2, "expected one letter"),
    ("AB", "expected one letter"),
])
def test_prediction_6_3_wrong_answers_are_explained(answer, fragment):
    rejects(checks.check_prediction_6_3, answer, fragment)


def test_prediction_6_3_letter_is_what_the_run_shows():
    from aecourse.checks.lesson06 import frozen_drift

    assert frozen_drift(False) > 1e-3  # B: the frozen weights keep moving
    assert frozen_drift(True) == 0.0  # with the default set_to_none=True they would not


# ---------------------------------------------------------------- 6.4 experiment: the fine-tuning learning rate


@pytest.fixture
def fake_stack(monkeypatch):
    """A stand-in for the fine-tuning run: the error is lowest near lr = 1e-2, as measured in standard mode."""
    import math

    from aecourse.checks import lesson06

    calls = []

    def fake(lr, budget=None):
        calls.append(lr)
        if lr > 0.5:
            return {"error": float("inf"), "before": 77.8, "mean_image": 51.2}
        return {"error": 24.0 + 6.0 * math.log10(lr / 0.01) ** 2 * 4, "before": 77.8, "mean_image": 51.2}

    monkeypatch.setattr(lesson06, "finetune_stack", fake)
    monkeypatch.setattr(lesson06, "stack_budget", lambda: {
        "mode": "standard", "sizes": [784, 128, 16], "n_train": 3000, "n_val": 1000, "pretrain_epochs": 1,
        "finetune_epochs": 4, "error_target": 26.0})
    return calls


@pytest.mark.parametrize("lr", [0.01, 0.008, torch.tensor(0.012)])
def test_finetune_lr_good_settings_pass(fake_stack, lr, capsys):
    checks.check_finetune_lr(lr)
    assert "✓ lr_6_4: lr = " in capsys.readouterr().out


@pytest.mark.parametrize("lr, fragments", [
    (1e-3, ("lr = 0.001 misses the target", "22.00 above the target 26.0")),
    (3e-3, ("lr = 0.003 misses the target", "above the target 26.0")),
    (1e-4, ("misses the target",)),
    (3e-2, ("lr = 0.03 misses the target",)),
    (0.1, ("misses the target", "before fine-tuning 77.80")),
    (1.0, ("lr = 1 diverged",)),
])
def test_finetune_lr_weak_settings_say_how_far_off(fake_stack, lr, fragments):
    rejects(checks.check_finetune_lr, lr, *fragments)


@pytest.mark.parametrize("lr, fragment", [
    (None, "not written yet"),
    ("1e-2", "expected a number"),
    (False, "expected a number"),
    (0.0, "finite number > 0"),
    (-0.01, "finite number > 0"),
    (float("nan"), "finite number > 0"),
])
def test_finetune_lr_rejects_non_answers(fake_stack, lr, fragment):
    rejects(checks.check_finetune_lr, lr, fragment)
    assert fake_stack == []  # nothing was trained


def test_finetune_stack_is_repeatable_and_leaves_the_random_state_alone():
    from aecourse.checks import lesson06

    budget = {"mode": "test", "sizes": [784, 32, 4], "n_train": 256, "n_val": 64, "pretrain_epochs": 1,
              "finetune_epochs": 1, "error_target": 26.0}
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    first = lesson06.finetune_stack(0.01, budget)
    torch.testing.assert_close(torch.rand(3), expected)
    lesson06._FINETUNED.clear()
    lesson06._PRETRAINED.clear()
    assert lesson06.finetune_stack(0.01, budget) == first
    assert first["error"] < first["before"]  # fine-tuning helped
    assert set(first) == {"error", "before", "mean_image"}
