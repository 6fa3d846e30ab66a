"""PA&DA's data importance: training examples drawn in proportion to their gradient norms.

The score of an example is ``||softmax(z) - onehot(y)||``, the norm of dCE/dlogits, taken
from the forward pass (no extra backward). Scores are averaged over an epoch's repeats and
kept across epochs; an example never seen gets the mean score. The next epoch's stream is
``n`` draws with replacement from ``w * score / sum(score) + (1 - w) / n``.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F


class DataImportance:
    """The per-example score table and the data distribution built from it."""

    def __init__(self, n_examples: int | None = None) -> None:
        self.n = n_examples or 0
        self.weight = 0.0  # the importance term's weight in this epoch's distribution
        self.scores = torch.full((self.n,), math.nan, dtype=torch.float64)
        self.score_sum = torch.zeros(self.n, dtype=torch.float64)
        self.score_count = torch.zeros(self.n, dtype=torch.float64)
        self._probs: torch.Tensor | None = None   # cache of this epoch's distribution

    @property
    def size(self) -> int:
        """Examples known so far (the dataset size once a stream was drawn)."""
        return max(self.n, len(self.scores))

    def observe(self, logits: torch.Tensor, targets: torch.Tensor, indices: torch.Tensor) -> None:
        """Accumulate ``||softmax(z) - onehot(y)||`` per dataset index."""
        probs = logits.detach().float().softmax(dim=1)
        onehot = F.one_hot(targets.long(), probs.shape[1]).to(probs.dtype)
        scores = torch.linalg.vector_norm(probs - onehot, dim=1).double().cpu()
        indices = indices.detach().long().cpu()
        if len(indices):
            self._grow(int(indices.max()) + 1)
            self.score_sum.index_add_(0, indices, scores)
            self.score_count.index_add_(0, indices, torch.ones_like(scores))

    def refresh(self, weight: float) -> None:
        """Start an epoch: last epoch's mean score per example replaces that example's score."""
        seen = self.score_count > 0
        self.scores[seen] = self.score_sum[seen] / self.score_count[seen]
        self.score_sum.zero_()
        self.score_count.zero_()
        self.weight, self._probs = weight, None

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The epoch's stream: ``n`` draws with replacement from :meth:`probs`."""
        return torch.multinomial(self.probs(n), n, replacement=True, generator=generator)

    def probs(self, n: int) -> torch.Tensor:
        """``w * score / sum(score) + (1 - w) / n``; never-seen examples get the mean score."""
        self.n = n
        self._grow(n)
        if self._probs is not None and len(self._probs) == n:
            return self._probs
        scores = self.scores[:n]
        seen = ~scores.isnan()
        fill = scores[seen].mean() if seen.any() else torch.tensor(1.0, dtype=torch.float64)
        filled = torch.where(seen, scores, fill)
        total = filled.sum()
        importance = filled / total if total > 0 else torch.full_like(filled, 1 / n)
        self._probs = self.weight * importance + (1 - self.weight) / n
        return self._probs

    def stats(self, n: int) -> dict[str, float] | None:
        """Entropy and effective sample size of the distribution over ``n`` (None if 0)."""
        if n == 0:
            return None
        p = self.probs(n)
        entropy = float(-(p * p.clamp_min(1e-300).log()).sum())
        ess = float(1 / (p * p).sum())
        return {"n": n, "entropy": entropy,
                "entropy_ratio": entropy / math.log(n) if n > 1 else 1.0,
                "ess": ess, "ess_fraction": ess / n, "max_prob_ratio": float(p.max() * n),
                "seen_fraction": float((~self.scores[:n].isnan()).double().mean())}

    def reweight(self, weights: torch.Tensor, indices: torch.Tensor) -> None:
        """Multiply ``weights`` by ``U(i) / p(i)`` (in place; nothing before the size is known)."""
        if self.n:
            weights /= self.n * self.probs(self.n)[indices.detach().long().cpu()]

    def _grow(self, size: int) -> None:
        """Extend the score tables to ``size`` examples (new ones unseen)."""
        extra = size - len(self.scores)
        if extra > 0:
            self.scores = torch.cat([self.scores, torch.full((extra,), math.nan,
                                                             dtype=torch.float64)])
            self.score_sum = F.pad(self.score_sum, (0, extra))
            self.score_count = F.pad(self.score_count, (0, extra))
            self._probs = None

    def state_dict(self) -> dict[str, Any]:
        return {"n": self.n, "scores": self.scores.clone(), "score_sum": self.score_sum.clone(),
                "score_count": self.score_count.clone()}

    def load_state_dict(self, state: dict[str, Any], weight: float) -> None:
        self.n, self.weight, self._probs = state["n"], weight, None
        self.scores = state["scores"].clone()
        self.score_sum = state["score_sum"].clone()
        self.score_count = state["score_count"].clone()
