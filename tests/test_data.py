import dataclasses
import functools
import gzip
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from aecourse import data

REPO_MNIST = data.REPO_DATA_DIR / "mnist"


@pytest.fixture(scope="module")
def mnist_train():
    return data.load_mnist("train")


@pytest.fixture(scope="module")
def mnist_test():
    return data.load_mnist("test")


def test_real_mnist_shapes_types_and_ranges(mnist_train, mnist_test):
    for (x, y), n in ((mnist_train, 60000), (mnist_test, 10000)):
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
        assert y.shape == (n,) and y.dtype == torch.int64
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
        assert set(y.unique().tolist()) == set(range(10))
    # The first labels of the official files.
    assert mnist_train[1][:5].tolist() == [5, 0, 4, 1, 9]
    assert mnist_test[1][:5].tolist() == [7, 2, 1, 0, 4]


def test_numpy_and_flat_variants(mnist_test):
    x, y = data.load_mnist("test", numpy=True, flatten=True)
    assert isinstance(x, np.ndarray) and x.shape == (10000, 784) and x.dtype == np.float32
    assert isinstance(y, np.ndarray) and y.dtype == np.int64
    np.testing.assert_array_equal(x, mnist_test[0].reshape(10000, 784).numpy())


def test_returned_tensors_are_independent_copies():
    x1, _ = data.load_mnist("test")
    x1.zero_()
    x2, _ = data.load_mnist("test")
    assert float(x2.max()) == 1.0


def test_pca_30_sanity_figure(mnist_train, mnist_test):
    """PCA with 30 components: 13.87 squared error per test image (Hinton & Salakhutdinov, 2006)."""
    a = mnist_train[0].reshape(60000, 784).double()
    b = mnist_test[0].reshape(10000, 784).double()
    mean = a.mean(dim=0)
    _, _, vt = torch.linalg.svd(a - mean, full_matrices=False)
    w = vt[:30]  # (30, 784), orthonormal rows
    b_hat = (b - mean) @ w.T @ w + mean
    per_image = ((b_hat - b) ** 2).sum(dim=1).mean().item()
    assert per_image == pytest.approx(13.87, abs=0.01)


def test_bad_split():
    with pytest.raises(ValueError, match="'train' or 'test', got 'val'"):
        data.load_mnist("val")


# ---------------------------------------------------------------- error paths


def _copy_test_files(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(REPO_MNIST / name, folder / name)
    return folder


def test_explicit_folder_is_used(tmp_path):
    folder = _copy_test_files(tmp_path / "mine")
    x, y = data.load_mnist("test", data_dir=folder)
    assert x.shape == (10000, 1, 28, 28)
    # A folder that holds mnist/ is accepted too.
    x, y = data.load_mnist("test", data_dir=tmp_path.parent / tmp_path.name / "mine")
    assert len(y) == 10000


def test_missing_file_in_explicit_folder(tmp_path):
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_mnist("test", data_dir=tmp_path)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz not found in" in msg and str(tmp_path) in msg
    assert "data_dir argument" in msg and "Fix:" in msg


def test_missing_file_in_env_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("AECOURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="given by AECOURSE_DATA_DIR"):
        data.load_mnist("test")


def test_env_folder_wins_over_repository(tmp_path, monkeypatch):
    folder = _copy_test_files(tmp_path)
    monkeypatch.setenv("AECOURSE_DATA_DIR", str(folder))
    assert data.locate(data.MNIST, ("test", "labels"))[1] == "AECOURSE_DATA_DIR"


def test_truncated_file(tmp_path):
    folder = _copy_test_files(tmp_path)
    target = folder / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:2000])
    with pytest.raises(data.DataError) as err:
        data.load_mnist("test", data_dir=folder)
    msg = str(err.value)
    assert str(target) in msg and "truncated or corrupt" in msg and "2000 bytes" in msg
    assert target.exists(), "the loader must not delete a bad file"


def test_corrupt_file(tmp_path):
    folder = _copy_test_files(tmp_path)
    target = folder / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = bytes(64)
    target.write_bytes(bytes(raw))
    with pytest.raises(data.DataError, match="could not be decompressed"):
        data.load_mnist("test", data_dir=folder)


def test_checksum_mismatch(tmp_path):
    folder = _copy_test_files(tmp_path)
    target = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one wrong label, still a valid IDX file
    target.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(data.DataError) as err:
        data.load_mnist("test", data_dir=folder)
    msg = str(err.value)
    assert "checksum mismatch" in msg and data.MNIST.files[("test", "labels")].raw_md5 in msg
    assert "Nothing was deleted" in msg and target.exists()


def test_idx_header_and_size_are_checked():
    spec = data.IdxFile("x.gz", (2, 3))
    good = bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(6)
    assert data.decode_idx(good, spec, "x.gz").shape == (2, 3)
    with pytest.raises(data.DataError, match="header is 00000803, expected 00000802"):
        data.decode_idx(bytes([0, 0, 8, 3]) + good[4:], spec, "x.gz")
    with pytest.raises(data.DataError, match=r"shape \(2, 4\), expected \(2, 3\)"):
        data.decode_idx(good[:8] + (4).to_bytes(4, "big") + bytes(8), spec, "x.gz")
    with pytest.raises(data.DataError, match="5 data bytes, expected 6"):
        data.decode_idx(good[:-1], spec, "x.gz")


