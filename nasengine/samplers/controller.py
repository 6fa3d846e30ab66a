"""The ENAS controller: an LSTM that emits a space's decisions one at a time.

At decision ``t`` the LSTM reads the embedding of the choice made at ``t - 1`` (a
learned start vector at ``t = 0``), and a linear head turns its output into logits
``tanh_constant * tanh(logits / temperature)`` (AutoDL's NB201 ENAS: 2.5 and 5).
Decisions with the same choices share one embedding table and one head, as the
NB201 controller shares them over its six edges; a space whose decisions differ
(the macro space) gets one table and head per distinct choice set.

Architectures are handled as index tensors ``(batch, decisions)`` in the space's
label order (:meth:`SearchSpace.to_vector`). The controller lives on the CPU
whatever the run's device: it is a few thousand parameters, and its draws come from
a CPU generator whose state the sampler checkpoints.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..space import SearchSpace


@dataclass
class Draw:
    """A batch of sampled archs with what REINFORCE needs (differentiable when sampled
    with gradients)."""

    archs: torch.Tensor  # (B, T) choice indices
    log_prob: torch.Tensor  # (B,) sum over decisions
    entropy: torch.Tensor  # (B,) sum over decisions


class Controller(nn.Module):
    """Autoregressive policy over the decisions of ``space``."""

    def __init__(self, space: SearchSpace, hidden: int = 32, layers: int = 2,
                 tanh_constant: float = 2.5, temperature: float = 5.0, seed: int = 0) -> None:
        super().__init__()
        choice_sets = [d.values for d in space.decisions.values()]
        distinct = list(dict.fromkeys(map(repr, choice_sets)))
        self.group = [distinct.index(repr(c)) for c in choice_sets]  # decision -> shared table
        sizes = [len(choice_sets[self.group.index(g)]) for g in range(len(distinct))]
        self.tanh_constant, self.temperature = tanh_constant, temperature
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.lstm = nn.LSTM(hidden, hidden, num_layers=layers)
        self.embed = nn.ModuleList(nn.Embedding(k, hidden) for k in sizes)
        self.heads = nn.ModuleList(nn.Linear(hidden, k) for k in sizes)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # ENAS initialises every weight uniformly in [-0.1, 0.1]
            for p in self.parameters():
                p.copy_(torch.rand(p.shape, generator=gen) * 0.2 - 0.1)

    @property
    def decisions(self) -> int:
        return len(self.group)

    def _logits(self, t: int, out: torch.Tensor) -> torch.Tensor:
        raw = self.heads[self.group[t]](out)
        return self.tanh_constant * torch.tanh(raw / self.temperature)

    def sample(self, n: int, generator: torch.Generator) -> Draw:
        """``n`` archs drawn one decision at a time (gradients flow if enabled)."""
        x, state = self.start.expand(n, -1), None
        archs, log_probs, entropies = [], [], []
        for t in range(self.decisions):
            out, state = self.lstm(x.unsqueeze(0), state)
            log_p = torch.log_softmax(self._logits(t, out[0]), dim=-1)
            choice = torch.multinomial(log_p.detach().exp(), 1, generator=generator)
            archs.append(choice[:, 0])
            log_probs.append(log_p.gather(1, choice)[:, 0])
            entropies.append(-(log_p.exp() * log_p).sum(-1))
            x = self.embed[self.group[t]](choice[:, 0])
        return Draw(torch.stack(archs, 1), torch.stack(log_probs, 1).sum(1),
                    torch.stack(entropies, 1).sum(1))

    def _teacher_forced(self, archs: torch.Tensor) -> torch.Tensor:
        """LSTM outputs (T + 1, B, H) when fed the start vector and then ``archs``' choices."""
        n = archs.shape[0]
        inputs = [self.start.expand(n, -1)]
        inputs += [self.embed[self.group[t]](archs[:, t]) for t in range(self.decisions)]
        out, _ = self.lstm(torch.stack(inputs))
        return out

    def decision_log_probs(self, archs: torch.Tensor) -> torch.Tensor:
        """(B, T): log-probability of each decision given the earlier ones (teacher forcing)."""
        out = self._teacher_forced(archs)
        return torch.stack([torch.log_softmax(self._logits(t, out[t]), -1)
                            .gather(1, archs[:, t:t + 1])[:, 0]
                            for t in range(self.decisions)], 1)

    def log_prob(self, archs: torch.Tensor) -> torch.Tensor:
        """(B,): log-probability of whole archs, the sum over their decisions."""
        return self.decision_log_probs(archs).sum(1)

    def hidden_state(self, archs: torch.Tensor) -> torch.Tensor:
        """(B, H): the top layer's state after reading the whole arch (its "embedding")."""
        return self._teacher_forced(archs)[-1]
