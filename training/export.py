"""Export a trained network to ONNX with its I/O contract, and check it against PyTorch."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnx
import torch

from vidcolor.errors import ModelError
from vidcolor.model import METADATA_KEY, OnnxColorizer, probe_lightness

from .losses import annealed_mean
from .model import AB_SCALE, HINT_SCALE, L_SCALE, L_SHIFT, OUTPUT_STRIDE, SIZE_MULTIPLE, ColorUNet

HINT_INPUT = "hints"  # graph input of the hint plane (N, 3, H, W), for models trained with hints
MOBILENET_SIZE_MULTIPLE = 32  # the MobileNetV2 encoder downsamples to 1/32

log = logging.getLogger(__name__)

OPSET = 17
RAW_OUTPUT = "raw"  # the network's own output, before append_decoder
TEMPERATURE_INPUT = "temperature"
CHROMA_GAIN = "decoder/chroma_gain"  # initializer scaling the decoded ab, when a model has a gain
# Parity: ab decoded from the ONNX output may differ from PyTorch's by at most this much, in
# CIE ab units (a just-noticeable colour difference is about 2).
PARITY_TOLERANCE_AB = 0.05


def contract(
    model: ColorUNet,
    bins: np.ndarray | None,
    temperature: float,
    render_size: int,
    info: dict,
    chroma_gain: float = 1.0,
) -> dict:
    """The metadata the runtime reads instead of hard-coding anything about the model."""
    dims = model.dims
    meta = {
        "format": 1,
        "input": "L",
        "output": "ab",
        "decoded": True,  # the graph ends in ab, CIE units: see append_decoder
        "l_scale": L_SCALE,
        "l_shift": L_SHIFT,
        "ab_scale": AB_SCALE,
        "head": dims.head,
        "output_stride": OUTPUT_STRIDE,
        "size_multiple": MOBILENET_SIZE_MULTIPLE if dims.arch == "mobilenet" else SIZE_MULTIPLE,
        "render_size": render_size,
        "chroma_gain": chroma_gain,
        "dims": dims.to_dict(),
        "training": info,
    }
    if dims.hints:
        # (N, 3, H, W) at the input's size: a / hint_scale, b / hint_scale, mask; zeros = no hints
        meta["hint_input"] = HINT_INPUT
        meta["hint_scale"] = HINT_SCALE
    if dims.head == "classification":
        meta["ab_bins"] = np.round(bins, 3).tolist()
        meta["temperature"] = temperature
        meta["temperature_input"] = TEMPERATURE_INPUT
    return meta


def append_decoder(proto: onnx.ModelProto, meta: dict, raw_output: str) -> None:
    """Ends the graph in ab (N, 2, h, w), CIE units, named meta["output"].

    Classification: the annealed mean over the bins, with the temperature as a graph input, so the
    runtime can still change it. Decoding inside the graph spares the runtime a softmax over every
    bin in numpy (12 of 58 ms per 256x448 frame on 2 CPU cores, measured 2026-11-23) and, on a GPU,
    the copy of hundreds of logit channels back to the host. The softmax is spelt out (max, exp,
    sum) because ONNX Runtime's Softmax over the channel axis transposes, and measured slower than
    the numpy decode. Regression: a scaling by ab_scale.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    out = meta["output"]
    if meta["head"] == "classification":
        bins = np.asarray(meta["ab_bins"], dtype=np.float32)
        graph.input.append(helper.make_tensor_value_info(meta["temperature_input"], TensorProto.FLOAT, [1]))
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.ascontiguousarray(bins.T.reshape(2, -1, 1, 1)), "decoder/ab_bins"),
                numpy_helper.from_array(np.array([1], dtype=np.int64), "decoder/bin_axis"),
            ]
        )
        graph.node.extend(
            [
                helper.make_node("Div", [raw_output, meta["temperature_input"]], ["decoder/sharpened"]),
                helper.make_node("ReduceMax", ["decoder/sharpened"], ["decoder/max"], axes=[1], keepdims=1),
                helper.make_node("Sub", ["decoder/sharpened", "decoder/max"], ["decoder/shifted"]),
                helper.make_node("Exp", ["decoder/shifted"], ["decoder/weights"]),
                helper.make_node("ReduceSum", ["decoder/weights", "decoder/bin_axis"], ["decoder/total"], keepdims=1),
                # sum over bins of weight x bin centre: a 1x1 convolution with the centres as filters
                helper.make_node("Conv", ["decoder/weights", "decoder/ab_bins"], ["decoder/weighted"]),
                helper.make_node("Div", ["decoder/weighted", "decoder/total"], [out]),
            ]
        )
    else:
        graph.initializer.append(numpy_helper.from_array(np.array(meta["ab_scale"], dtype=np.float32), "decoder/scale"))
        graph.node.append(helper.make_node("Mul", [raw_output, "decoder/scale"], [out]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", 2, "out_height", "out_width"]))
    if meta.get("chroma_gain", 1.0) != 1.0:
        apply_chroma_gain(proto, meta, meta["chroma_gain"])


def apply_chroma_gain(proto: onnx.ModelProto, meta: dict, gain: float) -> None:
    """Makes the graph multiply its decoded ab by `gain` (instead of any gain it had) and records it.

    A gain above 1 trades accuracy for vividness, and is how a model trained for accuracy (whose
    colours are the conditional mean, and so muted) is made as colourful as the true photos; see
    training/EXPERIMENTS.md. It lives in the graph, so every backend (ONNX Runtime, TensorRT, the
    PyTorch interpreter of the graph) applies it, and in the metadata, which records it.
    """
    from onnx import helper, numpy_helper

    if not meta.get("decoded"):
        raise ModelError("a chroma gain needs a model whose graph decodes ab (upgrade it first)")
    graph = proto.graph
    value = numpy_helper.from_array(np.array(gain, dtype=np.float32), CHROMA_GAIN)
    existing = [i for i, t in enumerate(graph.initializer) if t.name == CHROMA_GAIN]
    if existing:
        graph.initializer[existing[0]].CopyFrom(value)
    else:
        ungained = "decoder/ungained"
        for node in graph.node:
            node.output[:] = [ungained if name == meta["output"] else name for name in node.output]
        graph.initializer.append(value)
        graph.node.append(helper.make_node("Mul", [ungained, CHROMA_GAIN], [meta["output"]]))
    meta["chroma_gain"] = float(gain)


def export_onnx(model: ColorUNet, path: Path, meta: dict) -> None:
    import copy

    from .mobilenet import fold_same_padding

    model = fold_same_padding(copy.deepcopy(model).eval().float())
    examples = (torch.zeros(1, 1, 64, 96),)
    names = [meta["input"]]
    if meta.get("hint_input"):
        examples += (torch.zeros(1, 3, 64, 96),)
        names.append(meta["hint_input"])
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        examples,
        str(path),
        input_names=names,
        output_names=[RAW_OUTPUT],
        dynamic_axes={
            **{name: {0: "batch", 2: "height", 3: "width"} for name in names},
            RAW_OUTPUT: {0: "batch", 2: "out_height", 3: "out_width"},
        },
        opset_version=OPSET,
        dynamo=False,
    )
    proto = onnx.load(str(path))
    append_decoder(proto, meta, RAW_OUTPUT)
    onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(meta)})
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def decode_raw(raw: torch.Tensor, info) -> torch.Tensor:
    """The network's raw output (N, C, h, w) -> ab (N, 2, h, w) in PyTorch, as the graph should."""
    if info.head == "classification":
        return annealed_mean(raw, torch.from_numpy(info.ab_bins), info.temperature) * info.chroma_gain
    return raw * (info.ab_scale * info.chroma_gain)


