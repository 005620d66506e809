"""Export a trained network to ONNX with its I/O contract, and check it against PyTorch."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnx
import torch

from vidcolor.errors import ModelError
from vidcolor.model import METADATA_KEY, OnnxColorizer

from .model import AB_SCALE, L_SCALE, L_SHIFT, OUTPUT_STRIDE, SIZE_MULTIPLE, ColorUNet

log = logging.getLogger(__name__)

OPSET = 17
# Parity: ab decoded from the ONNX output may differ from PyTorch's by at most this much, in
# CIE ab units (a just-noticeable colour difference is about 2).
PARITY_TOLERANCE_AB = 0.05


def contract(model: ColorUNet, bins: np.ndarray | None, temperature: float, render_size: int, info: dict) -> dict:
    """The metadata the runtime reads instead of hard-coding anything about the model."""
    dims = model.dims
    meta = {
        "format": 1,
        "input": "L",
        "output": "logits" if dims.head == "classification" else "ab",
        "l_scale": L_SCALE,
        "l_shift": L_SHIFT,
        "ab_scale": AB_SCALE,
        "head": dims.head,
        "output_stride": OUTPUT_STRIDE,
        "size_multiple": SIZE_MULTIPLE,
        "render_size": render_size,
        "dims": dims.to_dict(),
        "training": info,
    }
    if dims.head == "classification":
        meta["ab_bins"] = np.round(bins, 3).tolist()
        meta["temperature"] = temperature
    return meta


def export_onnx(model: ColorUNet, path: Path, meta: dict) -> None:
    model = model.eval().float()
    example = torch.zeros(1, 1, 64, 96)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=[meta["input"]],
        output_names=[meta["output"]],
        dynamic_axes={
            meta["input"]: {0: "batch", 2: "height", 3: "width"},
            meta["output"]: {0: "batch", 2: "out_height", 3: "out_width"},
        },
        opset_version=OPSET,
        dynamo=False,
    )
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(meta)})
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def check_parity(model: ColorUNet, path: Path, seed: int = 0) -> float:
    """Largest |ab_onnx - ab_torch| over a few sizes and batches; raises ModelError past tolerance."""
    rng = np.random.default_rng(seed)
    colorizer = OnnxColorizer(path)
    model = model.eval().float()
    worst = 0.0
    for batch, height, width in [(1, 64, 64), (3, 128, 224), (2, 256, 448)]:
        # Smooth random images: closer to photos than white noise, so the logits are realistic.
        small = rng.uniform(0, 100, size=(batch, 1, height // 16, width // 16)).astype(np.float32)
        lightness = torch.nn.functional.interpolate(torch.from_numpy(small), size=(height, width), mode="bilinear")
        with torch.no_grad():
            raw = model(lightness / L_SCALE - L_SHIFT).numpy()
        expected = colorizer.decode(raw)
        got = colorizer.predict_ab(lightness.numpy()[:, 0])
        worst = max(worst, float(np.abs(got - expected).max()))
    if not worst <= PARITY_TOLERANCE_AB:
        raise ModelError(f"ONNX export differs from PyTorch by {worst:.4f} ab (tolerance {PARITY_TOLERANCE_AB})")
    log.info("ONNX parity with PyTorch: max |delta ab| = %.5f (tolerance %g)", worst, PARITY_TOLERANCE_AB)
    return worst
