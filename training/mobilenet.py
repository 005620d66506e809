"""MobileNetV2 (ImageNet) in PyTorch, with its weights read from Google's int8 TFLite file.

The encoder of the pretrained colorization network. The file is `../shared/weights/
mobilenet_v2_imagenet_int8/tf2_mobilenet_v2_1.0_224_ptq.tflite` (Apache-2.0): batch norm is folded
into its convolutions, so the layers here are convolutions with a bias, and every stride-2
convolution pads as TensorFlow's "same" does (nothing before, one pixel after), which PyTorch's
symmetric padding would not match (about 5 points of top-1 lower). `check_imagenet` measures the
conversion on the one-photo-per-class ImageNet sample before the weights are trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_TFLITE = Path("../shared/weights/mobilenet_v2_imagenet_int8/tf2_mobilenet_v2_1.0_224_ptq.tflite")
# (expansion, output channels, repeats, first stride) of each stage, as in Sandler et al. 2018.
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
# features[i] whose output a U-Net decoder takes as its skip at 1/2, 1/4, 1/8, 1/16 and 1/32.
SKIP_LAYERS = (1, 3, 6, 13, 17)


class Conv(nn.Module):
    """A convolution with bias (batch norm folded in), TF "same" padding, optionally ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True):
        super().__init__()
        self.stride, self.kernel, self.relu = stride, kernel, relu
        pad = 0 if stride == 2 else kernel // 2
        self.conv = nn.Conv2d(cin, cout, kernel, stride, pad, groups=groups, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = same_conv(x, self.conv)
        return F.relu6(x) if self.relu else x


def same_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """A convolution; one of stride 2 and no padding is padded as TF's "same" does on an even
    size: the extra row and column after (bottom, right), none before."""
    if conv.stride == (2, 2) and conv.padding == (0, 0):
        x = F.pad(x, (0, 1, 0, 1))
    return conv(x)


def fold_same_padding(model: nn.Module) -> nn.Module:
    """The model with every stride-2 3x3 convolution that same_conv pads rewritten as a 4x4 one
    with a zero first row and column and symmetric padding 1: the same sums, but exported to ONNX
    as a plain Conv with symmetric pads and no Pad node, which every backend runs as it is."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Conv2d) and child.stride == (2, 2) and child.padding == (0, 0):
                kh, kw = child.kernel_size
                folded = nn.Conv2d(child.in_channels, child.out_channels, (kh + 1, kw + 1), 2, 1,
                                   groups=child.groups, bias=child.bias is not None)  # fmt: skip
                with torch.no_grad():
                    folded.weight.copy_(F.pad(child.weight, (1, 0, 1, 0)))
                    if child.bias is not None:
                        folded.bias.copy_(child.bias)
                setattr(module, name, folded)
    return model


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        layers = [Conv(cin, hidden, 1)] if expansion != 1 else []
        layers += [Conv(hidden, hidden, 3, stride, groups=hidden), Conv(hidden, cout, 1, relu=False)]
        self.layers = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x) if self.residual else self.layers(x)


class MobileNetV2(nn.Module):
    """features[0..18] as torchvision numbers them, and the 1001-way classifier (0: background)."""

    def __init__(self, depth: int = 19, classifier: bool = True):
        super().__init__()
        features: list[nn.Module] = [Conv(3, 32, 3, 2)]
        cin = 32
        for expansion, cout, repeats, stride in STAGES:
            for i in range(repeats):
                features.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expansion))
                cin = cout
        features.append(Conv(cin, 1280, 1))
        self.features = nn.ModuleList(features[:depth])
        self.classifier = nn.Linear(1280, 1001) if classifier and depth == len(features) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.features:
            x = layer(x)
        return self.classifier(x.mean(dim=(2, 3)))


def _convolutions(module: nn.Module) -> list[nn.Conv2d | nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def read_tflite(path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(op, weight, bias) of every convolution and fully connected layer, in graph order, float32.

    Weights are dequantized as scale * (q - zero_point), per output channel where the file has
    per-channel scales; biases (int32) likewise. Layouts are the file's: CONV_2D (O, H, W, I),
    DEPTHWISE_CONV_2D (1, H, W, C), FULLY_CONNECTED (O, I).
    """
    import tflite  # the TFLite flatbuffer schema (pip install tflite); training-only

    buf = Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}

    def tensor(index: int) -> np.ndarray:
        t = graph.Tensors(index)
        raw = model.Buffers(t.Buffer()).DataAsNumpy()
        dtype = {
            tflite.TensorType.INT8: np.int8,
            tflite.TensorType.UINT8: np.uint8,
            tflite.TensorType.INT32: np.int32,
            tflite.TensorType.FLOAT32: np.float32,
        }[t.Type()]
        q = np.frombuffer(raw.tobytes(), dtype=dtype).reshape(t.ShapeAsNumpy())
        if dtype == np.float32:
            return q.copy()
        quant = t.Quantization()
        scale = quant.ScaleAsNumpy().astype(np.float64)
        zero = quant.ZeroPointAsNumpy().astype(np.float64)
        shape = [1] * q.ndim
        if scale.size > 1:
            shape[quant.QuantizedDimension()] = -1
        return (scale.reshape(shape) * (q.astype(np.float64) - zero.reshape(shape))).astype(np.float32)

    layers = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        name = names[model.OperatorCodes(op.OpcodeIndex()).BuiltinCode()]
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            inputs = op.InputsAsNumpy()
            layers.append((name, tensor(inputs[1]), tensor(inputs[2])))
    return layers


