"""The colorization network: a U-Net from L to ab, predicted at a quarter of the input size.

Chroma carries little detail, so the network predicts ab at 1/4 of the render size and the
runtime brings it to the output's chroma resolution, guided by the full-resolution L.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .mobilenet import SKIP_LAYERS, MobileNetV2, load_tflite, same_conv


@dataclass(frozen=True)
class ModelDims:
    widths: tuple[int, ...] = (16, 32, 64, 128)  # channels at 1/2, 1/4, 1/8, 1/16 of the input
    blocks: tuple[int, ...] = (0, 1, 2, 2)  # residual blocks at each of those levels
    head: str = "classification"  # "classification" (logits over ab bins) or "regression" (ab)
    num_bins: int = 0  # ab bins for the classification head
    arch: str = "unet"  # "unet": ColorUNet, from scratch; "mobilenet": MobileColorNet, pretrained encoder
    hints: bool = False  # the network takes a hint plane beside L (MobileColorNet only)

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


# Hint inputs (issue 28): the network may take, beside L, a (N, 3, H, W) plane of colour hints:
# a / HINT_SCALE, b / HINT_SCALE and a mask (1 where a hint is given, 0 elsewhere). All zero: no hints.
HINT_SCALE = 110.0
HINT_CHANNELS = 3


class _Up(nn.Module):
    """Decoder level: upsample to the skip's size, concatenate, `convs` 3x3 convolutions."""

    def __init__(self, cin: int, cskip: int, cout: int, convs: int = 2):
        super().__init__()
        self.conv = nn.Sequential(_conv(cin + cskip, cout), *[_conv(cout, cout) for _ in range(convs - 1)])

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], dim=1))


class MobileColorNet(nn.Module):
    """The pretrained generator: an ImageNet MobileNetV2 encoder (features[0..17], to 1/32) and a
    U-Net decoder with skips from its stages at 1/16, 1/8 and 1/4, out at 1/4 like ColorUNet.

    The encoder's first convolution takes one channel, L: its RGB filters summed (the photo in grey
    is R = G = B, so the pretrained features start where they were). With `dims.hints`, the
    network also takes the hint plane (HINT_CHANNELS): a zero-initialised convolution adds it to
    the first features, and the decoder sees it again at 1/4, so a model fine-tuned with hints
    starts out exactly as the one without.
    """

    def __init__(self, dims: ModelDims):
        super().__init__()
        self.dims = dims
        self.encoder = MobileNetV2(depth=SKIP_LAYERS[-1] + 1, classifier=False)
        self.skip_layers = SKIP_LAYERS
        stem = self.encoder.features[0].conv
        grey = nn.Conv2d(1, stem.out_channels, 3, 2, 0, bias=True)
        self.encoder.features[0].conv = grey
        w = dims.widths  # decoder channels at 1/16, 1/8, 1/4
        self.context = nn.Sequential(nn.Linear(320, 320), nn.ReLU(inplace=True), nn.Linear(320, 320))
        self.up = nn.ModuleList(
            [_Up(320, 96, w[0]), _Up(w[0], 32, w[1]), _Up(w[1], 24 + self.hint_channels, w[2], convs=1)]
        )
        self.head = nn.Conv2d(w[2], dims.out_channels, 1)
        if dims.hints:
            self.hint_stem = nn.Conv2d(HINT_CHANNELS, stem.out_channels, 3, 2, 0)
            nn.init.zeros_(self.hint_stem.weight)
            nn.init.zeros_(self.hint_stem.bias)

    @property
    def hint_channels(self) -> int:
        return HINT_CHANNELS if self.dims.hints else 0

    def load_pretrained(self, tflite: Path) -> None:
        """The encoder's weights from the TFLite file, the first convolution summed over RGB."""
        rgb = load_tflite(MobileNetV2(depth=len(self.encoder.features), classifier=False), tflite)
        own = self.encoder.features
        with torch.no_grad():
            for i in range(1, len(own)):
                own[i].load_state_dict(rgb.features[i].state_dict())
            stem = rgb.features[0].conv
            own[0].conv.weight.copy_(stem.weight.sum(dim=1, keepdim=True))
            own[0].conv.bias.copy_(stem.bias)

    def encoder_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def forward(self, x: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        if self.dims.hints and hints is None:  # no hints: an all-zero plane, as in training and the runtime
            n, _, h, w = x.shape
            hints = x.new_zeros(n, HINT_CHANNELS, h, w)
        skips = {}
        for i, layer in enumerate(self.encoder.features):
            x = layer(x)
            if i == 0 and self.dims.hints:
                x = x + same_conv(hints, self.hint_stem)
            if i in self.skip_layers:
                skips[i] = x
        x = x + self.context(x.mean(dim=(2, 3)))[:, :, None, None]
        x = self.up[0](x, skips[13])
        x = self.up[1](x, skips[6])
        quarter = skips[3]
        if self.dims.hints:
            quarter = torch.cat([quarter, hint_pool(hints, OUTPUT_STRIDE)], dim=1)
        x = self.up[2](x, quarter)
        return self.head(x)


def hint_pool(hints: torch.Tensor, stride: int) -> torch.Tensor:
    """The hint plane at 1/stride: ab averaged over the hinted pixels of each cell, mask as the
    share of the cell hinted (so one hinted pixel in a cell still gives that cell its colour)."""
    mask = F.avg_pool2d(hints[:, 2:3], stride)
    ab = F.avg_pool2d(hints[:, :2] * hints[:, 2:3], stride) / mask.clamp(min=1e-6)  # 0 where no hint
    return torch.cat([ab, mask], dim=1)


def build_model(dims: ModelDims) -> nn.Module:
    return MobileColorNet(dims) if dims.arch == "mobilenet" else ColorUNet(dims)
