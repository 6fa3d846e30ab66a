"""Data integrity: a corrupt archive is refused, and the decode cache follows its source."""
from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest
import torch

from nasengine.data import load_cifar
from nasengine.errors import DataError


def _plain_tar(src: Path) -> tuple[bytes, int]:
    """The uncompressed tarball of ``src`` and an offset inside ``data_batch_1``'s pixels."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    data = buf.getvalue()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.getmember("cifar-10-batches-py/data_batch_1")
    middle = member.offset_data + member.size // 2
    # protocol-2 pickles hold pixels as latin-1 text: flip an ASCII byte, it stays a pixel
    offset = next(i for i in range(middle, middle + 4096) if 0x20 < data[i] < 0x7e)
    return data, offset


def _flipped(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def test_a_tarball_with_one_flipped_byte_is_refused(cifar10_dir: Path, tmp_path: Path) -> None:
    data, offset = _plain_tar(cifar10_dir)
    # Uncompressed, nothing can notice: the flip silently alters one pixel...
    (tmp_path / "plain.tar").write_bytes(_flipped(data, offset))
    (tmp_path / "good.tar").write_bytes(data)
    altered = load_cifar(tmp_path / "plain.tar", "train", cache=False).images
    assert not torch.equal(altered, load_cifar(tmp_path / "good.tar", "train", cache=False).images)
    # ...inside a gzip stream (stored blocks: the bytes appear as they are), its CRC must.
    packed = bytearray(gzip.compress(data, compresslevel=0, mtime=0))
    where = bytes(packed).index(data[offset - 32: offset + 32]) + 32
    packed[where] ^= 0x01
    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(bytes(packed))
    for cache in (False, True):
        with pytest.raises(DataError, match="cifar-10-python.tar.gz is not a readable tarball"):
            load_cifar(bad, "train", cache=cache)
    assert not list((tmp_path / "cache").glob("*.pt"))  # nothing corrupt reached the cache


def test_the_cache_is_rebuilt_when_content_changes_but_size_and_mtime_do_not(
        cifar10_dir: Path, tmp_path: Path) -> None:
    data, offset = _plain_tar(cifar10_dir)
    source = tmp_path / "cifar-10-python.tar"
    source.write_bytes(data)
    first = load_cifar(source, "train")
    stamp = source.stat().st_mtime_ns
    source.write_bytes(_flipped(data, offset))  # same size...
    os.utime(source, ns=(stamp, stamp))  # ...and the old mtime
    with pytest.warns(UserWarning, match="decoded from other content"):
        second = load_cifar(source, "train")
    assert not torch.equal(first.images, second.images)
    assert torch.equal(second.images, load_cifar(source, "train", cache=False).images)
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1
