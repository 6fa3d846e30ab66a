"""load_cifar on tiny files in every accepted layout, its cache, and its errors."""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
import torch

from nasengine.data import CIFAR10_CLASSES, ImageDataset, class_order, download_cifar, load_cifar
from nasengine.data import cifar as cifar_module
from nasengine.errors import ConfigError, DataError


def assert_same(got: ImageDataset, want: ImageDataset) -> None:
    assert got.images.dtype == torch.uint8 and got.images.is_contiguous()
    assert got.labels.dtype == torch.int64
    assert torch.equal(got.images, want.images)
    assert torch.equal(got.labels, want.labels)
    assert got.classes == want.classes


# -- official python batches ------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "test"])
def test_pickle_dir_round_trips(cifar10_dir: Path, tiny10: dict, split: str) -> None:
    assert_same(load_cifar(cifar10_dir, split=split, cache=False), tiny10[split])


@pytest.mark.parametrize("split", ["train", "test"])
def test_pickle_tarball_round_trips(cifar10_tar: Path, tiny10: dict, split: str) -> None:
    assert_same(load_cifar(cifar10_tar, split=split, cache=False), tiny10[split])


def test_folder_holding_the_tarball_or_the_dir(cifar10_tar: Path, cifar10_dir: Path,
                                              tiny10: dict) -> None:
    assert_same(load_cifar(cifar10_tar.parent, cache=False), tiny10["train"])
    assert_same(load_cifar(cifar10_dir.parent, split="test", cache=False), tiny10["test"])