def check_parity(model: ColorUNet, path: Path, seed: int = 0) -> float:
    """Largest |ab_onnx - ab_torch| over a few sizes and batches; raises ModelError past tolerance."""
    colorizer = OnnxColorizer(path)
    model = model.eval().float()
    worst = 0.0
    info = colorizer.info
    shapes = [(1, 64, 64), (3, 128, 224), (2, 256, 448)]
    for i, ((batch, height, width), hinted) in enumerate([(s, False) for s in shapes] + [(shapes[2], True)]):
        if not hinted or info.hint_input:
            lightness = probe_lightness(batch, height, width, seed + i)
            hints = probe_hints(batch, height, width, seed + i) if hinted else None
            extra = () if hints is None else (torch.from_numpy(hints),)
            with torch.no_grad():
                raw = model(torch.from_numpy(lightness[:, None]) / L_SCALE - L_SHIFT, *extra)
            expected = decode_raw(raw, info).permute(0, 2, 3, 1).numpy()
            got = colorizer.predict_ab(lightness, hints)
            worst = max(worst, float(np.abs(got - expected).max()))
    if not worst <= PARITY_TOLERANCE_AB:
        raise ModelError(f"ONNX export differs from PyTorch by {worst:.4f} ab (tolerance {PARITY_TOLERANCE_AB})")
    log.info("ONNX parity with PyTorch: max |delta ab| = %.5f (tolerance %g)", worst, PARITY_TOLERANCE_AB)
    return worst


