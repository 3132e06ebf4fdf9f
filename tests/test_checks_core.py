"""What every check shares (aecourse.checks.core): warnings, devices, dtypes and predictions."""

import warnings

import pytest
import torch
from torch import nn

from aecourse.checks import core


def test_a_warning_inside_an_answer_is_named_on_stdout_and_costs_nothing(capsys):
    def answer(x):
        warnings.warn("torch.qr is deprecated", UserWarning, stacklevel=2)
        warnings.warn("torch.qr is deprecated", UserWarning, stacklevel=2)  # shown once
        return x * 2

    out = core.call("double", answer, x=torch.ones(3))
    assert torch.equal(out, torch.full((3,), 2.0))
    captured = capsys.readouterr()
    assert captured.err == ""  # nbgrader scores a cell that writes to stderr 0
    assert captured.out.count("UserWarning: torch.qr is deprecated") == 1


@pytest.mark.parametrize("answer", [
    lambda x: x + torch.rand(x.shape),
    lambda x: x * (torch.rand(x.shape[0], 1) < 0.5),
    lambda x: torch.where(torch.rand(x.shape) < 0.5, torch.zeros(x.shape), x),
    lambda x: torch.zeros(x.shape),  # returned on the CPU
    lambda x: (x + 1).cpu(),
])
def test_a_tensor_made_on_the_cpu_whatever_the_input_is_caught_without_a_gpu(answer):
    with pytest.raises(AssertionError) as err:
        core.check_device("noise", answer, x=torch.zeros(4, 5))
    assert any(s in str(err.value) for s in ("on the CPU whatever the input's device", "returned a tensor on cpu",
                                             "copied a tensor off its device"))


@pytest.mark.parametrize("answer", [
    lambda x: x + torch.rand_like(x),
    lambda x: x * (torch.rand(x.shape, device=x.device) < 0.5),
    lambda x: x.new_zeros(x.shape) + x,
    lambda x: torch.where(torch.rand_like(x) < 0.5, 0.0, x),
])
def test_device_aware_answers_pass(answer):
    core.check_device("noise", answer, x=torch.zeros(4, 5))


def test_the_device_probe_leaves_the_learners_module_where_it_was():
    layer = nn.Linear(4, 3)
    core.check_device("model", lambda m, x: m(x), m=layer, x=torch.zeros(2, 4))
    assert layer.weight.device.type == "cpu"


def test_a_float64_output_is_named():
    with pytest.raises(AssertionError, match="returned float64, expected float32"):
        core.expect_tensor("f", torch.zeros(2, dtype=torch.float64), (2,), dtype=torch.float32)


WHY = {"A": "A overlooks the bias.", "B": "B is the bias at work.", "C": "C confuses the axes."}


@pytest.mark.parametrize("answer", ["B", "b", " B\n"])
def test_a_right_prediction_passes_however_written(answer, capsys):
    core.check_choice("prediction", answer, "B", WHY)
    assert "B is right. B is the bias at work." in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    ("A", "A is not what happens. A overlooks the bias."),
    ("c", "C is not what happens. C confuses the axes."),
    (None, "not written yet"),
    ("D", 'expected one letter as a string, one of "A", "B", "C"'),
    (2, "got 2"),
    (["B"], "got ['B']"),
])
def test_a_wrong_prediction_is_told_why_that_choice_is_wrong(answer, fragment):
    with pytest.raises(AssertionError) as err:
        core.check_choice("prediction", answer, "B", WHY)
    assert fragment in str(err.value) and "B is the bias" not in str(err.value)


@pytest.mark.parametrize("answer", [
    lambda x: x @ torch.eye(x.shape[1]),  # meta @ cpu gives meta without an error; CUDA raises
    lambda x: torch.cat([x, torch.zeros(x.shape)]),
    lambda x: x + torch.tensor([1.0] * x.shape[1]),
])
def test_an_operation_mixing_the_input_device_with_cpu_tensors_is_caught(answer):
    with pytest.raises(AssertionError, match="on the CPU whatever the input's device"):
        core.check_device("f", answer, x=torch.zeros(4, 5))