# ---------------------------------------------------------------- downloads


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """Serve a folder over HTTP on the loopback interface; yield (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_local_copy(tmp_path, monkeypatch):
    """Hide the repository's data/ and point the cache at an empty folder; return the cache."""
    monkeypatch.setattr(data, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.delenv("AECOURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("AECOURSE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_download_into_cache_when_nothing_is_local(mirror, no_local_copy, monkeypatch):
    url, served = mirror
    _copy_test_files(served)
    monkeypatch.setattr(data, "MNIST", dataclasses.replace(data.MNIST, mirrors=(_closed_port_url(), url)))
    x, y = data.load_mnist("test")
    assert x.shape == (10000, 1, 28, 28) and y[:3].tolist() == [7, 2, 1]
    cached = sorted(p.name for p in (no_local_copy / "mnist").iterdir())
    assert cached == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert data.locate(data.MNIST, ("test", "images"))[1] == "the user cache"


def test_download_refuses_a_bad_copy(mirror, no_local_copy, monkeypatch):
    url, served = mirror
    _copy_test_files(served)
    labels = served / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:1000])
    monkeypatch.setattr(data, "MNIST", dataclasses.replace(data.MNIST, mirrors=(url,)))
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_mnist("test")
    assert f"{url}t10k-labels-idx1-ubyte.gz" in str(err.value) and "truncated" in str(err.value)
    assert not (no_local_copy / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_offline_without_local_copy(no_local_copy, monkeypatch):
    dead = _closed_port_url()
    monkeypatch.setattr(data, "MNIST", dataclasses.replace(data.MNIST, mirrors=(dead,)))
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_mnist("train")
    msg = str(err.value)
    assert "could not be downloaded" in msg and dead in msg
    assert "if you are offline" in msg and "AECOURSE_DATA_DIR" in msg


def test_download_false_never_downloads(no_local_copy):
    with pytest.raises(data.DataNotFoundError, match="download=False"):
        data.load_mnist("test", download=False)


def test_corrupt_cache_is_reported_not_replaced(no_local_copy):
    folder = _copy_test_files(no_local_copy / "mnist")
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"not a gzip file")
    with pytest.raises(data.DataError, match=str(folder / "t10k-images-idx3-ubyte.gz")):
        data.load_mnist("test")
    assert (folder / "t10k-images-idx3-ubyte.gz").read_bytes() == b"not a gzip file"


def test_fashion_mnist_by_download(mirror, no_local_copy, monkeypatch):
    """Fashion-MNIST goes through the same mechanism; checked here with MNIST-shaped stand-in files."""
    url, served = mirror
    _copy_test_files(served)
    real = data.FASHION_MNIST
    specs = {k: dataclasses.replace(v, gz_md5=(_md5(served / v.name),)) if k[0] == "test" else v
             for k, v in data.FASHION_MNIST.files.items()}
    fake = dataclasses.replace(data.FASHION_MNIST, mirrors=(url,), files=specs)
    monkeypatch.setattr(data, "FASHION_MNIST", fake)
    x, y = data.load_fashion_mnist("test")
    assert x.shape == (10000, 1, 28, 28)
    assert (no_local_copy / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").exists()
    # The real checksums reject a file that is not Fashion-MNIST.
    (no_local_copy / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setattr(data, "FASHION_MNIST",
                        dataclasses.replace(real, mirrors=(url,)))
    with pytest.raises(data.DataError, match="checksum mismatch"):
        data.load_fashion_mnist("test")
    assert len(data.FASHION_CLASSES) == 10


def _md5(path: Path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- subsets and splits


def test_balanced_subset_torch_and_numpy(mnist_test):
    x, y = mnist_test
    xs, ys = data.balanced_subset(x, y, n_per_class=7, seed=1)
    assert xs.shape == (70, 1, 28, 28) and torch.bincount(ys).tolist() == [7] * 10
    # The images travel with their labels.
    idx = [int(i) for i in torch.nonzero((x.reshape(10000, -1) == xs[0].reshape(1, -1)).all(1))]
    assert int(y[idx[0]]) == int(ys[0])
    xn, yn = data.balanced_subset(x.numpy(), y.numpy(), n_per_class=7, seed=1)
    np.testing.assert_array_equal(yn, ys.numpy())
    assert not torch.equal(data.balanced_subset(x, y, 7, seed=2)[1], ys)


def test_balanced_subset_too_many_requested(mnist_test):
    x, y = mnist_test
    with pytest.raises(ValueError, match=r"class \d has only \d+ examples"):
        data.balanced_subset(x, y, n_per_class=2000)


def test_train_val_split(mnist_test):
    x, y = mnist_test
    (xt, yt), (xv, yv) = data.train_val_split(x, y, val_size=0.2, seed=0)
    assert len(xt) == 8000 and len(xv) == 2000 and len(yt) == 8000 and len(yv) == 2000
    (_, _), (xv2, _) = data.train_val_split(x, y, val_size=500, seed=0)
    assert len(xv2) == 500
    total = xt.sum() + xv.sum()
    assert torch.isclose(total, x.sum(), rtol=1e-5)
    with pytest.raises(ValueError, match="leaves 0 of 10000"):
        data.train_val_split(x, y, val_size=0.0)
    with pytest.raises(ValueError, match="disagree in length"):
        data.train_val_split(x, y[:10])