def probe_hints(batch: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A hint plane (batch, 3, height, width) with a few random 3x3 hints, for parity checks."""
    rng = np.random.default_rng(seed)
    hints = np.zeros((batch, 3, height, width), np.float32)
    for i in range(batch):
        for _ in range(8):
            y, x = rng.integers(height - 3), rng.integers(width - 3)
            hints[i, :2, y : y + 3, x : x + 3] = rng.uniform(-0.6, 0.6, (2, 1, 1))
            hints[i, 2, y : y + 3, x : x + 3] = 1
    return hints


def load_exported(src: Path) -> tuple[onnx.ModelProto, dict, dict]:
    """An exported model, its metadata properties and its vidcolor metadata, for rewriting."""
    proto = onnx.load(str(src))
    props = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in props:
        raise ModelError(f"{src} is not a vidcolor model (no '{METADATA_KEY}' metadata)")
    return proto, props, json.loads(props[METADATA_KEY])


def upgrade(src: Path, dst: Path, seed: int = 0) -> float:
    """Rewrites a model exported before the decoder moved into the graph; the weights are kept.

    Returns the largest |ab| difference between the old model decoded by the runtime and the new
    graph, over a few random inputs; raises ModelError past the parity tolerance.
    """
    proto, props, meta = load_exported(src)
    if meta.get("decoded"):
        raise ModelError(f"{src} already decodes ab in its graph")
    old_output = meta["output"]
    for node in proto.graph.node:
        node.output[:] = [RAW_OUTPUT if name == old_output else name for name in node.output]
    meta.update(output="ab", decoded=True)
    if meta["head"] == "classification":
        meta["temperature_input"] = TEMPERATURE_INPUT
    append_decoder(proto, meta, RAW_OUTPUT)
    onnx.helper.set_model_props(proto, {**props, METADATA_KEY: json.dumps(meta)})
    onnx.checker.check_model(proto)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(dst))

    old, new = OnnxColorizer(src), OnnxColorizer(dst)
    worst = 0.0
    for i, (batch, height, width) in enumerate([(1, 64, 64), (2, 256, 448)]):
        lightness = probe_lightness(batch, height, width, seed + i)
        worst = max(worst, float(np.abs(new.predict_ab(lightness) - old.predict_ab(lightness)).max()))
    if not worst <= PARITY_TOLERANCE_AB:
        raise ModelError(f"upgraded model differs from {src} by {worst:.4f} ab (tolerance {PARITY_TOLERANCE_AB})")
    return worst


def set_render_size(src: Path, dst: Path, render_size: int) -> None:
    """Rewrites the model's preferred render size (its metadata only; the weights are kept)."""
    proto, props, meta = load_exported(src)
    meta["render_size"] = render_size
    onnx.helper.set_model_props(proto, {**props, METADATA_KEY: json.dumps(meta)})
    onnx.save(proto, str(dst))


def set_chroma_gain(src: Path, dst: Path, gain: float) -> None:
    """Rewrites the model so that its ab come out scaled by `gain` (replacing any earlier gain)."""
    if not gain > 0:
        raise ModelError(f"chroma gain must be positive, not {gain}")
    proto, props, meta = load_exported(src)
    apply_chroma_gain(proto, meta, gain)
    onnx.helper.set_model_props(proto, {**props, METADATA_KEY: json.dumps(meta)})
    onnx.checker.check_model(proto)
    onnx.save(proto, str(dst))


def set_temperature(src: Path, dst: Path, temperature: float) -> None:
    """Rewrites the annealed-mean temperature the runtime decodes with (metadata only: the graph
    takes it as an input)."""
    if not temperature > 0:
        raise ModelError(f"temperature must be positive, not {temperature}")
    proto, props, meta = load_exported(src)
    if meta["head"] != "classification":
        raise ModelError(f"{src} predicts ab directly (regression head): it has no decoding temperature")
    meta["temperature"] = float(temperature)
    onnx.helper.set_model_props(proto, {**props, METADATA_KEY: json.dumps(meta)})
    onnx.save(proto, str(dst))


def _module_name(node_name: str) -> str:
    """The module a node was traced in, from the exporter's scope name.

    '/up.0/conv/conv.0/conv.0.0/Conv' -> 'up.0.conv.0.0': each scope repeats its parent's name
    before its own (a Sequential's children are 'conv.0', 'conv.0.0', ...).
    """
    parts, previous = [], None
    for scope in node_name.strip("/").split("/")[:-1]:
        parts.append(scope[len(previous) + 1 :] if previous and scope.startswith(previous + ".") else scope)
        previous = scope
    return ".".join(parts)


def import_weights(
    model: torch.nn.Module, proto: onnx.ModelProto, path: Path
) -> list[tuple[torch.nn.BatchNorm2d, torch.Tensor]]:
    """Loads the weights of an exported model (`proto`, read from `path`) into `model` (the same
    dims), the inverse of export_onnx.

    The exporter folds each batch norm into the convolution before it. Such a convolution gets the
    folded weight and its batch norm becomes the identity plus the folded bias, which computes the
    exported function exactly in eval mode. In training mode a batch norm normalises by the
    batch's own statistics, so those layers must be recalibrated (`recalibrate`) before training:
    this returns them with their folded biases.
    """
    tensors = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy()) for t in proto.graph.initializer}
    state = model.state_dict()
    loaded = {key: tensors[key] for key in state if key in tensors}
    modules = dict(model.named_modules())
    order = list(modules)
    folded = []
    for node in proto.graph.node:
        if node.op_type != "Conv" or len(node.input) < 3 or node.input[1] in state:
            continue
        name = _module_name(node.name)
        conv = modules.get(name)
        if not isinstance(conv, torch.nn.Conv2d) or f"{name}.weight" in loaded:
            raise ModelError(f"{path}: cannot place the folded convolution {node.name} in this model")
        after = order[order.index(name) + 1 :]
        norm = next((n for n in after if isinstance(modules[n], torch.nn.BatchNorm2d)), None)
        if norm is None or modules[norm].num_features != conv.out_channels:
            raise ModelError(f"{path}: no batch norm follows {name}")
        bias = tensors[node.input[2]]
        eps = modules[norm].eps
        loaded[f"{name}.weight"] = tensors[node.input[1]]
        loaded[f"{norm}.weight"] = torch.ones_like(bias)
        loaded[f"{norm}.bias"] = bias
        loaded[f"{norm}.running_mean"] = torch.zeros_like(bias)
        loaded[f"{norm}.running_var"] = torch.full_like(bias, 1 - eps)
        loaded[f"{norm}.num_batches_tracked"] = torch.tensor(0)
        folded.append((modules[norm], bias))
    for key, tensor in loaded.items():
        # fold_same_padding exported a stride-2 3x3 kernel as a 4x4 one with a zero first row and column
        if tensor.shape[-2:] == (4, 4) and state[key].shape[-2:] == (3, 3):
            if tensor[..., 0, :].any() or tensor[..., :, 0].any():
                raise ModelError(f"{path}: {key} is 4x4 but not a padded 3x3 kernel")
            loaded[key] = tensor[..., 1:, 1:]
    missing = [key for key in state if key not in loaded]
    if missing:
        raise ModelError(f"{path}: its weights do not fit this model (missing {', '.join(missing[:4])}, ...)")
    model.load_state_dict(loaded)
    return folded


