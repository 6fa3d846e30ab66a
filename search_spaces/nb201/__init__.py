"""NAS-Bench-201 cell space (Dong & Yang, ICLR 2020)."""
from __future__ import annotations

from typing import Any, Callable

from nasengine.benchmark import GroundTruth, NB201Table, accuracy_column
from nasengine.config import EvalConfig
from nasengine.space import Sample, SearchSpace
from nasengine.families import SPACES, SpaceFamily

from .graph import effective_arch
from .model import NB201Standalone, NB201Supernet
from .space import EDGES, LABELS, OPS, NB201Space

__all__ = ["EDGES", "LABELS", "OPS", "NB201Family", "NB201Space", "NB201Standalone",
           "NB201Supernet"]


class NB201Family(SpaceFamily):
    """NB201 at any width ``channels`` (C), ``cells`` per stage (N) and ``num_classes``."""

    name = "nb201"

    def space(self) -> NB201Space:
        return NB201Space()

    def supernet(self, sharing: Callable, space: SearchSpace | None = None,
                 channels: int = 16, cells: int = 5, num_classes: int = 10) -> NB201Supernet:
        return NB201Supernet(space or self.space(), sharing, channels, cells, num_classes)

    def standalone(self, arch: Sample, channels: int = 16, cells: int = 5,
                   num_classes: int = 10) -> NB201Standalone:
        return NB201Standalone(self.space().validate(arch), channels, cells, num_classes)

    def canonical(self, arch: Sample) -> Sample:
        """Dead edges set to ``none``: at a shared init their BN maps 0 to 0, so the
        function is the same (9,445 classes of 15,625 archs)."""
        return effective_arch(self.space().validate(arch))

    def input_shape(self, **config: Any) -> tuple[int, ...]:
        return (1, 3, 32, 32)

    def ground_truth(self, evaluate: EvalConfig) -> GroundTruth:
        """The NB201 table (``evaluate.oracle``, default ``$NASENGINE_DATA/nb201``) at 200 epochs."""
        table = NB201Table.from_path(evaluate.oracle)
        metric = accuracy_column(evaluate.oracle_dataset, evaluate.oracle_split, 200)
        return GroundTruth(table, metric, f"{evaluate.oracle_dataset}/{evaluate.oracle_split}",
                           params="params_M_cifar10")


SPACES.register("nb201")(NB201Family)
