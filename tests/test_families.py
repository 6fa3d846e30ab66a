"""Bringing a space: entry points, module:Factory paths, the family contract's loud failures."""
import textwrap

import pytest
import torch

from nasengine import families
from nasengine.cli import main
from nasengine.config import SupernetConfig
from nasengine.errors import ConfigError, SpaceError
from nasengine.families import SPACES, get_family, space_names

PLUGIN = '''
import torch
from torch import nn
from nasengine.space import Categorical, SearchSpace
from nasengine.families import SpaceFamily
from nasengine.supernet.base import Supernet
from nasengine.supernet.sharing import SHARING


class TwoLayers(Supernet):
    def __init__(self, space, sharing, width):
        super().__init__()
        self.space = space
        self.edges = nn.ModuleList(sharing({"lin": lambda: nn.Linear(width, width),
                                            "tanh": nn.Tanh}) for _ in range(2))
        self.head = nn.Linear(width, 3)

    def forward(self, x, arch):
        x = x.flatten(1)[:, :self.head.in_features]
        for label, edge in zip(self.space.labels, self.edges):
            x = edge(x, arch[label])
        return self.head(x)


class TinyFamily(SpaceFamily):
    name = "tiny"

    def space(self):
        return SearchSpace([Categorical("e0", ("lin", "tanh")), Categorical("e1", ("lin", "tanh"))])

    def supernet(self, sharing, space=None, channels=4):
        return TwoLayers(space or self.space(), sharing, channels)

    def standalone(self, arch, channels=4):
        return nn.Identity()
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A package ``tinyplugin`` installed into a temp dir on sys.path, with its entry point."""
    (tmp_path / "tinyplugin.py").write_text(PLUGIN)
    dist = tmp_path / "tinyplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[nasengine.spaces]\ntiny = tinyplugin:TinyFamily\n"
                                           "broken = tinyplugin:Missing\n")
    space_names()  # the bundled families, registered before the registry is copied
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(SPACES, "_entries", dict(SPACES._entries))
    monkeypatch.setattr(families, "_DISCOVERED", False)
    return tmp_path


def test_an_installed_entry_point_is_found_and_listed(plugin, capsys):
    family = get_family("tiny")
    assert type(family).__name__ == "TinyFamily" and len(family.space()) == 4
    assert main(["spaces", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "tiny: 4 archs, 2 decisions" in out and "e0: ['lin', 'tanh']" in out
    assert "nb201: 15,625 archs, 6 decisions" in out
    assert "broken: cannot load" in out


def test_a_broken_entry_point_names_itself(plugin):
    with pytest.raises(ConfigError, match="'broken' .*tinyplugin:Missing.* 'tinyplugin'"):
        get_family("broken")


def test_a_module_factory_path_builds_the_space(plugin):
    from nasengine import api
    from nasengine.config import load_config

    pipe = api.build(load_config("smoke", ['supernet.space="tinyplugin:TinyFamily"']),
                     progress=False)
    assert pipe.options == {"channels": 4}  # cells / num_classes are not the family's options
    arch = {"e0": "lin", "e1": "tanh"}
    assert pipe.supernet(torch.zeros(2, 3, 8, 8), arch).shape == (2, 3)


def test_unknown_space_names_all_three_ways_to_register():
    with pytest.raises(ConfigError) as err:
        get_family("tinycnn")
    message = str(err.value)
    assert "known: macro, nb201" in message
    assert "SPACES.register" in message and "'nasengine.spaces'" in message
    assert 'supernet.space="pkg.module:Factory"' in message


@pytest.mark.parametrize("path,match", [("no_such_module:X", "cannot import 'no_such_module'"),
                                        ("nasengine.api:Nope", "has no 'Nope'"),
                                        ("nasengine.api:Pipeline", "not a search space")])
def test_bad_factory_paths_are_config_errors(path, match):
    with pytest.raises(ConfigError, match=match):
        get_family(path)


def test_options_a_family_does_not_take_are_config_errors(plugin):
    family = get_family("tiny")
    with pytest.raises(ConfigError, match=r"does not take option\(s\) \['cells'\]; its networks "
                                          r"take \['channels'\]"):
        family.build_supernet(channels=4, cells=3)


def test_changed_run_options_a_family_ignores_are_warned(plugin):
    family = get_family("tiny")
    with pytest.warns(UserWarning, match=r"ignores supernet.cells=3"):
        assert family.run_options(SupernetConfig(cells=3, channels=2)) == {"channels": 2}


def test_entangled_with_nothing_to_slice_is_refused(plugin):
    with pytest.raises(SpaceError, match="has nothing to slice.*weight_sharing"):
        get_family("tiny").build_supernet("entangled")
    assert get_family("nb201").build_supernet("entangled", channels=2, cells=1) is not None