@torch.no_grad()
def recalibrate(model: torch.nn.Module, folded: list[tuple[torch.nn.BatchNorm2d, torch.Tensor]], batches) -> None:
    """Gives the batch norms of imported, folded layers real statistics, keeping their function.

    With the statistics (m, v) of each layer's input over `batches` (run in eval mode, so through
    the exported function), weight sqrt(v + eps) and bias (folded bias + m) compute the same as
    before in eval mode, and in training mode, where a batch's own statistics replace (m, v),
    about the same: the network continues where it was exported instead of from rescaled layers.
    """
    sums = {id(norm): [0.0, 0.0, 0] for norm, _ in folded}

    def record(norm, inputs):
        x = inputs[0].float()
        entry = sums[id(norm)]
        entry[0] = entry[0] + x.mean(dim=(0, 2, 3))
        entry[1] = entry[1] + (x * x).mean(dim=(0, 2, 3))
        entry[2] += 1

    hooks = [norm.register_forward_pre_hook(record) for norm, _ in folded]
    was_training = model.training
    model.eval()
    try:
        for args in batches:
            model(*args)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    for norm, bias in folded:
        total, squares, count = sums[id(norm)]
        mean = total / count
        var = (squares / count - mean * mean).clamp_min(0)
        norm.running_mean.copy_(mean)
        norm.running_var.copy_(var)
        norm.weight.copy_((var + norm.eps).sqrt())
        norm.bias.copy_(bias + mean)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m vidcolor.training.export",
        description="Rewrite an exported vidcolor model without retraining it: move its ab decoding into the "
        "graph (models exported before that change), or set its preferred render size, chroma gain or "
        "decoding temperature (any of the three at once).",
    )
    p.add_argument("model", type=Path)
    p.add_argument("--out", type=Path, help="where to write the rewritten model (default: in place)")
    p.add_argument("--render-size", type=int, help="set the preferred render size (short side, px)")
    p.add_argument(
        "--chroma-gain", type=float, help="set the factor the model's ab are multiplied by (replaces any earlier one)"
    )
    p.add_argument("--temperature", type=float, help="set the annealed-mean decoding temperature")
    args = p.parse_args(argv)
    out = args.out or args.model
    staged = out.with_name(out.name + ".rewriting")
    rewrites = [
        (set_render_size, args.render_size, "render size {:g}"),
        (set_chroma_gain, args.chroma_gain, "chroma gain {:g}"),
        (set_temperature, args.temperature, "temperature {:g}"),
    ]
    done = []
    try:
        source = args.model
        for rewrite, value, label in rewrites:
            if value is not None:
                rewrite(source, staged, value)
                source = staged
                done.append(label.format(value))
        if not done:
            done.append(f"ab within {upgrade(args.model, staged):.5f} of the old decoding")
        staged.replace(out)
    finally:
        staged.unlink(missing_ok=True)
    message = ", ".join(done)
    print(f"wrote {out}: {message}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
