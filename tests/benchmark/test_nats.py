"""convert_nats against fake ``nats_bench`` / ``nas_201_api`` modules (the real ones are optional)."""
from __future__ import annotations

import sys
import types

import pytest

from nasengine.benchmark import NB201Table, convert_nats
from nasengine.cli import main
from nasengine.errors import DataError

FAKE_ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
]
DATASET_OFFSET = {"cifar10": 0.1, "cifar10-valid": 0.2, "cifar100": 0.3, "ImageNet16-120": 0.4}
SPLIT_OFFSET = {"train": 0.01, "valid": 0.02, "test": 0.03}
SPLITS = {"cifar10": ("train", "test"), "cifar10-valid": ("train", "valid", "test"),
          "cifar100": ("train", "valid", "test"), "ImageNet16-120": ("train", "valid", "test")}


def expected(index: int, dataset: str, split: str, hp: str) -> float:
    """What the fake returns for the seed mean; the 12-epoch schedule is 30 points lower."""
    return 50.0 + index + DATASET_OFFSET[dataset] + SPLIT_OFFSET[split] - (30 if hp == "12" else 0)


class FakeAPI:
    """The parts of the NATS-Bench topology API that convert_nats uses, with its defaults."""

    def __init__(self, hps: tuple[str, ...] = ("12", "200"), broken_index: int | None = None):
        self.hps, self.broken_index = hps, broken_index
        self.calls: list[tuple] = []
        self.arch2infos_dict: dict[int, object] = {}

    def __len__(self) -> int:
        return len(FAKE_ARCHS)

    def arch(self, index: int) -> str:
        return FAKE_ARCHS[index]

    def get_more_info(self, index, dataset, iepoch=None, hp="12", is_random=True):
        self.calls.append(("more", index, dataset, hp, is_random))
        self.arch2infos_dict[index] = object()
        if hp not in self.hps:
            raise KeyError(hp)
        noise = 7.0 if is_random is not False else 0.0  # one random seed != the mean
        info = {f"{split}-accuracy": expected(index, dataset, split, hp) + noise
                for split in SPLITS[dataset]}
        if index == self.broken_index and dataset == "cifar100":
            del info["test-accuracy"]
        return info

    def get_cost_info(self, index, dataset, hp="12"):
        self.calls.append(("cost", index, dataset, hp, None))
        head = {"cifar10": 0.0, "cifar100": 0.006, "ImageNet16-120": 0.007}[dataset]
        return {"params": 0.1 * (index + 1) + head, "flops": 10.0 * (index + 1), "latency": 0.01}


@pytest.fixture
def fake_nats(monkeypatch):
    """Install a fake ``nats_bench``; returns the record of ``create`` calls and the API."""
    state = {"api": FakeAPI(), "create": []}
    module = types.ModuleType("nats_bench")

    def create(path, search_space, fast_mode=False, verbose=True):
        state["create"].append((path, search_space, fast_mode, verbose))
        return state["api"]

    module.create = create
    monkeypatch.setitem(sys.modules, "nats_bench", module)
    return state


def test_converts_every_arch_and_reads_back(fake_nats, tmp_path):
    source = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    source.mkdir()
    out = convert_nats(str(source), tmp_path / "out" / "nb201.csv.gz", progress=False)
    assert fake_nats["create"] == [(str(source), "tss", True, False)]
    table = NB201Table.from_path(out)
    assert table.archs == FAKE_ARCHS and table.index_of(FAKE_ARCHS[2]) == 2
    for i, arch in enumerate(FAKE_ARCHS):
        assert table.accuracy(arch) == pytest.approx(expected(i, "cifar10", "test", "200"))
        assert table.accuracy(arch, "cifar10-valid", "valid") == pytest.approx(
            expected(i, "cifar10-valid", "valid", "200"))
        assert table.accuracy(arch, "cifar10-valid", "test") == pytest.approx(
            expected(i, "cifar10-valid", "test", "200"))
        assert table.accuracy(arch, "cifar10-valid", "train") == pytest.approx(
            expected(i, "cifar10-valid", "train", "200"))
        assert table.accuracy(arch, "ImageNet16-120", "valid") == pytest.approx(
            expected(i, "ImageNet16-120", "valid", "200"))
        assert table.accuracy(arch, "cifar100", "test", epochs=12) == pytest.approx(
            expected(i, "cifar100", "test", "12"))
        assert table.params(arch, "cifar100") == pytest.approx(0.1 * (i + 1) + 0.006)
        assert table.flops(arch, "ImageNet16-120") == pytest.approx(10.0 * (i + 1))
    assert len(table.metrics()) == 14 + 6
    assert [p.name for p in out.parent.iterdir()] == ["nb201.csv.gz"]  # no temp file left