def test_none_looks_under_nasengine_data(tmp_path: Path, cifar10_tar: Path, tiny10: dict,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home" / "cifar10"
    home.mkdir(parents=True)
    cifar10_tar.rename(home / cifar10_tar.name)
    (home / "SOURCE.md").write_text("not data")
    monkeypatch.setenv("NASENGINE_DATA", str(home.parent))
    assert_same(load_cifar(split="test"), tiny10["test"])


def test_cifar100_fine_labels(cifar100_dir: tuple[Path, dict], tmp_path: Path, tar_gz) -> None:
    root, data = cifar100_dir
    tarball = tar_gz(root, tmp_path / "cifar-100-python.tar.gz", "cifar-100-python")
    for source in (root, tarball):
        for split in ("train", "test"):
            assert_same(load_cifar(source, split, dataset="cifar100", cache=False), data[split])
    with pytest.raises(DataError, match="cifar100 python batches but dataset='cifar10'"):
        load_cifar(root, dataset="cifar10", cache=False)


def test_refuses_pickles_that_would_run_code(cifar10_dir: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    (cifar10_dir / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError, match="test_batch.*refusing to load builtins.print"):
        load_cifar(cifar10_dir, split="test", cache=False)


# -- image folders ----------------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "test"])
def test_image_tree_round_trips(image_tree: tuple[Path, dict], tmp_path: Path, tar_gz,
                                split: str) -> None:
    root, expected = image_tree
    tarball = tar_gz(root, tmp_path / "tree.tar.gz", "cifar10-png")  # with a prefix folder
    for source in (root, tarball, tarball.parent):
        got = load_cifar(source, split=split, cache=False)
        assert got.images.shape[2:] == (6, 8)
        assert_same(got, expected[split])


def test_class_order_cifar10_else_sorted() -> None:
    assert class_order(set(reversed(CIFAR10_CLASSES))) == list(CIFAR10_CLASSES)
    assert class_order({"zebra", "apple", "mango"}) == ["apple", "mango", "zebra"]


# -- cache ------------------------------------------------------------------------
def test_cache_hit_returns_equal_tensors(cifar10_tar: Path, tiny10: dict,
                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = load_cifar(cifar10_tar, split="test")
    files = list((tmp_path / "cache").glob("cifar10-test-*.pt"))
    assert len(files) == 1 and not list((tmp_path / "cache").glob("*.tmp"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although a valid cache exists")
    monkeypatch.setattr(cifar_module, "read_source", no_decoding)
    assert_same(load_cifar(cifar10_tar, split="test"), first)
    assert_same(first, tiny10["test"])


def test_corrupt_cache_is_rebuilt(cifar10_tar: Path, tiny10: dict, tmp_path: Path) -> None:
    load_cifar(cifar10_tar, split="test")
    (cache_file,) = (tmp_path / "cache").glob("*.pt")
    cache_file.write_bytes(b"torn write")
    with pytest.warns(UserWarning, match="ignoring unreadable data cache"):
        assert_same(load_cifar(cifar10_tar, split="test"), tiny10["test"])
    assert cache_file.stat().st_size > 1000  # rewritten with real tensors
    assert_same(load_cifar(cifar10_tar, split="test"), tiny10["test"])


def test_changed_source_misses_the_cache(cifar10_dir: Path, tiny10: dict) -> None:
    load_cifar(cifar10_dir, split="test")
    blob = pickle.loads((cifar10_dir / "test_batch").read_bytes(), encoding="bytes")
    blob[b"data"] = 255 - blob[b"data"]
    (cifar10_dir / "test_batch").write_bytes(pickle.dumps(blob, protocol=2) + b"\0")
    assert torch.equal(load_cifar(cifar10_dir, split="test").images, 255 - tiny10["test"].images)


# -- errors -----------------------------------------------------------------------
def test_missing_source_explains_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASENGINE_DATA", str(tmp_path / "nothing"))
    with pytest.raises(DataError) as info:
        load_cifar()
    message = str(info.value)
    for part in ("NASENGINE_DATA", str(tmp_path / "nothing" / "cifar10"),
                 "https://www.cs.toronto.edu/~kriz/cifar.html", "download_cifar"):
        assert part in message


def test_folder_without_data_lists_what_was_looked_at(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=r"notes.txt \(not a tarball\)"):
        load_cifar(tmp_path / "empty", cache=False)


def test_garbage_tarball_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(b"\x1f\x8b this is not gzip data at all" * 10)
    with pytest.raises(DataError, match=f"{bad}.*not a readable tarball"):
        load_cifar(bad, cache=False)


def test_truncated_tarball_is_named(cifar10_tar: Path) -> None:
    data = cifar10_tar.read_bytes()
    cifar10_tar.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=str(cifar10_tar)):
        load_cifar(cifar10_tar, cache=False)


def test_corrupt_pickle_is_named(cifar10_dir: Path) -> None:
    (cifar10_dir / "data_batch_3").write_bytes(b"\x80\x02}q\x00(garbage")
    with pytest.raises(DataError, match="data_batch_3.*not a readable CIFAR pickle"):
        load_cifar(cifar10_dir, cache=False)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="split"):
        load_cifar(split="valid")
    with pytest.raises(ConfigError, match="dataset"):
        load_cifar(dataset="imagenet")


# -- download (urlopen patched: tests never touch the network) ---------------------
def _fake_urlopen(payload: bytes, calls: list[str]):
    def urlopen(url: str, timeout: float = 0) -> io.BytesIO:
        calls.append(url)
        return io.BytesIO(payload)
    return urlopen


def test_download_verifies_md5_and_writes_atomically(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    payload, calls = b"pretend tarball", []
    monkeypatch.setattr("urllib.request.urlopen", _fake_urlopen(payload, calls))
    monkeypatch.setitem(cifar_module.CIFAR_DOWNLOADS, "cifar10",
                        (cifar_module.CIFAR_DOWNLOADS["cifar10"][0],
                         hashlib.md5(payload).hexdigest()))
    path = download_cifar("cifar10", tmp_path / "dl")
    assert path == tmp_path / "dl" / "cifar-10-python.tar.gz" and path.read_bytes() == payload
    assert calls == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert download_cifar("cifar10", tmp_path / "dl") == path and len(calls) == 1  # kept


def test_download_with_wrong_md5_leaves_nothing(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("urllib.request.urlopen", _fake_urlopen(b"corrupt", []))
    with pytest.raises(DataError, match="expected eb9058c3a382ffc7106ba4c9dc34d5e4"):
        download_cifar("cifar100", tmp_path)
    assert list(tmp_path.iterdir()) == []

