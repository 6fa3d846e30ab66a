"""An NNI 3 ModelSpace trains, ranks and searches as it is, through the builder."""
import json
import warnings

import pytest
import torch
from torch import nn

from nasengine.cli import main
from nasengine.complexity import count_params
from nasengine.errors import SpaceError
from nasengine.families import get_family

pytest.importorskip("pytorch_lightning")  # NNI's NAS modules import it
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import nni
    from nni.nas.nn.pytorch import InputChoice, ModelSpace

SPACE = "examples.nni_cnn:NNICNN"


def test_the_nni_space_keeps_its_labels_and_values():
    family = get_family(SPACE)
    space = family.space()
    assert type(family).__name__ == "NNIFamily"
    assert {k: d.values for k, d in space.decisions.items()} == {
        "width": (8, 16), "kernel": (3, 5), "act": ("relu", "tanh"), "depth": (1, 2, 3)}


@pytest.mark.parametrize("sharing", ["weight_sharing", "entangled"])
def test_every_arch_runs_and_nnis_frozen_net_is_the_supernet_path(sharing):
    family = get_family(SPACE)
    net = family.build_supernet(sharing, channels=16)
    x = torch.randn(2, 3, 16, 16)
    net.eval()
    for arch in family.space().enumerate():
        frozen = family.standalone(arch, channels=16)  # NNI's own freeze(arch)
        assert not any("nasengine" in type(m).__module__ for m in frozen.modules())
        assert count_params(frozen) == net.path(arch, count=True).params
        assert torch.allclose(net.extract(arch).eval()(x), net(x, arch), atol=1e-5)


def test_unsupported_nni_mutables_are_named():
    class WithInputChoice(ModelSpace):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.pick = InputChoice(2, 1, label="pick")

        def forward(self, x):
            return self.pick([self.conv(x), x[:, :1].expand(-1, 4, -1, -1)])

    from nasengine.builder.nni import NNIFamily

    with pytest.raises(SpaceError, match="InputChoice at 'pick' is not supported"):
        NNIFamily(WithInputChoice, name="nni-input").space()


@pytest.mark.slow
def test_the_nni_space_trains_and_searches_from_the_cli(cifar10_path, tmp_path, capsys):
    args = ["--config", "smoke", "--space", SPACE, "--out", str(tmp_path), "--no-progress",
            "--set", "supernet.channels=8", "--set", "data.train_limit=256",
            "--set", "evaluate.n_archs=6"]
    assert main(["run", *args]) == 0
    assert "no ground truth for this space" in capsys.readouterr().out
    assert main(["search", *args, "--budget", "6"]) == 0
    report = json.loads((tmp_path / "search.json").read_text())
    assert report["trials"] == 6 and get_family(SPACE).space(channels=8).parse(report["best"]["arch"])
