"""Every registry checks user options against its factory the same way (one error style)."""
from __future__ import annotations

import pytest

import search_spaces  # noqa: F401  (registers the bundled spaces)
from nasengine.errors import ConfigError
from nasengine.evaluate import BN_PROTOCOLS
from nasengine.fewshot.partition import PARTITIONERS
from nasengine.fewshot.strategies import SPLIT_STRATEGIES
from nasengine.registry import Registry
from nasengine.samplers import SAMPLERS
from nasengine.search.gradient import RELAXATIONS
from nasengine.search.optimizers import OPTIMIZERS, create_optimizer
from nasengine.families import SPACES
from nasengine.supernet.sharing import SHARING

create_optimizer("random", 0)  # registers the bundled optimizers
REGISTRIES = [SAMPLERS, OPTIMIZERS, SPLIT_STRATEGIES, PARTITIONERS, BN_PROTOCOLS, SPACES,
              SHARING, RELAXATIONS]
ENTRIES = [(r, name) for r in REGISTRIES for name in r.names()]


@pytest.mark.parametrize("registry,name", ENTRIES, ids=[f"{r.kind}:{n}" for r, n in ENTRIES])
def test_an_unknown_option_lists_what_the_entry_accepts(registry, name):
    with pytest.raises(ConfigError, match=rf"{registry.kind} '{name}' has no option 'no_such'; "
                                          r"it (accepts: \w|takes no options)"):
        registry.create(name, {"no_such": 1})


def test_option_types_come_from_the_factorys_annotations():
    reg: Registry[tuple] = Registry("widget")

    @reg.register("w")
    def widget(size: int, scale: float = 1.0, names: tuple[str, ...] = (), fast: bool = True):
        return size, scale, names, fast

    assert reg.create("w", {"scale": 2, "names": ["a"]}, size=3) == (3, 2, ["a"], True)
    for options, words in [({"scale": "big"}, "widget 'w' option scale = 'big' is not allowed; "
                                              "expected a finite number"),
                           ({"fast": "yes"}, "expected true or false"),
                           ({"size": 4}, "option size is set by nasengine itself"),
                           ({"names": "ab"}, "expected a list of strings")]:
        with pytest.raises(ConfigError, match=words):
            reg.create("w", options, size=3)
