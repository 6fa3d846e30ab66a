"""Gradient-based search: alpha relaxations, the two update modes, outputs, a real-data run."""
import json

import pytest
import torch

from nasengine.errors import ConfigError
from nasengine.search import ArchParameters, DartsConfig, DartsSearch
from nasengine.families import get_family
from nasengine.supernet import Supernet

MACRO = get_family("macro")


def tiny_search(**config) -> DartsSearch:
    torch.manual_seed(0)
    net = MACRO.build_supernet("entangled", channels=2)
    return DartsSearch(net, DartsConfig(alpha_lr=0.05, log_every=1, **config), seed=0)


def batches(n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 3, 32, 32, generator=gen), torch.randint(0, 10, (8,), generator=gen))
            for _ in range(n)]


def alpha_vector(search: DartsSearch) -> torch.Tensor:
    return torch.cat([a.detach().clone() for a in search.alphas.alphas])


def test_arch_parameters_relax_and_discretise():
    space = MACRO.space()
    alphas = ArchParameters(space, seed=1)
    soft = alphas.weights("softmax", 1.0)
    assert set(soft) == set(space.labels)
    assert all(torch.allclose(w.sum(), torch.tensor(1.0)) for w in soft.values())
    noisy = alphas.weights("gumbel", 0.5)
    assert all(torch.allclose(w.sum(), torch.tensor(1.0)) for w in noisy.values())
    with torch.no_grad():
        alphas.alphas[0][2] = 5.0  # s0.depth -> third choice
    assert alphas.discretize()["s0.depth"] == space.decisions["s0.depth"].values[2]
    assert space.contains(alphas.discretize())
    with pytest.raises(ConfigError, match="known: gumbel, softmax"):
        alphas.weights("sparsemax")


@pytest.mark.parametrize("kwargs, match", [({"mode": "unrolled"}, "unknown search mode"),
                                           ({"relaxation": "x"}, "unknown relaxation"),
                                           ({"epochs": 0}, "epochs must be >= 1"),
                                           ({"temperature": 0.0}, "temperature must be > 0")])
def test_config_errors_name_the_fix(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DartsConfig(**kwargs)


def test_bilevel_moves_alpha_only_on_validation_batches():
    search = tiny_search(mode="bilevel")
    before = alpha_vector(search)
    weights_before = [p.detach().clone() for p in search.supernet.parameters()]
    x, y = batches(1, 0)[0]
    search._weight_step(x, y, update_alpha=False)
    assert torch.equal(alpha_vector(search), before)  # a weight step leaves alpha alone
    assert any(not torch.equal(a, b) for a, b in zip(weights_before, search.supernet.parameters()))
    search._alpha_step(*batches(1, 1)[0])
    assert not torch.equal(alpha_vector(search), before)
    assert all(p.grad is None for p in search.supernet.parameters())


@pytest.mark.parametrize("mode, relaxation", [("bilevel", "softmax"), ("single_level", "gumbel")])
def test_fit_logs_trajectories_and_ends_in_a_discrete_arch(tmp_path, mode, relaxation):
    search = tiny_search(mode=mode, relaxation=relaxation, temperature=2.0,
                         temperature_end=0.5, epochs=2)
    start = alpha_vector(search)
    history = search.fit(batches(2, 0), batches(2, 1) if mode == "bilevel" else None)
    assert [h["epoch"] for h in history] == [1, 2] and search.step == 4
    assert search.temperature() == pytest.approx(0.5)
    assert not torch.allclose(alpha_vector(search), start)
    result = search.write(tmp_path)
    assert MACRO.space().contains(result["arch"])
    assert json.loads((tmp_path / "result.json").read_text())["arch"] == result["arch"]
    lines = (tmp_path / "alphas.jsonl").read_text().splitlines()
    assert len(lines) == len(search.trajectory) >= 5
    assert {p.rsplit("/", 1)[-1] for p in result["plots"]} == {"alpha_depth.png",
                                                                "alpha_kernel.png",
                                                                "alpha_expand.png"}


def test_bilevel_needs_validation_batches_and_search_needs_a_mixture_supernet():
    with pytest.raises(ConfigError, match="pass valid batches, or use mode='single_level'"):
        tiny_search().fit(batches(1, 0))

    class SinglePathOnly(Supernet):
        def forward(self, x, arch):
            return x

    with pytest.raises(ConfigError, match="needs a MixtureSupernet"):
        DartsSearch(SinglePathOnly())


def test_search_works_on_entangled_nb201_too():
    net = get_family("nb201").build_supernet("entangled", channels=2, cells=1)
    search = DartsSearch(net, DartsConfig(mode="single_level", alpha_lr=0.05))
    search.fit(batches(2, 0))
    assert get_family("nb201").space().contains(search.arch())
