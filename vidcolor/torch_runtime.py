"""The PyTorch backend: the ONNX model's own graph and weights, run op by op with torch.

There is one model file. Instead of a second copy of the weights (or the training code) this
backend reads the ONNX graph and runs each node with the matching torch function, so whatever
ONNX Runtime runs, torch runs too: on the GPU in fp16 with channels-last memory, or on the CPU
in fp32, where it serves as a check of the ONNX Runtime path (tests compare the two).

Only the operators vidcolor models use are implemented (`OPS`); a model with any other one is
refused when it is loaded, not halfway through a reel. Small shape computations (Shape, Gather,
Slice, ...) run on the host in numpy, as they do in ONNX Runtime.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import ModelError
from .model import METADATA_KEY, Colorizer, ModelInfo

log = logging.getLogger(__name__)

MAX_GRAPHS = 4  # CUDA graphs kept, one per input shape
GRAPH_WARMUP_CALLS = 3  # eager calls before capture (cuDNN picks its algorithms, allocations settle)


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _is_host(value) -> bool:
    return isinstance(value, np.ndarray)


def _conv(torch, a, x, weight, bias=None):
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if pads[:2] != pads[2:]:
        raise ModelError(f"asymmetric Conv padding {pads} is not supported by the torch backend")
    return torch.nn.functional.conv2d(
        x, weight, bias, stride=tuple(a.get("strides", [1, 1])), padding=tuple(pads[:2]),
        dilation=tuple(a.get("dilations", [1, 1])), groups=a.get("group", 1),
    )  # fmt: skip


def _gemm(torch, a, x, weight, bias=None):
    if a.get("transA", 0):
        x = x.t()
    y = x @ (weight.t() if a.get("transB", 0) else weight)
    y = y * a.get("alpha", 1.0)
    return y if bias is None else y + bias * a.get("beta", 1.0)


def _resize(torch, a, x, roi=None, scales=None, sizes=None):
    mode = a.get("mode", b"nearest").decode()
    transform = a.get("coordinate_transformation_mode", b"half_pixel").decode()
    if mode != "linear" or transform not in ("half_pixel", "pytorch_half_pixel") or sizes is None:
        raise ModelError(f"Resize mode={mode} {transform} without sizes is not supported by the torch backend")
    return torch.nn.functional.interpolate(x, size=tuple(int(s) for s in sizes[2:]), mode="bilinear")


def _clip(torch, a, x, low=None, high=None):
    def bound(v):
        return None if v is None else float(v) if _is_host(v) else v.to(x.dtype)

    return torch.clamp(x, bound(low), bound(high))


def _average_pool(torch, a, x):
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if pads[:2] != pads[2:] or a.get("ceil_mode", 0):
        raise ModelError(f"AveragePool with pads {pads} or ceil_mode is not supported by the torch backend")
    return torch.nn.functional.avg_pool2d(
        x, tuple(a["kernel_shape"]), tuple(a.get("strides", a["kernel_shape"])), tuple(pads[:2]),
        count_include_pad=bool(a.get("count_include_pad", 0)),
    )  # fmt: skip


def _reduce(name: str):
    def op(torch, a, x, axes=None):
        axes = tuple(int(i) for i in (a["axes"] if "axes" in a else axes))
        keep = bool(a.get("keepdims", 1))
        if name == "max":
            return torch.amax(x, dim=axes, keepdim=keep)
        return getattr(torch, name)(x, dim=axes, keepdim=keep)

    return op


def _concat(torch, a, *xs):
    axis = a["axis"]
    if all(_is_host(x) for x in xs):
        return np.concatenate(xs, axis=axis)
    return torch.cat(xs, dim=axis)


def _unsqueeze(torch, a, x, axes):
    for axis in sorted(int(a) for a in axes):
        x = np.expand_dims(x, axis) if _is_host(x) else x.unsqueeze(axis)
    return x


def _slice(torch, a, x, starts, ends, axes=None, steps=None):
    # of a shape (host) or of a tensor (the hint plane's channels); steps must be positive
    if not all(_is_host(v) for v in (starts, ends, axes, steps) if v is not None):
        raise ModelError("Slice bounds computed on the device are not supported by the torch backend")
    if steps is not None and min(int(s) for s in steps) < 1:
        raise ModelError("Slice with a negative step is not supported by the torch backend")
    index = [slice(None)] * x.ndim
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for axis, start, end, step in zip(axes, starts, ends, steps):
        index[int(axis)] = slice(int(start), int(end), int(step))
    return x[tuple(index)]


def _cast(torch, a, x):
    from onnx import helper

    if not _is_host(x):
        raise ModelError("Cast of a device tensor is not supported by the torch backend")
    return x.astype(helper.tensor_dtype_to_np_dtype(a["to"]))


# ONNX op type -> fn(torch, attributes, *inputs). Inputs are torch tensors (data) or numpy arrays
# (shapes). Constant nodes are not here: they are evaluated once, when the model is loaded.
OPS: dict[str, Callable] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "Relu": lambda torch, a, x: torch.relu(x),
    "Clip": _clip,
    "Identity": lambda torch, a, x: x,
    "AveragePool": _average_pool,
    "Exp": lambda torch, a, x: torch.exp(x),
    "Add": lambda torch, a, x, y: x + y,
    "Sub": lambda torch, a, x, y: x - y,
    "Mul": lambda torch, a, x, y: x * y,
    "Div": lambda torch, a, x, y: x / y,
    "ReduceMean": _reduce("mean"),
    "ReduceSum": _reduce("sum"),
    "ReduceMax": _reduce("max"),
    "Resize": _resize,
    "Concat": _concat,
    "Unsqueeze": _unsqueeze,
    "Shape": lambda torch, a, x: np.array(x.shape, dtype=np.int64),
    "Gather": lambda torch, a, x, i: np.asarray(np.take(x, i, axis=a.get("axis", 0))),
    "Slice": _slice,
    "Cast": _cast,
}


class TorchColorizer(Colorizer):
    """Runs a vidcolor ONNX model with PyTorch: fp16 and channels-last on CUDA, fp32 on CPU."""

    def __init__(
        self,
        path: str | Path,
        device: str = "cuda",
        half: bool | None = None,
        threads: int | None = None,
        cuda_graphs: bool = False,
    ):
        import onnx
        import torch

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        try:
            proto = onnx.load(str(path))
        except Exception as e:  # onnx raises its own protobuf errors for bad files
            raise ModelError(f"cannot load model {path}: {e}") from e
        props = {p.key: p.value for p in proto.metadata_props}
        if METADATA_KEY not in props:
            raise ModelError(f"{path} is not a vidcolor model (no '{METADATA_KEY}' metadata)")
        self.info = ModelInfo.from_metadata(json.loads(props[METADATA_KEY]))
        unknown = sorted({n.op_type for n in proto.graph.node} - OPS.keys() - {"Constant"})
        if unknown:
            raise ModelError(f"{path}: the torch backend cannot run {', '.join(unknown)}")
        if threads and device == "cpu":
            torch.set_num_threads(threads)
        self.torch = torch
        self.path = path
        self.device = device
        self.backend = "torch"
        self.dtype = torch.float16 if (device == "cuda" if half is None else half) else torch.float32
        self.channels_last = device == "cuda"
        if cuda_graphs and device != "cuda":
            raise ModelError("CUDA graphs need the model on a CUDA device")
        self.cuda_graphs = cuda_graphs
        # Per input shape: (graph, its input tensors, its output tensor, a pinned host buffer for L).
        self._graphs: dict[tuple, tuple] = {}
        self.weights = {t.name: self._tensor(onnx.numpy_helper.to_array(t)) for t in proto.graph.initializer}
        # The graph as (op, attributes, inputs, output), parsed once rather than on every call.
        self.steps = []
        for node in proto.graph.node:
            attrs = _attrs(node)
            if node.op_type == "Constant":
                self.weights[node.output[0]] = self._tensor(onnx.numpy_helper.to_array(attrs["value"]))
            else:
                self.steps.append((OPS[node.op_type], attrs, list(node.input), node.output[0]))

    def _tensor(self, array: np.ndarray):
        """Float arrays become device tensors in the run's precision; integer ones (shapes, axes) stay on the host."""
        if not np.issubdtype(array.dtype, np.floating):
            return array
        return self._precise(self.torch.from_numpy(np.array(array, dtype=np.float32)).to(self.device))

    def _precise(self, tensor):
        """A float32 device tensor in the run's precision (and channels-last, for images on CUDA)."""
        tensor = tensor.to(self.dtype)
        if self.channels_last and tensor.ndim == 4:
            tensor = tensor.contiguous(memory_format=self.torch.channels_last)
        return tensor

    def forward(self, feeds: dict):
        """Runs the graph on device tensors; returns the output tensor."""
        values = dict(self.weights)
        values.update(feeds)
        for op, attrs, inputs, output in self.steps:
            args = [values[name] if name else None for name in inputs]
            while args and args[-1] is None:
                args.pop()
            values[output] = op(self.torch, attrs, *args)
        return values[self.info.output_name]

    def run(self, lightness: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        """L (N, H, W) and hints (N, 3, H, W) or None -> the graph's output (N, C, h, w), float32 numpy."""
        inputs = self.info.graph_inputs(self.info.scale(lightness), hints)
        with self.torch.inference_mode():
            out = (
                self._replay(inputs)
                if self.cuda_graphs
                else self.forward({name: self._tensor(value) for name, value in inputs.items()})
            )
        return out.float().cpu().numpy()

    def _replay(self, inputs: dict[str, np.ndarray]):
        """The forward pass as a CUDA graph, captured once per input shape and replayed (one launch
        instead of one per operator). Inputs go as float32 through pinned host buffers into the
        graph's own, and the graph casts them to the run's precision: with fp16 buffers numpy did
        the conversion, slowly (batches of 64 at 448x256 on an H200: 1,139-1,967 frames/s graphed
        against 3,186-4,025 eager, 2026-11-30)."""
        torch = self.torch
        key = tuple((name, value.shape) for name, value in inputs.items())
        if key not in self._graphs:
            if len(self._graphs) >= MAX_GRAPHS:  # a reel has one batch shape and a shorter last batch
                self._graphs.pop(next(iter(self._graphs)))
            static = {name: torch.empty(v.shape, dtype=torch.float32, device=self.device) for name, v in inputs.items()}
            # Of the graph input's own dtype: a copy that also converts goes through a pageable
            # temporary, which is neither pinned nor asynchronous.
            pinned = {name: torch.empty(v.shape, dtype=torch.float32).pin_memory() for name, v in static.items()}
            for name, value in inputs.items():
                static[name].copy_(torch.from_numpy(np.ascontiguousarray(value, np.float32)))

            def step():
                return self.forward({name: self._precise(tensor) for name, tensor in static.items()})

            side = torch.cuda.Stream()  # warm-up off the default stream, as torch.cuda.graph requires
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(GRAPH_WARMUP_CALLS):
                    step()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            # Other threads use CUDA meanwhile (the colour stage, NVDEC): in the default "global"
            # mode, an allocation or a sync of theirs during the capture would make it fail.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                output = step()
            self._graphs[key] = (graph, static, output, pinned)
        graph, static, output, pinned = self._graphs[key]
        for name, value in inputs.items():
            pinned[name].numpy()[...] = value
            static[name].copy_(pinned[name], non_blocking=True)
        graph.replay()
        return output

    def predict_ab(self, lightness: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        return self.info.decode(self.run(lightness, hints))
