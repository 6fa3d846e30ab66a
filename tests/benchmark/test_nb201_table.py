"""NB201Table: reading the compact ground-truth table, lookups, and refusing bad files."""
from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pytest

from nasengine.benchmark import ACCURACY_COLUMNS, Benchmark, NB201Table, accuracy_column
from nasengine.errors import ConfigError, DataError, SpaceError


def test_gzip_and_plain_csv_read_the_same(write_table, archs):
    gz = NB201Table.from_path(write_table(name="t.csv.gz"))
    plain = NB201Table.from_path(write_table(name="t.csv"))
    assert isinstance(gz, Benchmark)
    assert gz.metrics() == plain.metrics()
    for arch in archs:
        assert gz.accuracy(arch) == plain.accuracy(arch)


def test_lookups(write_table, archs):
    table = NB201Table.from_path(write_table())
    assert len(table) == 4 and archs[0] in table and "nope" not in table
    assert table.archs == [archs[2], archs[3], archs[1], archs[0]]  # index order 0, 17, 1651, 6111
    assert table.index_of(archs[0]) == 6111
    assert table.arch_of(1651) == archs[1]
    assert table.accuracy(archs[0]) == pytest.approx(94.37333)
    assert table.query(archs[2], "latency_ms_fake") == pytest.approx(3.6)
    assert table.params(archs[0]) == pytest.approx(1.1)
    assert table.params(archs[0], dataset="cifar100") == pytest.approx(1.2)
    assert table.params(archs[0], dataset="cifar10-valid") == pytest.approx(1.1)
    assert table.flops(archs[2]) == pytest.approx(15.64737)
    assert "latency_ms_fake" in table.metrics() and "arch" not in table.metrics()
    np.testing.assert_allclose(table.query_many([archs[1], archs[0]], "cifar10_test_acc"),
                               [10.0, 94.37333])


@pytest.mark.parametrize("dataset,split,epochs,expected", [
    ("cifar10", "test", 200, 94.37333),
    ("cifar100", "test", 200, 73.2),
    ("cifar10-valid", "valid", 200, 91.60667),
    ("cifar10-valid", "test", 200, 91.5),
    ("CIFAR10", "TEST", 12, 89.16),
])
def test_accuracy_maps_dataset_split_epochs_to_columns(write_table, archs, dataset, split,
                                                        epochs, expected):
    table = NB201Table.from_path(write_table())
    assert table.accuracy(archs[0], dataset, split, epochs) == pytest.approx(expected)


def test_accuracy_column_table():
    assert accuracy_column("ImageNet16-120", "test", 200) == "imagenet16_120_test_acc"
    assert accuracy_column("imagenet16-120", "valid", 12) == "imagenet16_120_valid_acc_12ep"
    assert accuracy_column("cifar10-valid", "train", 200) == "cifar10_valid_train_acc"
    assert len(set(ACCURACY_COLUMNS.values())) == len(ACCURACY_COLUMNS)


def test_unknown_combination_lists_the_valid_ones(write_table, archs):
    table = NB201Table.from_path(write_table())
    with pytest.raises(ConfigError, match=r"valid \(dataset, split, epochs\).*\(cifar10, test, 200\)"):
        table.accuracy(archs[0], "cifar10", "valid")
    with pytest.raises(ConfigError, match="epochs=90"):
        table.accuracy(archs[0], epochs=90)
    with pytest.raises(ConfigError, match="no NB201 costs for dataset 'svhn'"):
        table.params(archs[0], dataset="svhn")


def test_combination_missing_from_the_file_names_the_column(write_table, archs):
    table = NB201Table.from_path(write_table())
    with pytest.raises(ConfigError, match="imagenet16_120_test_acc.*convert-nats"):
        table.accuracy(archs[0], "ImageNet16-120")


def test_unknown_arch_and_index_raise_space_error(write_table):
    table = NB201Table.from_path(write_table())
    with pytest.raises(SpaceError, match=r"\|bogus~0\|"):
        table.accuracy("|bogus~0|")
    with pytest.raises(SpaceError, match="index 5 is not in"):
        table.arch_of(5)
    with pytest.raises(SpaceError):
        table.index_of("nope")


def test_best_highest_lowest_and_ties(write_table, archs):
    table = NB201Table.from_path(write_table())
    assert table.best("cifar10_test_acc") == (archs[0], pytest.approx(94.37333))
    # archs[3] (index 17) and archs[1] (index 1651) tie at the minimum: index order decides
    assert table.best("cifar10_test_acc", minimize=True) == (archs[3], 10.0)
    with pytest.raises(ConfigError, match="not in"):
        table.best("no_such_metric")


def test_best_accuracy_is_the_highest_accuracy_of_any_arch(write_table, archs):
    """The optimum a ranking's or a search's regret is measured from."""
    table = NB201Table.from_path(write_table())
    assert table.best_accuracy() == max(table.accuracy(a) for a in table.archs)
    assert table.best_accuracy("cifar10", "test", 12) == \
        max(table.accuracy(a, epochs=12) for a in table.archs)


def test_default_path_follows_nasengine_data(tmp_path, monkeypatch, write_table, archs):
    monkeypatch.setenv("NASENGINE_DATA", str(tmp_path / "data"))
    with pytest.raises(DataError) as err:
        NB201Table.from_path()
    message = str(err.value)
    assert str(tmp_path / "data" / "nb201" / "nb201.csv.gz") in message
    assert "NASENGINE_DATA" in message and "nasengine convert-nats" in message
    (tmp_path / "data" / "nb201").mkdir(parents=True)
    write_table().rename(tmp_path / "data" / "nb201" / "nb201.csv.gz")
    assert NB201Table.from_path().accuracy(archs[1]) == 10.0


