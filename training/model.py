"""The colorization network: a U-Net from L to ab, predicted at a quarter of the input size.

Chroma carries little detail, so the network predicts ab at 1/4 of the render size and the
runtime brings it to the output's chroma resolution, guided by the full-resolution L.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelDims:
    widths: tuple[int, ...] = (16, 32, 64, 128)  # channels at 1/2, 1/4, 1/8, 1/16 of the input
    blocks: tuple[int, ...] = (0, 1, 2, 2)  # residual blocks at each of those levels
    head: str = "classification"  # "classification" (logits over ab bins) or "regression" (ab)
    num_bins: int = 0  # ab bins for the classification head

    @property
    def out_channels(self) -> int:
        return self.num_bins if self.head == "classification" else 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelDims:
        return cls(**{**d, "widths": tuple(d["widths"]), "blocks": tuple(d["blocks"])})


# Input scaling: the network sees L / L_SCALE - L_SHIFT, roughly [-1, 1].
L_SCALE = 50.0
L_SHIFT = 1.0
# Regression output scaling: ab = output * AB_SCALE.
AB_SCALE = 110.0
OUTPUT_STRIDE = 4  # the output is 1/4 of the input size
SIZE_MULTIPLE = 16  # input height and width must be multiples of this


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, dilation, dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(x + self.bn2(self.conv2(y)), inplace=True)


class ColorUNet(nn.Module):
    """(N, 1, H, W) scaled L -> (N, C, H/4, W/4): logits over ab bins, or ab / AB_SCALE."""

    def __init__(self, dims: ModelDims):
        super().__init__()
        self.dims = dims
        w = dims.widths
        self.down = nn.ModuleList()
        cin = 1
        for level, (width, blocks) in enumerate(zip(w, dims.blocks)):
            # The deepest level uses dilation to see more of the frame without more downsampling.
            dilation = 2 if level == len(w) - 1 else 1
            layers = [_conv(cin, width, stride=2)] + [ResBlock(width, dilation) for _ in range(blocks)]
            self.down.append(nn.Sequential(*layers))
            cin = width
        # Global context (Iizuka et al. 2016): the whole frame's mean features modulate the bottleneck.
        self.context = nn.Sequential(nn.Linear(w[-1], w[-1]), nn.ReLU(inplace=True), nn.Linear(w[-1], w[-1]))
        # Decoder back up to 1/4: 1/16 -> 1/8 -> 1/4, each level fed the encoder's skip.
        self.up = nn.ModuleList([_conv(w[3] + w[2], w[2]), _conv(w[2] + w[1], w[1])])
        self.refine = ResBlock(w[1])
        self.head = nn.Conv2d(w[1], dims.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        context = self.context(x.mean(dim=(2, 3)))
        x = x + context[:, :, None, None]
        for conv, skip in zip(self.up, (skips[2], skips[1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = conv(torch.cat([x, skip], dim=1))
        x = self.refine(x)
        return self.head(x)
