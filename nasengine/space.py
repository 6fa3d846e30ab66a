"""Declarative search spaces: named decisions with finite choices.

A *sample* (an architecture) is a flat ``{label: value}`` dict, the common
currency between spaces, samplers, supernets, benchmarks, Optuna and
checkpoints (the ``nni.mutable`` convention). A space can validate, sample,
enumerate, encode to a compact integer id and format/parse a readable string.
"""
from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from .errors import SpaceError

if TYPE_CHECKING:  # pragma: no cover
    import nni.mutable

Sample = dict[str, Any]


@dataclass(frozen=True)
class Categorical:
    """One decision: a label and its finite, ordered choices."""

    label: str
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise SpaceError(f"decision {self.label!r} has no choices; give it at least one value")
        if len(set(map(repr, self.values))) != len(self.values):
            raise SpaceError(f"decision {self.label!r} repeats a choice: {self.values}")

    def index(self, value: Any) -> int:
        try:
            return self.values.index(value)
        except ValueError:
            raise SpaceError(f"{value!r} is not a choice of {self.label!r}; "
                             f"choose one of {list(self.values)}") from None


class SearchSpace:
    """A product of :class:`Categorical` decisions.

    Subclasses override :meth:`format`/:meth:`parse` for a domain notation
    (e.g. the NB201 arch string) and may add complexity measures.
    """

    name = "space"

    def __init__(self, decisions: Sequence[Categorical]) -> None:
        if not decisions:
            raise SpaceError("a search space needs at least one decision; none were given")
        labels = [d.label for d in decisions]
        if len(set(labels)) != len(labels):
            raise SpaceError(f"decision labels must be unique, got {labels}")
        self.decisions: dict[str, Categorical] = {d.label: d for d in decisions}

    # -- basic facts -------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return list(self.decisions)

    def __len__(self) -> int:
        return math.prod(len(d.values) for d in self.decisions.values())

    @property
    def size(self) -> int:
        return len(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.decisions)} decisions, size={len(self)})"

    # -- validation --------------------------------------------------------
    def check(self, sample: Mapping[str, Any]) -> SpaceError | None:
        """Return the problem with ``sample`` (or ``None``) without raising."""
        missing = [k for k in self.decisions if k not in sample]
        extra = [k for k in sample if k not in self.decisions]
        if missing or extra:
            return SpaceError(f"architecture does not match the space {self.name!r}: "
                              f"missing decisions {missing}, unknown decisions {extra}; "
                              f"expected exactly {self.labels}")
        for label, dec in self.decisions.items():
            if sample[label] not in dec.values:
                return SpaceError(f"{sample[label]!r} is not a choice of {label!r} in space "
                                  f"{self.name!r}; choose one of {list(dec.values)}")
        return None

    def validate(self, sample: Mapping[str, Any]) -> Sample:
        """Raise :class:`SpaceError` if ``sample`` is outside the space; return a copy."""
        error = self.check(sample)
        if error is not None:
            raise error
        return {label: sample[label] for label in self.decisions}

    def contains(self, sample: Mapping[str, Any]) -> bool:
        return self.check(sample) is None

    # -- sampling and enumeration -----------------------------------------
    def sample(self, rng: random.Random) -> Sample:
        """Draw one architecture uniformly."""
        return {label: rng.choice(d.values) for label, d in self.decisions.items()}

    def enumerate(self) -> Iterator[Sample]:
        """Every architecture, in id order (the last decision varies fastest)."""
        labels = self.labels
        for values in itertools.product(*(d.values for d in self.decisions.values())):
            yield dict(zip(labels, values))

    # -- encodings -----------------------------------------------------------
    def to_vector(self, sample: Mapping[str, Any]) -> list[int]:
        """Choice indices in label order."""
        return [d.index(sample[label]) for label, d in self.decisions.items()]

    def from_vector(self, vector: Sequence[int]) -> Sample:
        if len(vector) != len(self.decisions):
            raise SpaceError(f"expected {len(self.decisions)} choice indices, got {len(vector)}")
        sample = {}
        for (label, dec), i in zip(self.decisions.items(), vector):
            if not 0 <= int(i) < len(dec.values):
                raise SpaceError(f"choice index {i} out of range for {label!r} "
                                 f"(0..{len(dec.values) - 1})")
            sample[label] = dec.values[int(i)]
        return sample

    def encode(self, sample: Mapping[str, Any]) -> int:
        """Compact integer id (mixed radix over the choice indices)."""
        self.validate(sample)
        code = 0
        for (label, dec), i in zip(self.decisions.items(), self.to_vector(sample)):
            code = code * len(dec.values) + i
        return code

    def decode(self, code: int) -> Sample:
        if not 0 <= code < len(self):
            raise SpaceError(f"id {code} is outside 0..{len(self) - 1} of space {self.name!r}")
        vector = []
        for dec in reversed(list(self.decisions.values())):
            code, i = divmod(code, len(dec.values))
            vector.append(i)
        return self.from_vector(vector[::-1])

    def format(self, sample: Mapping[str, Any]) -> str:
        """Readable one-line string; :meth:`parse` inverts it."""
        sample = self.validate(sample)
        return ",".join(f"{k}={v}" for k, v in sample.items())

    def parse(self, text: str) -> Sample:
        sample: Sample = {}
        for part in filter(None, text.split(",")):
            if "=" not in part:
                raise SpaceError(f"cannot parse {part!r} in {text!r}: expected label=value pairs")
            label, raw = part.split("=", 1)
            dec = self.decisions.get(label)
            if dec is None:
                raise SpaceError(f"unknown decision {label!r}; expected one of {self.labels}")
            by_text = {str(v): v for v in dec.values}
            if raw not in by_text:
                raise SpaceError(f"{raw!r} is not a choice of {label!r}; "
                                 f"choose one of {list(by_text)}")
            sample[label] = by_text[raw]
        return self.validate(sample)

    # -- derived spaces ------------------------------------------------------
    def restrict(self, label: str, values: Sequence[Any]) -> SearchSpace:
        """A copy of this space with decision ``label`` limited to ``values``."""
        if label not in self.decisions:
            raise SpaceError(f"unknown decision {label!r}; expected one of {self.labels}")
        for v in values:
            self.decisions[label].index(v)
        new = SearchSpace.__new__(type(self))
        new.__dict__.update(self.__dict__)
        kept = tuple(v for v in self.decisions[label].values if v in values)
        new.decisions = {k: (Categorical(k, kept) if k == label else d)
                         for k, d in self.decisions.items()}
        return new

    # -- nni interoperability -------------------------------------------------
    def to_nni(self) -> nni.mutable.MutableDict:
        """This space as an ``nni.mutable.MutableDict`` of ``Categorical``s."""
        from nni.mutable import Categorical as NniCategorical
        from nni.mutable import MutableDict

        return MutableDict({label: NniCategorical(list(d.values), label=label)
                            for label, d in self.decisions.items()})

    @classmethod
    def from_nni(cls, mutable: Any) -> SearchSpace:
        """Build a space from any nni mutable whose leaves are ``Categorical``s.

        On a subclass (``NB201Space.from_nni``) the result is that space, with its own arch
        format, provided the nni space has exactly its decisions.
        """
        from nni.mutable import Categorical as NniCategorical

        decisions = []
        for label, leaf in mutable.simplify().items():
            if not isinstance(leaf, NniCategorical):
                raise SpaceError(f"nni mutable {label!r} is a {type(leaf).__name__}; only "
                                 "Categorical choices are supported (discretise it first)")
            decisions.append(Categorical(label, tuple(leaf.values)))
        plain = SearchSpace(decisions)
        if cls is SearchSpace:
            return plain
        own = cls()
        if own.decisions != plain.decisions:
            raise SpaceError(f"the nni space does not have the decisions of {cls.__name__} "
                             f"(got {plain.labels[:4]}..., expected {own.labels[:4]}...); "
                             "use SearchSpace.from_nni for an arbitrary space")
        return own