def test_a_zero_dimensional_cpu_tensor_is_allowed_as_on_a_gpu():
    core.check_device("f", lambda x: x * torch.tensor(2.0) + torch.tensor(1.0).exp(), x=torch.zeros(4, 5))


def test_an_answer_that_reads_its_input_values_is_not_blamed_for_the_device():
    def checked(h):  # a correct answer that validates its input: .item() cannot run on the meta device
        if h.min() < 0:
            raise ValueError("expected activations in [0, 1]")
        return h.mean(dim=0)

    core.check_device("f", checked, h=torch.rand(4, 5))


def test_no_warning_of_a_course_check_reaches_stderr(capsys):
    """nbgrader scores a cell 0 if anything reaches stderr: warnings from every call of the answer go to stdout."""
    import warnings

    from aecourse import checks

    def kl(mu_q, log_var_q, mu_p, log_var_p):
        warnings.warn("this is fine", DeprecationWarning, stacklevel=2)
        return 0.5 * (log_var_p - log_var_q + (log_var_q.exp() + (mu_q - mu_p) ** 2) / log_var_p.exp() - 1).sum(dim=1)

    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        checks.check_kl_diag_gaussians(kl)
    assert not escaped, [str(w.message) for w in escaped]
    out = capsys.readouterr()
    assert "kl raised a warning (it costs nothing" in out.out and "✓ kl" in out.out and not out.err


def _row_set(x: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in x.reshape(len(x), -1).to(torch.float32)}


def test_validation_digits_are_training_images_no_experiment_trains_on():
    """A setting is chosen on validation data (lesson 04): never on test images, never on training images."""
    from aecourse.data import load_mnist

    core._validation_digits.cache_clear()
    first = core.validation_digits(2_000)
    assert first.shape == (2_000, 784) and first.dtype == torch.float32
    first[:] = 0  # a caller that changes its copy changes nothing for the next one (served from the cache)
    val = core.validation_digits(2_000)
    assert torch.equal(core.validation_digits(2_000), val) and val.sum() > 0  # the same images every call
    train, _ = load_mnist("train", flatten=True)
    test, _ = load_mnist("test", flatten=True)
    used = _row_set(val)
    assert len(used) == 2_000
    assert used <= _row_set(train[core.VALIDATION_FIRST:])
    assert not used & _row_set(train[:10_000])  # the experiments train on at most the first 6,000
    assert not used & _row_set(test)
    assert len(_row_set(core.validation_digits(3_000))) == 3_000
    for n in (0, 10_001, 2.5, True):
        with pytest.raises(ValueError, match="from 1 to 10,000"):
            core.validation_digits(n)


def test_every_experiment_scores_on_the_validation_digits(monkeypatch):
    """Each experiment's training function asks for validation_digits and scores on what it returns."""
    from aecourse.checks import lesson03, lesson04, lesson05, lesson06, lesson08

    asked = []

    def spy(n):
        asked.append(n)
        return core.validation_digits(n)

    for module in (lesson03, lesson04, lesson05, lesson06, lesson08):
        monkeypatch.setattr(module, "validation_digits", spy)
    assert torch.equal(lesson03._mnist_3_4(100, 500)[1], core.validation_digits(500)) and asked == [500]
    assert torch.equal(lesson04._dae_data()[1], core.validation_digits(lesson04.dae_budget()["n_val"]))
    asked.clear()
    lesson05.train_cae(0.123, 64, 1, 32)
    assert asked == [32]
    lesson05._CAE_RUNS.clear()
    budget = {"mode": "test", "sizes": [784, 8, 2], "n_train": 64, "n_val": 48, "pretrain_epochs": 1,
              "finetune_epochs": 1, "error_target": 26.0}
    lesson06.finetune_stack(0.0123, budget)
    assert asked == [32, 48]
    lesson06._FINETUNED.clear()
    lesson06._PRETRAINED.clear()
    lesson08._rate_data.cache_clear()
    try:
        train, val = lesson08._rate_data()
    finally:
        lesson08._rate_data.cache_clear()
    assert asked == [32, 48, lesson08.RATE_N_VAL]
    # binarized once: a pixel can be 1 only where the validation digit has ink
    assert val.shape == (lesson08.RATE_N_VAL, 784) and not (val > (core.validation_digits(lesson08.RATE_N_VAL) > 0)).any()
