"""Model runtime: an ONNX colorization model run with ONNX Runtime, driven by its metadata."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError

log = logging.getLogger(__name__)

METADATA_KEY = "vidcolor"  # ONNX metadata_props key holding the model's I/O contract as JSON
DEFAULT_MODEL = Path(__file__).parent / "models" / "default.onnx"


@dataclass(frozen=True)
class ModelInfo:
    """The I/O contract a vidcolor ONNX model carries in its metadata."""

    input_name: str  # name of the (N, 1, H, W) float32 input
    output_name: str
    l_scale: float  # the network sees L / l_scale - l_shift
    l_shift: float
    head: str  # "classification": logits over ab_bins; "regression": ab / ab_scale
    ab_scale: float
    ab_bins: np.ndarray | None  # (Q, 2) ab centres of the classification bins
    temperature: float  # annealed-mean decoding temperature (classification)
    render_size: int  # px, preferred short side of the input
    size_multiple: int  # input height and width must be multiples of this
    output_stride: int  # the output is this many times smaller than the input
    training: dict  # how the model was made: command, data, steps, revision

    @classmethod
    def from_metadata(cls, meta: dict) -> ModelInfo:
        try:
            if meta.get("format") != 1:
                raise ModelError(f"unsupported model format {meta.get('format')!r}")
            head = meta["head"]
            if head not in ("classification", "regression"):
                raise ModelError(f"unknown model head {head!r}")
            bins = np.asarray(meta["ab_bins"], dtype=np.float32) if head == "classification" else None
            return cls(
                input_name=meta["input"],
                output_name=meta["output"],
                l_scale=float(meta["l_scale"]),
                l_shift=float(meta["l_shift"]),
                head=head,
                ab_scale=float(meta.get("ab_scale", 1.0)),
                ab_bins=bins,
                temperature=float(meta.get("temperature", 1.0)),
                render_size=int(meta["render_size"]),
                size_multiple=int(meta["size_multiple"]),
                output_stride=int(meta["output_stride"]),
                training=dict(meta.get("training", {})),
            )
        except KeyError as e:
            raise ModelError(f"model metadata lacks {e.args[0]!r}") from e

    def render_shape(self, height: int, width: int, render_size: int | None = None) -> tuple[int, int]:
        """(height, width) the model sees for a frame: short side near render_size, multiples kept."""
        short = render_size or self.render_size
        scale = short / min(height, width)
        m = self.size_multiple

        def fit(n: int) -> int:
            return max(m, int(round(n * scale / m)) * m)

        return fit(height), fit(width)


def _default_threads() -> int:
    # Leave room for decode and encode, which run beside the model in their own threads.
    return max(1, (os.cpu_count() or 2) // 2)


class OnnxColorizer:
    """Runs a vidcolor ONNX model: L (N, H, W) in [0, 100] -> ab (N, H/stride, W/stride, 2)."""

    def __init__(self, path: str | Path, threads: int | None = None, providers: list | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or _default_threads()
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors for bad files
            raise ModelError(f"cannot load model {path}: {e}") from e
        raw = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if raw is None:
            raise ModelError(f"{path} is not a vidcolor model (no '{METADATA_KEY}' metadata)")
        self.info = ModelInfo.from_metadata(json.loads(raw))
        self.path = path

    def run(self, lightness: np.ndarray) -> np.ndarray:
        """L (N, H, W) -> the network's raw output (N, C, h, w)."""
        x = (lightness[:, None] / self.info.l_scale - self.info.l_shift).astype(np.float32)
        return self.session.run([self.info.output_name], {self.info.input_name: x})[0]

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """Raw output (N, C, h, w) -> ab (N, h, w, 2), float32."""
        info = self.info
        if info.head == "regression":
            return np.ascontiguousarray(raw.transpose(0, 2, 3, 1) * info.ab_scale, dtype=np.float32)
        # Annealed mean (Zhang et al. 2016): the mean of the softmax sharpened by a temperature
        # below 1, between the washed-out mean and the noisy mode.
        z = raw.transpose(0, 2, 3, 1) / info.temperature
        z = z - z.max(axis=-1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=-1, keepdims=True)
        return (z @ info.ab_bins).astype(np.float32)

    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        return self.decode(self.run(lightness))
