"""A supernet made of sub-supernets: the tree that few-shot splitting grows.

The tree decides (its strategy proposes, its schedule says when) and splits; the
trainer callback :class:`~nasengine.fewshot.callback.FewShotSplitting` hands it the
batches at epoch ends and writes its report, so the model does no I/O.

Each leaf is an ordinary supernet over the space restricted on the decisions its
branch split. ``forward(x, arch)`` routes to the one leaf whose region holds ``arch``,
so the trainer, samplers and evaluator drive a tree exactly like one supernet. A split
copies the leaf's weights into one child per group of choices; the children then train
apart. The tree's structure lives in its ``state_dict`` (``_extra_state``), and loading
rebuilds the structure before the weights, so a checkpoint resumes as it was.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import CheckpointError, SpaceError
from ..space import Sample, SearchSpace
from ..supernet.base import Supernet
from .schedule import SplitSchedule
from .strategies import SplitStrategy, create_strategy

if TYPE_CHECKING:  # pragma: no cover
    from ..config import FewShotConfig

FORMAT = "nasengine-fewshot-tree/1"

Lineage = dict[nn.Parameter, nn.Parameter]
"""new parameter -> the one it was copied from (the trainer's ``ParamLineage``)."""
Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class Node:
    """One sub-supernet of the tree; ``split`` is set once it has children."""

    id: int
    parent: int | None
    restriction: dict[str, list[Any]]  # decisions restricted on the branch -> allowed values
    size: int  # architectures in its region
    split: dict[str, Any] | None = None  # decision, groups, children, epoch, level, scores...
    notes: list[str] = field(default_factory=list)


class FewShotSupernet(Supernet):
    """A tree of sub-supernets grown from ``root`` by ``strategy`` on ``schedule``.

    Args:
        root: the one-shot supernet the tree starts from (its first and only leaf).
        strategy: how a leaf splits; None makes a tree that only splits by hand.
        schedule: after which epochs every leaf splits.
        decisions: decisions a split may use (default: every one with >= 2 choices).
        seed: seeds the architectures gradient matching samples.
    """

    def __init__(self, root: Supernet, strategy: SplitStrategy | None = None,
                 schedule: SplitSchedule | None = None, decisions: Sequence[str] = (),
                 seed: int = 0) -> None:
        super().__init__()
        self.space: SearchSpace = root.space
        self.strategy, self.schedule, self.seed = strategy, schedule, seed
        self.decisions = list(decisions) or [
            d for d, c in self.space.decisions.items() if len(c.values) >= 2]
        for d in self.decisions:
            self._splittable(self.space, d, "the space")
        self.nodes = [Node(0, None, {}, len(self.space))]
        self.leaves = nn.ModuleDict({"0": root})

    @classmethod
    def from_config(cls, root: Supernet, config: FewShotConfig, epochs: int,
                    seed: int = 0) -> FewShotSupernet:
        """The tree a ``[fewshot]`` config section describes, checked against the run length."""
        strategy = create_strategy(config.strategy, config.options)
        schedule = SplitSchedule(config.warmup_epochs, config.split_every, config.splits)
        schedule.check(epochs)
        strategy.check(root)
        return cls(root, strategy, schedule, config.decisions, seed)

    # -- routing -----------------------------------------------------------------
    def route(self, arch: Mapping[str, Any]) -> int:
        """Id of the leaf whose region holds ``arch`` (walks the splits from the root)."""
        node = self.nodes[0]
        while node.split is not None:
            decision = node.split["decision"]
            value = arch.get(decision, _MISSING)
            child = next((c for c, group in zip(node.split["children"], node.split["groups"])
                          if value in group), None)
            if child is None:
                raise SpaceError(f"arch {dict(arch)} is outside the space: decision {decision!r} "
                                 f"must be one of {list(self.space.decisions[decision].values)}")
            node = self.nodes[child]
        return node.id

    def leaf(self, arch: Mapping[str, Any]) -> Supernet:
        return self.leaves[str(self.route(arch))]

    def forward(self, x: torch.Tensor, arch: Mapping[str, Any]) -> torch.Tensor:
        return self.leaf(arch)(x, arch)

    def canonical(self, arch: Mapping[str, Any]) -> Sample:
        """The leaf's canonical form when it stays in the leaf (the same weights), else ``arch``."""
        leaf = self.leaf(arch)
        form = leaf.canonical(arch)
        return form if leaf.space.contains(form) else dict(arch)

    def choice_modules(self, arch: Sample) -> dict[str, list[nn.Module]]:
        return self.leaf(arch).choice_modules(arch)

    @property
    def leaf_ids(self) -> list[int]:
        return [n.id for n in self.nodes if n.split is None]

    # -- splitting ------------------------------------------------------------------
    def candidates(self, node_id: int) -> list[str]:
        """Decisions leaf ``node_id`` may split on: not yet split on its branch, >= 2 choices."""
        node, leaf = self.nodes[node_id], self.leaves[str(node_id)]
        return [d for d in self.decisions
                if d not in node.restriction and len(leaf.space.decisions[d].values) >= 2]

    def split(self, node_id: int, decision: str, groups: Sequence[Sequence[Any]],
              **record: Any) -> Lineage:
        """Replace leaf ``node_id`` by one child per group; each child copies its weights.

        Returns child parameter -> parent parameter, for the optimizer's state.
        """
        node = self.nodes[node_id]
        if node.split is not None:
            raise SpaceError(f"sub-supernet #{node_id} is already split; split one of its "
                             f"leaves {self.leaf_ids} instead")
        parent = self.leaves[str(node_id)]
        groups = self._check_groups(parent.space, decision, groups, node_id)
        lineage: Lineage = {}
        children = []
        for group in groups:
            restriction = {**node.restriction, decision: list(group)}
            child = self._sub_supernet(parent, restriction)
            lineage.update(zip(child.parameters(), parent.parameters()))
            children.append(Node(len(self.nodes), node_id, restriction, len(child.space)))
            self.nodes.append(children[-1])
            self.leaves[str(children[-1].id)] = child
        del self.leaves[str(node_id)]
        node.split = {"decision": decision, "groups": [list(g) for g in groups],
                      "children": [c.id for c in children], **record}
        return lineage

    def split_level(self, epoch: int) -> int | None:
        """The level the schedule splits at after ``epoch`` (0-based), or None: no split."""
        if self.strategy is None or self.schedule is None:
            return None
        return self.schedule.level_after(epoch + 1)

    def split_leaves(self, epoch: int, level: int, batches: Sequence[Batch]) -> Lineage:
        """Split every leaf as the strategy proposes from ``batches`` (after ``epoch``,
        0-based); returns the lineage of the new parameters (see :meth:`split`)."""
        if self.strategy is None:
            raise SpaceError("this tree has no split strategy; split its leaves by hand with "
                             "split(), or build it with one (fewshot.strategy)")
        lineage: Lineage = {}
        for node_id in self.leaf_ids:
            candidates = self.candidates(node_id)
            if not candidates:
                self.nodes[node_id].notes.append(f"level {level}: no decision left to split")
                continue
            rng = random.Random(f"{self.seed}/{epoch}/{node_id}")
            proposal = self.strategy.propose(self.leaves[str(node_id)], candidates, batches, rng)
            lineage.update(self.split(node_id, proposal.decision, proposal.groups,
                                      epoch=epoch + 1, level=level, scores=proposal.scores,
                                      seconds=proposal.seconds))
        return lineage

    # -- state ---------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        return {"format": FORMAT, "nodes": [asdict(n) for n in self.nodes]}

    def set_extra_state(self, state: Any) -> None:
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CheckpointError(f"the checkpoint holds no few-shot tree (expected {FORMAT!r}); "
                                  "load it with the fewshot settings it was trained with")
        nodes = [Node(**n) for n in state["nodes"]]
        if nodes != self.nodes:
            self._rebuild(nodes)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> Any:
        """Rebuild the saved tree first, so that every leaf's weights find their module."""
        if "_extra_state" not in state_dict:
            raise CheckpointError("this checkpoint is of a one-shot supernet, not a few-shot "
                                  "tree; set fewshot.strategy = \"\" to load it")
        self.set_extra_state(state_dict["_extra_state"])
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def tree_data(self) -> dict[str, Any]:
        """The tree as JSON-able data: settings and every node (what its report shows)."""
        return {"strategy": self.strategy.describe() if self.strategy else None,
                "split_epochs": self.schedule.split_epochs if self.schedule else [],
                "decisions": self.decisions, "space_size": len(self.space),
                "leaves": self.leaf_ids, "nodes": [asdict(n) for n in self.nodes]}

    # -- helpers -------------------------------------------------------------------------
    def _rebuild(self, nodes: list[Node]) -> None:
        template = next(iter(self.leaves.values()))
        self.leaves = nn.ModuleDict({str(n.id): self._sub_supernet(template, n.restriction)
                                     for n in nodes if n.split is None})
        self.nodes = nodes

    def _sub_supernet(self, template: Supernet, restriction: Mapping[str, list[Any]]) -> Supernet:
        """A copy of ``template`` (weights, device, layout) over the restricted space."""
        child = copy.deepcopy(template)
        space = self.space
        for label, values in restriction.items():
            space = space.restrict(label, values)
        child.space = space
        for p in child.parameters():
            p.grad = None
        return child

    @staticmethod
    def _splittable(space: SearchSpace, decision: str, where: str) -> tuple[Any, ...]:
        if decision not in space.decisions:
            raise SpaceError(f"unknown decision {decision!r}; expected one of {space.labels}")
        values = space.decisions[decision].values
        if len(values) < 2:
            raise SpaceError(f"decision {decision!r} has a single choice {values[0]!r} in "
                             f"{where}, so it cannot be split; split a decision with >= 2 choices "
                             f"(fewshot.decisions)")
        return values

    def _check_groups(self, space: SearchSpace, decision: str, groups: Sequence[Sequence[Any]],
                      node_id: int) -> list[tuple[Any, ...]]:
        values = self._splittable(space, decision, f"sub-supernet #{node_id}")
        groups = [tuple(g) for g in groups]
        flat = [v for g in groups for v in g]
        if len(groups) < 2 or any(not g for g in groups) or sorted(map(repr, flat)) != \
                sorted(map(repr, values)):
            raise SpaceError(f"groups {groups} must split the choices {list(values)} of "
                             f"{decision!r} into >= 2 non-empty, disjoint groups covering all")
        return groups


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()
