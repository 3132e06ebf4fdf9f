import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aecourse import data, training
from aecourse.config import set_seed


def _mlp_autoencoder(code: int = 16) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, code),
                         nn.ReLU(), nn.Linear(code, 64), nn.ReLU(), nn.Linear(64, 784), nn.Sigmoid())


def recon_loss(model, x):
    """MSE averaged over pixels and batch."""
    return F.mse_loss(model(x), x.flatten(1))


@pytest.fixture(scope="module")
def small_mnist():
    x, y = data.load_mnist("test")
    return x[:1024], y[:1024], x[1024:1536]


def _run(small_mnist, epochs=3):
    x, _, x_val = small_mnist
    set_seed(0)
    model = _mlp_autoencoder()
    return training.fit(model, recon_loss, x, epochs=epochs, batch_size=64, val=x_val,
                        verbose=False), model


def test_fit_is_deterministic_on_cpu(small_mnist):
    h1, _ = _run(small_mnist)
    h2, _ = _run(small_mnist)
    assert h1.train_loss == h2.train_loss and h1.val_loss == h2.val_loss


def test_fit_learns_on_real_digits(small_mnist):
    history, model = _run(small_mnist, epochs=8)
    assert len(history) == 8 and len(history.val_loss) == 8 and len(history.seconds) == 8
    assert history.train_loss[-1] < 0.6 * history.train_loss[0]
    assert history.val_loss[-1] < history.val_loss[0]
    # The reported validation loss is the mean over all validation images.
    x_val = small_mnist[2]
    with torch.no_grad():
        model.eval()
        expected = F.mse_loss(model(x_val), x_val.flatten(1)).item()
    assert history.val_loss[-1] == pytest.approx(expected, rel=1e-5)
    assert "8 epochs in" in history.summary() and "val loss" in history.summary()


def test_train_loss_is_the_mean_over_examples():
    """With lr=0 nothing changes, so the epoch's train loss equals the full-data loss."""
    set_seed(0)
    x = torch.rand(100, 784)
    model = _mlp_autoencoder()
    history = training.fit(model, recon_loss, x, epochs=1, batch_size=32,
                           optimizer=torch.optim.SGD(model.parameters(), lr=0.0), verbose=False)
    with torch.no_grad():
        assert history.train_loss[0] == pytest.approx(recon_loss(model, x).item(), rel=1e-5)


def test_fit_passes_tuples_as_batches():
    set_seed(0)
    x, y = torch.randn(256, 5), torch.randint(0, 3, (256,))
    model = nn.Linear(5, 3)
    seen = []

    def loss_fn(m, batch):
        xb, yb = batch
        seen.append(len(xb))
        assert len(xb) == len(yb)
        return F.cross_entropy(m(xb), yb)

    training.fit(model, loss_fn, (x, y), epochs=2, batch_size=100, verbose=False)
    assert seen == [100, 100, 56] * 2


def test_fit_draws_every_example_once_per_epoch():
    x = torch.arange(50, dtype=torch.float32).unsqueeze(1)
    model = nn.Linear(1, 1)
    drawn = []

    def loss_fn(m, xb):
        drawn.extend(xb.squeeze(1).tolist())
        return m(xb).pow(2).mean()

    training.fit(model, loss_fn, x, epochs=2, batch_size=8, verbose=False)
    assert sorted(drawn[:50]) == list(range(50)) and sorted(drawn[50:]) == list(range(50))
    assert drawn[:50] != drawn[50:], "batches must be reshuffled every epoch"


def test_fit_steps_a_scheduler_per_batch():
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))
    training.fit(model, lambda m, xb: m(xb).pow(2).mean(), torch.randn(40, 2), epochs=1,
                 batch_size=10, optimizer=opt, scheduler=sched, verbose=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0 / 5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"epochs": 0}, ValueError, "epochs must be a positive int"),
        ({"epochs": 1, "batch_size": 0}, ValueError, "batch_size must be a positive int"),
        ({"epochs": 1, "val": [1, 2]}, TypeError, "val must be a tensor or a tuple"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        training.fit(nn.Linear(2, 2), lambda m, x: m(x).mean(), torch.zeros(4, 2),
                     verbose=False, **kwargs)


def test_fit_rejects_mismatched_tensors():
    with pytest.raises(ValueError, match=r"disagree in their first dimension: \[\(4, 2\), \(3,\)\]"):
        training.fit(nn.Linear(2, 2), lambda m, b: m(b[0]).mean(), (torch.zeros(4, 2), torch.zeros(3)),
                     epochs=1, verbose=False)


def test_fit_rejects_unreduced_loss():
    with pytest.raises(ValueError, match=r"must return a scalar tensor, got \(4, 2\)"):
        training.fit(nn.Linear(2, 2), lambda m, x: (m(x) - x) ** 2, torch.zeros(4, 2),
                     epochs=1, verbose=False)


def test_fit_stops_on_divergence():
    with pytest.raises(FloatingPointError, match="diverged.*lower the learning rate"):
        training.fit(nn.Linear(2, 2), lambda m, x: m(x).sum() * float("nan"), torch.ones(4, 2),
                     epochs=1, verbose=False)


def test_evaluate_and_predict_batch_like_a_full_pass(small_mnist):
    x = small_mnist[0]
    set_seed(1)
    model = _mlp_autoencoder().train()
    with torch.no_grad():
        full = model(x)
    out = training.predict(model, x, batch_size=100)
    torch.testing.assert_close(out, full)
    assert model.training, "predict must restore the model's mode"
    loss = training.evaluate(model, recon_loss, x, batch_size=300)
    assert loss == pytest.approx(F.mse_loss(full, x.flatten(1)).item(), rel=1e-5)
    codes = training.predict(model[:4], x, batch_size=100)
    assert codes.shape == (1024, 16) and not codes.requires_grad


def test_predict_handles_tuple_outputs():
    class TwoHeads(nn.Module):
        def forward(self, x):
            return x * 2, x.sum(1)

    a, b = training.predict(TwoHeads(), torch.ones(25, 3), batch_size=10)
    assert a.shape == (25, 3) and b.shape == (25,)


@pytest.mark.parametrize("env, ci, expected", [("0", None, False), ("1", "true", True),
                                                (None, "true", False)])
def test_progress_switch(monkeypatch, env, ci, expected):
    for name, value in (("AECOURSE_PROGRESS", env), ("CI", ci)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert training.progress_enabled() is expected
    assert training.progress_enabled(True) is True


def test_a_label_names_the_run_on_one_summary_line(capsys):
    set_seed(0)
    x = torch.rand(64, 784)
    history = training.fit(_mlp_autoencoder(), recon_loss, x, epochs=2, batch_size=32, label="k = 16",
                           progress=False)
    assert capsys.readouterr().out == f"k = 16: {history.summary()}\n"
    with pytest.raises(TypeError, match="label must be a str"):
        training.fit(_mlp_autoencoder(), recon_loss, x, epochs=1, label=16)
