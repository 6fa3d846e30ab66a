"""Sharing mechanisms refuse choice names PyTorch cannot hold, naming the choice."""
import pytest
from torch import nn

from nasengine.errors import SpaceError
from nasengine.supernet import SHARING


@pytest.mark.parametrize("sharing", ["weight_sharing", "entangled"])
@pytest.mark.parametrize("name,problem", [("conv.3x3", "contains"), ("", "is empty"),
                                          ("keys", "is an nn.ModuleDict attribute")])
def test_choice_names_the_framework_cannot_hold_are_space_errors(sharing, name, problem):
    with pytest.raises(SpaceError, match=f"choice name '{name}' {problem}"):
        SHARING.get(sharing)({"id": nn.Identity, name: nn.Identity})