def load_tflite(model: MobileNetV2, path: Path = DEFAULT_TFLITE) -> MobileNetV2:
    """Fills `model` (whatever depth it has) from the TFLite file, layer by layer in order."""
    layers = read_tflite(path)
    targets = _convolutions(model)
    if len(targets) > len(layers):
        raise ValueError(f"{path}: {len(layers)} layers, the network needs {len(targets)}")
    with torch.no_grad():
        for target, (op, weight, bias) in zip(targets, layers):
            if op == "CONV_2D":
                weight = weight.transpose(0, 3, 1, 2)
                if weight.shape[2:] == (1, 1) and isinstance(target, nn.Linear):
                    weight = weight[:, :, 0, 0]
            elif op == "DEPTHWISE_CONV_2D":
                weight = weight.transpose(3, 0, 1, 2)
            if tuple(weight.shape) != tuple(target.weight.shape):
                raise ValueError(f"{path}: a {op} of shape {weight.shape} where {tuple(target.weight.shape)} is due")
            target.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            target.bias.copy_(torch.from_numpy(bias.reshape(-1)))
    return model


def check_imagenet(model: MobileNetV2, folder: Path, labels: Path, limit: int | None = None) -> tuple[float, float]:
    """Top-1 and top-5 accuracy on the one-photo-per-class ImageNet sample (224 px centre crops).

    Its files are named by WordNet id and class name (n01440764_tench.JPEG); `labels` lists the
    1001 class names in the model's order (0: background), matched to the file names.
    """
    import cv2

    names = [line.strip() for line in Path(labels).read_text().splitlines()]
    index = {}
    for i, name in enumerate(names):  # "great white shark, white shark, ..." -> every synonym
        for synonym in name.split(","):
            index.setdefault(synonym.strip().lower().replace(" ", "_"), i)
    top1 = top5 = seen = 0
    model.eval()
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    for path in paths[:limit]:
        label = index.get(path.stem.split("_", 1)[1].lower()) if "_" in path.stem else None
        if label is None:
            continue
        bgr = cv2.imread(str(path))
        h, w = bgr.shape[:2]
        scale = 256 / min(h, w)
        bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        y, x = (bgr.shape[0] - 224) // 2, (bgr.shape[1] - 224) // 2
        rgb = cv2.cvtColor(bgr[y : y + 224, x : x + 224], cv2.COLOR_BGR2RGB)
        x_in = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1)[None]
        with torch.no_grad():
            best = model(x_in)[0].topk(5).indices.tolist()
        top1 += best[0] == label
        top5 += label in best
        seen += 1
    if not seen:
        raise ValueError(f"no photo under {folder} matched a class name in {labels}")
    return top1 / seen, top5 / seen