def test_avoids_the_api_traps(fake_nats, tmp_path):
    """Seed means (is_random=False) and an explicit hp on every accuracy query."""
    convert_nats(str(tmp_path), tmp_path / "t.csv.gz", progress=False)
    more = [c for c in fake_nats["api"].calls if c[0] == "more"]
    assert more and all(c[4] is False for c in more)
    assert {c[3] for c in more} == {"12", "200"}
    assert ("more", 1, "cifar10", "200", False) in more
    assert fake_nats["api"].arch2infos_dict == {}  # each arch released after use


def test_source_without_12_epoch_results_leaves_those_columns_out(fake_nats, tmp_path):
    fake_nats["api"] = FakeAPI(hps=("200",))
    with pytest.warns(UserWarning, match="cifar10_test_acc_12ep"):
        out = convert_nats(str(tmp_path), tmp_path / "t.csv.gz", progress=False)
    table = NB201Table.from_path(out)
    assert not any(m.endswith("_12ep") for m in table.metrics())
    assert table.accuracy(FAKE_ARCHS[0]) == pytest.approx(expected(0, "cifar10", "test", "200"))


def test_value_missing_for_a_later_arch_is_an_error(fake_nats, tmp_path):
    fake_nats["api"] = FakeAPI(broken_index=2)
    out = tmp_path / "t.csv.gz"
    with pytest.raises(DataError, match="arch 2 has no finite cifar100_test_acc"):
        convert_nats(str(tmp_path), out, progress=False)
    assert not out.exists()


def test_missing_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "nats_bench", None)  # makes `import nats_bench` fail
    with pytest.raises(DataError, match=r"pip install nasengine\[nats\].*pip install nats_bench"):
        convert_nats(str(tmp_path), tmp_path / "t.csv.gz", progress=False)


def test_missing_source(fake_nats, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        convert_nats(str(tmp_path / "nope"), tmp_path / "t.csv.gz", progress=False)


def test_api_that_cannot_open_the_source(monkeypatch, tmp_path):
    module = types.ModuleType("nats_bench")

    def create(*args, **kwargs):
        raise ValueError("invalid file")

    module.create = create
    monkeypatch.setitem(sys.modules, "nats_bench", module)
    with pytest.raises(DataError, match="nats_bench could not open .*invalid file"):
        convert_nats(str(tmp_path), tmp_path / "t.csv.gz", progress=False)


def test_nb201_pth_file_uses_nas_201_api(monkeypatch, tmp_path):
    opened = []
    module = types.ModuleType("nas_201_api")

    def api_class(path, verbose=True):
        opened.append((path, verbose))
        return FakeAPI()

    module.NASBench201API = api_class
    monkeypatch.setitem(sys.modules, "nas_201_api", module)
    source = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    source.write_bytes(b"")
    out = convert_nats(str(source), tmp_path / "t.csv.gz", progress=False)
    assert opened == [(str(source), False)]
    assert NB201Table.from_path(out).accuracy(FAKE_ARCHS[1]) == pytest.approx(
        expected(1, "cifar10", "test", "200"))


def test_cli_convert_nats(fake_nats, tmp_path, capsys):
    out = tmp_path / "cli.csv.gz"
    assert main(["convert-nats", str(tmp_path), str(out)]) == 0
    assert NB201Table.from_path(out).archs == FAKE_ARCHS


def test_cli_convert_nats_without_package(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "nats_bench", None)
    assert main(["convert-nats", str(tmp_path), str(tmp_path / "x.csv.gz")]) == 2
    assert "pip install" in capsys.readouterr().err
