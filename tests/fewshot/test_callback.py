"""Few-shot splitting as a trainer callback: it draws the batches and writes the report;
the tree only decides and splits, and does no I/O."""
from __future__ import annotations

import ast
import inspect
import json

import torch

from nasengine.fewshot import ExhaustiveSplit, FewShotSplitting, FewShotSupernet, SplitSchedule
from nasengine.fewshot import tree as tree_module
from nasengine.train import EpochEnd


class CountingLoader:
    """Two fixed batches; counts how many it handed out."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.batches = [(torch.randn(4, 3, 32, 32, generator=gen),
                         torch.randint(0, 10, (4,), generator=gen), torch.arange(4))
                        for _ in range(2)]
        self.drawn = 0

    def __iter__(self):
        for batch in self.batches:
            self.drawn += 1
            yield batch


def test_callback_splits_on_the_schedule_and_writes_the_report(nb201_supernet, tmp_path):
    tree = FewShotSupernet(nb201_supernet, ExhaustiveSplit(), SplitSchedule(2, 1, 1), ["3<-2"])
    callback, loader = FewShotSplitting(tree), CountingLoader()
    assert callback.on_epoch_end(EpochEnd(0, 3, loader, tmp_path)) is None  # still warming up
    assert loader.drawn == 0 and not list(tmp_path.iterdir())
    lineage = callback.on_epoch_end(EpochEnd(1, 3, loader, tmp_path))
    assert len(tree.leaf_ids) == 5 and set(lineage) == set(tree.parameters())
    saved = json.loads((tmp_path / "fewshot_tree.json").read_text())
    assert saved["leaves"] == tree.leaf_ids and saved["nodes"][0]["split"]["epoch"] == 2
    assert (tmp_path / "fewshot_tree.txt").read_text().count("[leaf]") == 5
    assert (tmp_path / "fewshot_tree.png").read_bytes().startswith(b"\x89PNG")


def test_a_tree_without_a_strategy_never_splits_at_epoch_ends(nb201_supernet, tmp_path):
    tree = FewShotSupernet(nb201_supernet)
    assert FewShotSplitting(tree).on_epoch_end(EpochEnd(0, 3, CountingLoader(), tmp_path)) is None
    assert tree.leaf_ids == [0] and not list(tmp_path.iterdir())


def test_the_tree_module_imports_neither_the_trainer_nor_the_report():
    imported = {node.module for node in ast.walk(ast.parse(inspect.getsource(tree_module)))
                if isinstance(node, ast.ImportFrom)}
    assert not imported & {"..train", "train", ".report", "report", "..plots"}, imported
