"""An NNI 3 model space, trained by nasengine as it is (no nasengine code in it).

    nasengine run --space examples.nni_cnn:NNICNN --config smoke --set supernet.channels=16

Needs ``pip install nasengine[nni]`` (NNI's NAS modules import pytorch-lightning).
"""
import nni
from nni.nas.nn.pytorch import LayerChoice, ModelSpace, MutableBatchNorm2d, MutableConv2d, \
    MutableLinear, Repeat
from torch import nn


class NNICNN(ModelSpace):
    def __init__(self, channels: int = 16, num_classes: int = 10):
        super().__init__()
        width = nni.choice("width", [channels // 2, channels])
        kernel = nni.choice("kernel", [3, 5])
        self.stem = nn.Sequential(MutableConv2d(3, width, kernel, padding=kernel // 2, bias=False),
                                  MutableBatchNorm2d(width), nn.ReLU())
        self.act = LayerChoice({"relu": nn.ReLU(), "tanh": nn.Tanh()}, label="act")
        self.body = Repeat(lambda i: nn.Sequential(
            MutableConv2d(width, width, 3, stride=2, padding=1, bias=False),
            MutableBatchNorm2d(width), nn.ReLU()), nni.choice("depth", [1, 2, 3]))
        self.head = MutableLinear(width, num_classes)

    def forward(self, x):
        return self.head(self.body(self.act(self.stem(x))).mean((2, 3)))
