"""MNIST and Fashion-MNIST from their original IDX files: offline first, verified, never swapped."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


class DataError(RuntimeError):
    """A data file is missing, unreadable, or not the file it should be."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data file is in none of the places the loader looks, and could not be downloaded."""


@dataclass(frozen=True)
class IdxFile:
    name: str
    shape: tuple[int, ...]
    raw_md5: str | None = None  # md5 of the uncompressed IDX content (preferred check)
    gz_md5: tuple[str, ...] = ()  # accepted md5s of the .gz file, where no raw md5 is known


@dataclass(frozen=True)
class IdxDataset:
    name: str  # folder name under data/ and the cache
    title: str
    mirrors: tuple[str, ...]
    files: dict  # (split, "images" | "labels") -> IdxFile
    shipped: bool  # whether the repository ships a copy in data/<name>/


MNIST = IdxDataset(
    name="mnist",
    title="MNIST",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    files={
        ("train", "images"): IdxFile("train-images-idx3-ubyte.gz", (60000, 28, 28),
                                     raw_md5="6bbc9ace898e44ae57da46a324031adb"),
        ("train", "labels"): IdxFile("train-labels-idx1-ubyte.gz", (60000,),
                                     raw_md5="a25bea736e30d166cdddb491f175f624"),
        ("test", "images"): IdxFile("t10k-images-idx3-ubyte.gz", (10000, 28, 28),
                                    raw_md5="2646ac647ad5339dbf082846283269ea"),
        ("test", "labels"): IdxFile("t10k-labels-idx1-ubyte.gz", (10000,),
                                    raw_md5="27ae3e4e09519cfbb04c329615203637"),
    },
    shipped=True,
)

FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    files={
        ("train", "images"): IdxFile("train-images-idx3-ubyte.gz", (60000, 28, 28),
                                     gz_md5=("8d4fb7e6c68d591d4c3dfef9ec88bf0d",)),
        ("train", "labels"): IdxFile("train-labels-idx1-ubyte.gz", (60000,),
                                     gz_md5=("25c81989df183df01b3e8a0aad5dffbe",)),
        ("test", "images"): IdxFile("t10k-images-idx3-ubyte.gz", (10000, 28, 28),
                                    gz_md5=("bef4ecab320f06d8554ea6380940ec79",)),
        ("test", "labels"): IdxFile("t10k-labels-idx1-ubyte.gz", (10000,),
                                    gz_md5=("bb300cfdad3c16e7a12a480ee83cd310",)),
    },
    shipped=False,
)

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def cache_dir() -> Path:
    """Return the user cache folder: $AECOURSE_CACHE_DIR, else $XDG_CACHE_HOME/aecourse, else ~/.cache/aecourse."""
    if os.environ.get("AECOURSE_CACHE_DIR"):
        return Path(os.environ["AECOURSE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "aecourse"


def decode_idx(raw: bytes, spec: IdxFile, origin: str) -> np.ndarray:
    """Parse uncompressed IDX bytes into a uint8 array of shape spec.shape, or raise DataError."""
    header = 4 + 4 * len(spec.shape)
    magic = bytes([0, 0, 0x08, len(spec.shape)])  # unsigned bytes, then the number of dims
    if len(raw) < header or raw[:4] != magic:
        raise DataError(f"{origin} is not an IDX file of unsigned bytes with {len(spec.shape)} "
                        f"dimension(s): its header is {raw[:4].hex() or 'empty'}, "
                        f"expected {magic.hex()}. {_replace_hint(spec)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(len(spec.shape)))
    if shape != spec.shape:
        raise DataError(f"{origin} holds an array of shape {shape}, expected {spec.shape}. "
                        f"{_replace_hint(spec)}")
    body = len(raw) - header
    if body != int(np.prod(shape)):
        raise DataError(f"{origin} has {body} data bytes, expected {int(np.prod(shape))} for shape "
                        f"{shape} (the file is truncated or padded). {_replace_hint(spec)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def verify(gz_bytes: bytes, spec: IdxFile, origin: str) -> np.ndarray:
    """Decompress, checksum and parse one .gz IDX file; raise DataError naming `origin` if anything is off."""
    try:
        raw = gzip.decompress(gz_bytes)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{origin} could not be decompressed ({type(err).__name__}: {err}); "
                        f"the file is truncated or corrupt ({len(gz_bytes)} bytes). "
                        f"{_replace_hint(spec)}") from None
    if spec.raw_md5 is not None:
        digest = hashlib.md5(raw).hexdigest()
        if digest != spec.raw_md5:
            raise DataError(f"{origin}: checksum mismatch, the uncompressed content has md5 {digest}, "
                            f"expected {spec.raw_md5}. {_replace_hint(spec)}")
    elif spec.gz_md5:
        digest = hashlib.md5(gz_bytes).hexdigest()
        if digest not in spec.gz_md5:
            raise DataError(f"{origin}: checksum mismatch, the file has md5 {digest}, expected "
                            f"{' or '.join(spec.gz_md5)}. {_replace_hint(spec)}")
    return decode_idx(raw, spec, origin)


def _replace_hint(spec: IdxFile) -> str:
    return (f"Fix: replace {spec.name} with a good copy (the course repository ships MNIST in "
            "data/mnist/), or move the bad file away so the loader can download it again. "
            "Nothing was deleted.")


def _candidates(ds: IdxDataset, data_dir: str | os.PathLike | None) -> list[tuple[Path, str, bool]]:
    """Return the folders to look in, as (folder, why, explicit) in the documented order."""
    if data_dir is not None:
        return [(Path(data_dir).expanduser(), "the data_dir argument", True)]
    if os.environ.get("AECOURSE_DATA_DIR"):
        return [(Path(os.environ["AECOURSE_DATA_DIR"]).expanduser(), "AECOURSE_DATA_DIR", True)]
    found = [(cache_dir() / ds.name, "the user cache", False)]
    if ds.shipped:
        found.insert(0, (REPO_DATA_DIR / ds.name, "the course repository's data/", False))
    return found


def _resolve(folder: Path, ds: IdxDataset, spec: IdxFile) -> Path | None:
    """Return the file in `folder` (or in `folder/<dataset>/`) if it exists."""
    for path in (folder / spec.name, folder / ds.name / spec.name):
        if path.is_file():
            return path
    return None


def locate(ds: IdxDataset, key: tuple[str, str], data_dir=None) -> tuple[Path, str] | None:
    """Return (path, where) of the first existing copy of a file, or None if there is none to read."""
    spec = ds.files[key]
    for folder, why, explicit in _candidates(ds, data_dir):
        path = _resolve(folder, ds, spec)
        if path is not None:
            return path, why
        if explicit:
            raise DataNotFoundError(
                f"{ds.title} file {spec.name} not found in {folder} (given by {why}). Fix: copy the "
                f"four {ds.title} .gz files into that folder, or point {why} at the folder that "
                "holds them (the course repository ships MNIST in data/mnist/).")
    return None


@functools.lru_cache(maxsize=16)
def _read_verified(path: str, mtime_ns: int, size: int, spec: IdxFile) -> np.ndarray:
    return verify(Path(path).read_bytes(), spec, str(path))


def download(ds: IdxDataset, spec: IdxFile, folder: Path, timeout: float = 30.0) -> Path:
    """Fetch one file from the dataset's mirrors into `folder`, verified before it is kept."""
    failures = []
    for mirror in ds.mirrors:
        url = mirror + spec.name
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                payload = response.read()
            verify(payload, spec, url)
        except (urllib.error.URLError, OSError, http.client.HTTPException, DataError) as err:
            failures.append(f"  {url}: {getattr(err, 'reason', err)}")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as tmp:
            tmp.write(payload)
        os.replace(tmp.name, folder / spec.name)
        return folder / spec.name
    raise DataNotFoundError(
        f"{ds.title} file {spec.name} is not on this machine and could not be downloaded:\n"
        + "\n".join(failures)
        + f"\nFix: if you are offline, copy the four {ds.title} .gz files into {folder} "
        "(the course repository ships MNIST in data/mnist/), or set AECOURSE_DATA_DIR "
        "to the folder that holds them.")


def read_idx(ds: IdxDataset, key: tuple[str, str], data_dir=None, allow_download=True) -> np.ndarray:
    """Return one verified file of a dataset as a uint8 array, downloading it into the cache if needed."""
    spec = ds.files[key]
    hit = locate(ds, key, data_dir)
    if hit is None:
        if not allow_download:
            raise DataNotFoundError(
                f"{ds.title} file {spec.name} was not found ({', '.join(w for _, w, _ in _candidates(ds, None))}) "
                "and download=False. Fix: set AECOURSE_DATA_DIR to a folder that holds it, or "
                "pass download=True.")
        path = download(ds, spec, cache_dir() / ds.name)
    else:
        path = hit[0]
    stat = path.stat()
    return _read_verified(str(path), stat.st_mtime_ns, stat.st_size, spec)


def _load(ds: IdxDataset, split: str, data_dir, numpy: bool, flatten: bool, download: bool):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images = read_idx(ds, (split, "images"), data_dir, download)
    labels = read_idx(ds, (split, "labels"), data_dir, download)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{ds.title} {split}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = images.astype(np.float32) / 255.0
    x = x.reshape(len(x), 784) if flatten else x[:, None, :, :]
    y = labels.astype(np.int64)
    if numpy:
        return x, y
    return torch.from_numpy(x), torch.from_numpy(y)


def load_mnist(split: str = "train", *, data_dir=None, numpy: bool = False,
               flatten: bool = False, download: bool = True):
    """Return (x, y): x float32 (N, 1, 28, 28) in [0, 1] (or (N, 784) if flatten), y int64 (N,).

    Looks in: `data_dir`, $AECOURSE_DATA_DIR, the repository's data/mnist/, the user
    cache, then downloads into the cache. Every file is checked against its checksum.
    """
    return _load(MNIST, split, data_dir, numpy, flatten, download)


def load_fashion_mnist(split: str = "train", *, data_dir=None, numpy: bool = False,
                       flatten: bool = False, download: bool = True):
    """Return Fashion-MNIST like load_mnist (downloaded into the user cache on first use)."""
    return _load(FASHION_MNIST, split, data_dir, numpy, flatten, download)


def _labels_numpy(y) -> np.ndarray:
    return y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)


def _take(a, idx: np.ndarray):
    return a[torch.from_numpy(idx).to(a.device)] if isinstance(a, torch.Tensor) else a[idx]


def balanced_subset(x, y, n_per_class: int, seed: int = 0):
    """Return (x, y) with exactly n_per_class examples of every label, in shuffled order."""
    labels = _labels_numpy(y)
    if len(x) != len(labels):
        raise ValueError(f"x and y disagree in length: {len(x)} vs {len(labels)}")
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < n_per_class:
            raise ValueError(f"class {c} has only {len(members)} examples, fewer than "
                             f"n_per_class={n_per_class}")
        picked.append(rng.choice(members, size=n_per_class, replace=False))
    idx = rng.permutation(np.concatenate(picked))
    return _take(x, idx), _take(y, idx)


def train_val_split(x, y, val_size: float | int = 0.1, seed: int = 0):
    """Split into ((x_train, y_train), (x_val, y_val)) at random; val_size is a fraction or a count."""
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x and y disagree in length: {n} vs {len(y)}")
    n_val = int(round(val_size * n)) if isinstance(val_size, float) else int(val_size)
    if not 0 < n_val < n:
        raise ValueError(f"val_size={val_size!r} leaves {n_val} of {n} examples for validation; "
                         "expected a fraction in (0, 1) or a count between 1 and N-1")
    idx = np.random.default_rng(seed).permutation(n)
    val, train = idx[:n_val], idx[n_val:]
    return (_take(x, train), _take(y, train)), (_take(x, val), _take(y, val))