def test_missing_explicit_path(tmp_path):
    with pytest.raises(DataError, match="not found at .*nowhere.csv.gz"):
        NB201Table.from_path(tmp_path / "nowhere.csv.gz")
    with pytest.raises(DataError):  # a folder is not a table
        NB201Table.from_path(tmp_path)


def _corrupt(header: str, rows: list[str], case: str) -> tuple[str, str]:
    """Text of a corrupted table and the message part expected in the error."""
    if case == "no arch column":
        return header.replace("index,arch,", "index,name,") + "\n" + "\n".join(rows), "'arch'"
    if case == "no accuracy column":
        head = "index,arch,params_M_cifar10"
        return head + "\n0,|a~0|,1.0\n1,|b~0|,2.0\n", "no accuracy column"
    if case == "repeated column":
        return header + ",cifar10_test_acc\n" + "\n".join(r + ",1" for r in rows), "repeated"
    if case == "short row":
        rows[2] = rows[2].rsplit(",", 1)[0]
        return "\n".join([header, *rows]), "line 4: 10 fields, the header has 11"
    if case == "non-numeric":
        rows[1] = rows[1].replace(",10.0,", ",ten,", 1)
        return "\n".join([header, *rows]), "line 3, column 'cifar10_test_acc': 'ten'"
    if case == "nan":
        rows[3] = rows[3].replace(",0.4", ",nan")
        return "\n".join([header, *rows]), "line 5, column 'latency_ms_fake': 'nan'"
    if case == "fractional index":
        rows[0] = "6111.5" + rows[0][4:]
        return "\n".join([header, *rows]), "line 2, column 'index'"
    if case == "duplicate arch":
        rows[3] = rows[3].replace(rows[3].split(",")[1], rows[1].split(",")[1])
        return "\n".join([header, *rows]), "appears twice"
    if case == "duplicate index":
        rows[3] = "0" + rows[3][2:]
        return "\n".join([header, *rows]), "index 0 appears twice"
    if case == "header only":
        return header + "\n", "no rows"
    assert case == "empty"
    return "", "is empty"


@pytest.mark.parametrize("case", ["no arch column", "no accuracy column", "repeated column",
                                  "short row", "non-numeric", "nan", "fractional index",
                                  "duplicate arch", "duplicate index", "header only", "empty"])
def test_corrupt_tables_name_the_file_and_row(write_table, table_parts, case):
    text, expected = _corrupt(*table_parts, case)
    path = write_table(text, name="bad.csv.gz")
    with pytest.raises(DataError) as err:
        NB201Table.from_path(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_truncated_gzip_and_binary_garbage(write_table, tmp_path):
    data = write_table().read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.csv.gz is not a readable gzip CSV"):
        NB201Table.from_path(tmp_path / "cut.csv.gz")
    (tmp_path / "junk.csv").write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(DataError, match="junk.csv is not a readable CSV"):
        NB201Table.from_path(tmp_path / "junk.csv")


def test_save_round_trips_deterministically(write_table, tmp_path, archs):
    table = NB201Table.from_path(write_table())
    first = table.save(tmp_path / "out" / "copy.csv.gz")
    again = NB201Table.from_path(first)
    assert again.archs == table.archs and again.metrics() == table.metrics()
    for metric in table.metrics():
        np.testing.assert_array_equal(again.query_many(archs, metric),
                                      table.query_many(archs, metric))
    second = again.save(tmp_path / "copy2.csv.gz")
    assert gzip.decompress(first.read_bytes()) == gzip.decompress(second.read_bytes())
    assert first.read_bytes() == second.read_bytes()  # mtime=0: same table, same bytes
    assert NB201Table.from_path(table.save(tmp_path / "plain.csv")).archs == table.archs
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["copy.csv.gz"]


def test_in_memory_table_checks_lengths_and_duplicates():
    with pytest.raises(DataError, match="one value per arch"):
        NB201Table([0, 1], ["|a~0|", "|b~0|"], {"x_acc": [1.0]})
    with pytest.raises(DataError, match="appears twice"):
        NB201Table([0, 1], ["|a~0|", "|a~0|"], {"x_acc": [1.0, 2.0]})


# ---- the real shared table (skipped when absent) ----

INDEX0 = ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
          "skip_connect~2|")
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ALL_CONV3 = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
             "nor_conv_3x3~2|")


@pytest.fixture(scope="module")
def real_table(nb201_table_path: Path) -> tuple[NB201Table, float]:
    start = time.perf_counter()
    table = NB201Table.from_path(nb201_table_path)
    return table, time.perf_counter() - start


def test_real_table_facts(real_table):
    table, seconds = real_table
    assert len(table) == 15625 and len(set(table.archs)) == 15625
    assert table.arch_of(0) == INDEX0 and table.archs[0] == INDEX0
    arch, value = table.best("cifar10_test_acc")
    assert table.index_of(arch) == 6111 and value == pytest.approx(94.37333, abs=1e-5)
    assert table.accuracy(ALL_NONE) == pytest.approx(10.0)
    assert table.index_of(ALL_NONE) == 1651
    assert table.params(ALL_CONV3) == pytest.approx(1.531546, abs=1e-6)
    assert seconds < 5.0  # about 0.25 s alone; generous for a loaded 2-core machine


def test_real_table_every_advertised_column_that_exists_reads(real_table):
    table, _ = real_table
    present = [k for k, col in ACCURACY_COLUMNS.items() if col in table.metrics()]
    assert len(present) == 12  # the two 200-epoch x-valid columns come only from convert-nats
    for dataset, split, epochs in present:
        acc = table.query_many(table.archs, accuracy_column(dataset, split, epochs))
        assert 0.0 < acc.min() and acc.max() <= 100.0
