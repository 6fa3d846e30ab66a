"""CIFAR-10/100 entry points: find the data, decode it once (cached), or download it."""
from __future__ import annotations

import hashlib
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from ..checkpoint import atomic_write
from ..errors import ConfigError, DataError
from ..paths import ENV_VAR, cache_dir, data_root
from .cache import cache_name, content_digest, load_cached, save_cached
from .dataset import ImageDataset
from .readers import DATASETS, SPLITS, Source, detect, fingerprint_files, read_source

CIFAR_HOME = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR_DOWNLOADS = {  # dataset -> (official URL, md5 published on CIFAR_HOME)
    "cifar10": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "c58f30108f718f92721af3b95e74349a"),
    "cifar100": ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                 "eb9058c3a382ffc7106ba4c9dc34d5e4"),
}


def load_cifar(source: str | Path | None = None, split: str = "train", dataset: str = "cifar10",
               cache: bool = True) -> ImageDataset:
    """Load one split of CIFAR-10/100 as uint8 tensors.

    Args:
        source: the python-batches folder or its official tarball, an image-folder
            tree (``<root>/<split>/<class>/*.png``) or its tarball, or a folder holding
            any of those; None looks in ``data_root()/<dataset>/``.
        split: ``"train"`` or ``"test"``.
        dataset: ``"cifar10"`` or ``"cifar100"`` (checked against pickle contents).
        cache: reuse / write the decoded tensors in ``cache_dir()``.

    Raises:
        DataError: no data found, or a corrupt file (the message names it and the fix).
    """
    _check_choice("split", split, SPLITS)
    _check_choice("dataset", dataset, DATASETS)
    found = locate(source, dataset)
    if not cache:
        return read_source(found, split)
    files = fingerprint_files(found, split)
    path, digest = cache_dir() / cache_name(files, split, dataset), content_digest(files)
    ds = load_cached(path, digest)
    if ds is None:
        ds = read_source(found, split)
        save_cached(path, ds, digest)
    return ds


def _check_choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")


def locate(source: str | Path | None, dataset: str) -> Source:
    """Detect the data at ``source`` (or under ``data_root()/<dataset>``) by content."""
    root = data_root() / dataset if source is None else Path(source).expanduser()
    if not root.exists():
        raise _missing(dataset, [f"{root} (does not exist)"], explicit=source is not None)
    found = detect(root)  # a file is a tarball or an error naming it
    if found is not None:
        return _check_variant(found, dataset)
    looked, candidates = [f"{root} (no CIFAR layout directly inside)"], []
    for child in sorted(root.iterdir()):
        found, why = _try_child(child, dataset)
        if found is None:
            looked.append(f"{child} ({why})")
        else:
            candidates.append(found)
    if candidates:  # lossless pickles first, then folders before tarballs (faster)
        return min(candidates, key=lambda s: (s.layout != "pickle", s.path.is_file()))
    raise _missing(dataset, looked, explicit=source is not None)


def _try_child(child: Path, dataset: str) -> tuple[Source | None, str]:
    """A usable source at ``child``, or None and why not (for the error message)."""
    if child.is_file() and not tarfile.is_tarfile(child):
        return None, "not a tarball"
    try:
        found = detect(child)
    except DataError as exc:
        return None, str(exc).split(";")[0]
    if found is None:
        return None, "no CIFAR layout"
    if found.variant not in (None, dataset):
        return None, f"holds {found.variant}, not {dataset}"
    return found, ""


def _check_variant(found: Source, dataset: str) -> Source:
    if found.variant not in (None, dataset):
        raise DataError(f"{found.path} holds {found.variant} python batches but "
                        f"dataset={dataset!r}; pass dataset={found.variant!r} or point the "
                        f"source at the {dataset} data")
    return found


def _missing(dataset: str, looked: list[str], explicit: bool) -> DataError:
    home, (url, _) = data_root() / dataset, CIFAR_DOWNLOADS[dataset]
    where = (f"point source at CIFAR data, or leave it unset to read {home} ({ENV_VAR} sets "
             f"the folder)" if explicit else
             f"put the data in {home}, or set {ENV_VAR} to the folder holding {dataset}/")
    return DataError(
        f"no {dataset} data found; looked at: {'; '.join(looked)}. Fix: {where}. Accepted: the "
        f"official python version ({Path(url).name} or its extracted folder) or an image-folder "
        f"tree <root>/<split>/<class>/*.png (or its .tar.gz). Get it from {CIFAR_HOME}, or with "
        f"nasengine.data.download_cifar({dataset!r}, '{home}')")


def download_cifar(dataset: str, dest: Path) -> Path:
    """Download the official python-version tarball into ``dest`` and verify its md5.

    Keeps an existing file whose md5 already matches. Writes atomically, so an
    interrupted download never leaves a partial tarball behind.
    """
    _check_choice("dataset", dataset, DATASETS)
    url, md5 = CIFAR_DOWNLOADS[dataset]
    target = Path(dest).expanduser() / Path(url).name
    if target.is_file() and _md5(target) == md5:
        return target
    atomic_write(target, lambda tmp: _fetch(url, tmp, md5))
    return target


def _fetch(url: str, tmp: Path, md5: str) -> None:
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise DataError(f"could not download {url} ({exc}); check the connection or download "
                        f"it by hand from {CIFAR_HOME}") from exc
    if digest.hexdigest() != md5:
        raise DataError(f"{url} downloaded with md5 {digest.hexdigest()}, expected {md5}; the "
                        f"download is corrupt: try again, or download it by hand from {CIFAR_HOME}")


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
