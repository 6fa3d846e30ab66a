"""Small NB201-format tables written by the tests themselves."""
from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
]
HEADER = ("index,arch,cifar10_test_acc,cifar100_test_acc,cifar10_valid_acc,"
          "cifar10_valid_oritest_acc,cifar10_test_acc_12ep,params_M_cifar10,params_M_cifar100,"
          "flops_M_cifar10,latency_ms_fake")
# rows deliberately not in index order
ROWS = [
    f"6111,{ARCHS[0]},94.37333,73.2,91.60667,91.5,89.16,1.1,1.2,150.5,7.0",
    f"1651,{ARCHS[1]},10.0,1.0,9.712,10.0,10.0,0.073306,0.079156,7.78305,0.5",
    f"0,{ARCHS[2]},85.8633333333,52.91,81.98,81.52,69.55,0.129306,0.135156,15.64737,3.6",
    f"17,{ARCHS[3]},10.0,1.0,9.9,10.0,10.0,0.073306,0.079156,7.78305,0.4",
]
SMALL = "\n".join([HEADER, *ROWS]) + "\n"


@pytest.fixture
def write_table(tmp_path: Path) -> Callable[..., Path]:
    """``write_table(text, name)``: gzip if the name ends in .gz, else plain text."""
    def write(text: str = SMALL, name: str = "nb201.csv.gz") -> Path:
        path = tmp_path / name
        data = text.encode("utf-8")
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return path

    return write


@pytest.fixture
def archs() -> list[str]:
    """The arch strings of the small table (importlib mode: conftest is not importable)."""
    return list(ARCHS)


@pytest.fixture
def table_parts() -> tuple[str, list[str]]:
    """Header line and data lines of the small table, for tests that corrupt them."""
    return HEADER, list(ROWS)
