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
