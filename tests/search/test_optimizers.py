"""Contract every registered search optimiser must honour (register one: it is tested here)."""
import pytest

from nasengine.errors import ConfigError
from nasengine.samplers import EnasSampler
from nasengine.search.optimizers import OPTIMIZERS, create_optimizer
from nasengine.search.arch_search import ArchSearch
from search_spaces.nb201 import NB201Space

SPACE = NB201Space()
POLICY = EnasSampler(SPACE, seed=0)  # an untrained controller, for the "controller" optimiser
create_optimizer("random", 0)  # registers the bundled optimisers


def conv_score(arch) -> float:
    """Separable, with one optimum (all 3x3 convs): a landscape any optimiser can climb."""
    weight = {"nor_conv_3x3": 3, "nor_conv_1x1": 2, "skip_connect": 1}
    return float(sum(weight.get(op, 0) for op in arch.values()))


def archs(optimizer: str, seed: int, budget: int = 30, storage=None) -> list[str]:
    search = ArchSearch(SPACE, conv_score, optimizer, seed=seed, storage=storage,
                        options={"population": 10, "tournament": 3} if optimizer == "evolution"
                        else None, sampler=POLICY)
    return [t["arch"] for t in search.run(budget, progress=False).trials]


@pytest.fixture(params=OPTIMIZERS.names())
def name(request) -> str:
    return request.param


def test_proposals_are_archs_of_the_space(name):
    assert all(SPACE.contains(SPACE.parse(a)) for a in archs(name, 0))


def test_same_seed_same_search(name):
    assert archs(name, 1) == archs(name, 1)


def test_different_seed_different_search(name):
    assert archs(name, 1) != archs(name, 2)


def test_resumed_search_keeps_its_trials_and_reaches_the_budget(name, tmp_path):
    db = tmp_path / "search.db"
    first = archs(name, 0, budget=15, storage=db)
    resumed = archs(name, 0, budget=40, storage=db)
    assert resumed[:15] == first and len(resumed) == 40


def test_model_based_optimisers_beat_random_on_a_climbable_landscape():
    """With 150 trials (of 15,625 archs), every evolution and TPE search ends closer to
    the optimum (18) than every random search (seeds 0-4)."""
    def best(optimizer: str, seed: int) -> float:
        return ArchSearch(SPACE, conv_score, optimizer, seed=seed).run(150, progress=False) \
            .best["score"]

    random_best = max(best("random", seed) for seed in range(5))
    for optimizer in ("evolution", "tpe"):
        assert min(best(optimizer, seed) for seed in range(5)) > random_best, optimizer


def test_an_interrupted_search_resumes_as_if_uninterrupted(name, tmp_path):
    """Ctrl-C in the 9th evaluation fails that trial; the resumed search replays the
    sampler and proposes exactly the archs of a search never interrupted."""
    calls = []

    def interrupted(arch) -> float:
        calls.append(arch)
        if len(calls) == 9:
            raise KeyboardInterrupt
        return conv_score(arch)

    db = tmp_path / "search.db"
    options = {"population": 10, "tournament": 3} if name == "evolution" else None
    with pytest.raises(KeyboardInterrupt):
        ArchSearch(SPACE, interrupted, name, seed=3, storage=db, options=options,
                   sampler=POLICY).run(25, progress=False)
    assert archs(name, 3, budget=25, storage=db) == archs(name, 3, budget=25)


def test_evolution_resumes_exactly(tmp_path):
    """Its population is the study's last trials and each trial has its own RNG."""
    whole = archs("evolution", 4, budget=40)
    archs("evolution", 4, budget=20, storage=tmp_path / "s.db")
    assert archs("evolution", 4, budget=40, storage=tmp_path / "s.db") == whole


def test_unknown_optimizer_and_bad_options_name_the_fix():
    with pytest.raises(ConfigError, match="known: .*evolution"):
        create_optimizer("annealing", 0)
    with pytest.raises(ConfigError, match="accepts: population, tournament"):
        create_optimizer("evolution", 0, {"popsize": 3})
    with pytest.raises(ConfigError, match="tournament <= population"):
        create_optimizer("evolution", 0, {"population": 5, "tournament": 9})
