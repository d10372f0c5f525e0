"""The benchmark's task models: a small CNN with named stages, or a matsight ResNet-18 (``--full``).

``TinyCNN`` keeps the quick benchmark on two CPU cores: three stages ``Z1..Z3`` (full, 1/2 and
1/4 resolution) of 3×3 convolution, batch norm and ReLU (without batch norm it does not start
learning a pit count within 10 epochs), global average pooling and one linear layer. No in-place
ReLU, so guided backprop and zennit can hook every activation; zennit merges the batch norms into
the convolutions (``SequentialMergeBatchNorm``).
"""

from __future__ import annotations

import torch
from torch import nn


def _stage(cin: int, cout: int, convs: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.MaxPool2d(2)] if pool else []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, kernel_size=3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*layers)


class TinyCNN(nn.Module):
    """Input ``float32 [N, C, H, W]`` in [0, 1]; output ``[N, num_outputs]``.

    Stages ``Z1`` (``widths[0]`` channels at H×W), ``Z2`` (``widths[1]`` at H/2), ``Z3``
    (``widths[2]`` at H/4, two convolutions), then global average pooling and a linear head.
    """

    def __init__(self, in_channels: int, num_outputs: int, widths: tuple[int, int, int] = (8, 16, 32)):
        super().__init__()
        self.block1 = _stage(in_channels, widths[0], 1, pool=False)
        self.block2 = _stage(widths[0], widths[1], 1, pool=True)
        self.block3 = _stage(widths[1], widths[2], 2, pool=True)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(widths[2], num_outputs)
        self.stages: dict[str, nn.Module] = {"Z1": self.block1, "Z2": self.block2, "Z3": self.block3}

    @property
    def head(self) -> nn.Linear:
        return self.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.block3(self.block2(self.block1(x)))))


def build_task_model(arch: str, in_channels: int, task: str, num_outputs: int) -> nn.Module:
    """``tiny`` (:class:`TinyCNN`) or ``resnet18`` (matsight's ImageNet-style ResNet-18, random init)."""
    if arch == "tiny":
        return TinyCNN(in_channels, num_outputs)
    from matsight.models import build_model

    return build_model(arch, task, num_outputs)
