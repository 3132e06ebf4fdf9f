import random

import numpy as np
import pytest
import torch

from aecourse import config


@pytest.mark.parametrize("mode", config.MODES)
def test_pick_follows_mode(monkeypatch, mode):
    monkeypatch.setenv("AECOURSE_MODE", mode)
    assert config.get_mode() == mode
    assert config.pick(smoke=1, standard=10, full=50) == {"smoke": 1, "standard": 10, "full": 50}[mode]


def test_default_mode_is_standard(monkeypatch):
    monkeypatch.delenv("AECOURSE_MODE", raising=False)
    assert config.get_mode() == "standard"
    assert "standard" in config.describe_mode()


def test_unknown_mode_lists_valid_ones(monkeypatch):
    monkeypatch.setenv("AECOURSE_MODE", "fast")
    with pytest.raises(ValueError, match="'fast'.*smoke, standard, full"):
        config.pick(smoke=1, standard=2, full=3)


def test_pick_requires_all_three_modes():
    with pytest.raises(TypeError):
        config.pick(smoke=1, standard=2)


def test_set_seed_makes_every_generator_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    config.set_seed(123)
    a = draw()
    config.set_seed(123)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    config.set_seed(124)
    assert not torch.equal(draw()[2], a[2])


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_set_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="non-negative int seed"):
        config.set_seed(bad)


def test_get_device_reports_choice(capsys):
    device = config.get_device()
    out = capsys.readouterr().out
    assert out.startswith(f"device: {device.type} (")
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert device.type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_required_gpu_missing_is_a_clear_error():
    with pytest.raises(RuntimeError, match="Runtime > Change runtime type > GPU"):
        config.get_device(require="cuda")


def test_get_device_rejects_unknown_requirement():
    with pytest.raises(ValueError, match="require must be"):
        config.get_device(require="tpu")
