import subprocess
import sys

from aecourse import doctor


def test_doctor_reports_and_passes_here():
    out = subprocess.run([sys.executable, "-m", "aecourse", "doctor"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    for row in ("python", "torch", "device", "mode", "MNIST", "ipywidgets"):
        assert f"\n  {row} " in out.stdout
    assert "4 files verified" in out.stdout


def test_doctor_fails_with_a_fix_when_an_essential_is_missing(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "ESSENTIAL", doctor.ESSENTIAL + ("no_such_module_xyz",))
    assert doctor.run() == 1
    out = capsys.readouterr().out
    assert "no_such_module_xyz" in out and "MISSING" in out and "pip install" in out


def test_doctor_fails_on_corrupt_data(tmp_path, monkeypatch, capsys):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(b"broken")
    monkeypatch.setenv("AECOURSE_DATA_DIR", str(tmp_path))
    assert doctor.run() == 1
    assert "could not be decompressed" in capsys.readouterr().out
