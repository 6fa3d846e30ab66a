"""Few-shot supernets: split one supernet into a tree of sub-supernets.

``fewshot.strategy`` picks a registered :class:`SplitStrategy` (``gm``: gradient
matching with a graph cut; ``exhaustive``: one sub-supernet per choice), and
:class:`FewShotSupernet` routes every architecture to the leaf that owns it;
:class:`FewShotSplitting` is the trainer callback that grows it and writes its report.
"""
from .callback import FewShotSplitting
from .gradients import cosine_matrix, shared_parameters, similarities
from .partition import PARTITIONERS, Bipartition, partition
from .report import tree_text, write_tree
from .schedule import SplitSchedule
from .strategies import (SPLIT_STRATEGIES, ExhaustiveSplit, GradientMatchingSplit,
                         SplitProposal, SplitStrategy, create_strategy)
from .tree import FewShotSupernet, Node

__all__ = ["PARTITIONERS", "SPLIT_STRATEGIES", "Bipartition", "ExhaustiveSplit",
           "FewShotSplitting", "FewShotSupernet", "GradientMatchingSplit", "Node",
           "SplitProposal", "SplitSchedule", "SplitStrategy", "cosine_matrix", "create_strategy", "partition", "shared_parameters",
           "similarities", "tree_text", "write_tree"]
