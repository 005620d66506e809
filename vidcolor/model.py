"""Model runtime: an ONNX colorization model run with ONNX Runtime, driven by its metadata."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError

log = logging.getLogger(__name__)

HINT_PLANES = 3  # a hint plane: a / hint_scale, b / hint_scale, mask (1 where a hint is given)
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
    decoded: bool  # the graph outputs ab in CIE units itself (annealed mean or scaling inside the graph)
    temperature_input: str | None  # graph input taking the decoding temperature, if the graph decodes
    render_size: int  # px, preferred short side of the input
    size_multiple: int  # input height and width must be multiples of this
    output_stride: int  # the output is this many times smaller than the input
    training: dict  # how the model was made: command, data, steps, revision
    chroma_gain: float = 1.0  # the graph multiplies its ab by this (only graphs that decode ab carry one)
    hint_input: str | None = None  # graph input of colour hints (N, 3, H, W), if the model takes them
    hint_scale: float = 110.0  # the hint plane holds a / hint_scale, b / hint_scale and a 0/1 mask

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
                decoded=bool(meta.get("decoded", False)),
                temperature_input=meta.get("temperature_input"),
                render_size=int(meta["render_size"]),
                size_multiple=int(meta["size_multiple"]),
                output_stride=int(meta["output_stride"]),
                training=dict(meta.get("training", {})),
                chroma_gain=float(meta.get("chroma_gain", 1.0)),
                hint_input=meta.get("hint_input"),
                hint_scale=float(meta.get("hint_scale", 110.0)),
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

    def graph_inputs(self, scaled: np.ndarray, hints: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The feeds of one model call, given the scaled L batch (N, 1, H, W) float32 and, for a
        model with hint inputs, its hint plane (N, 3, H, W) (None: no hints, all zero)."""
        feeds = {self.input_name: scaled}
        if self.hint_input:
            n, _, h, w = scaled.shape
            feeds[self.hint_input] = np.zeros((n, HINT_PLANES, h, w), np.float32) if hints is None else hints
        elif hints is not None:
            raise ModelError("this model takes no colour hints (it was trained without hint inputs)")
        if self.temperature_input:
            feeds[self.temperature_input] = np.array([self.temperature], dtype=np.float32)
        return feeds

    def scale(self, lightness: np.ndarray) -> np.ndarray:
        """L (N, H, W) in [0, 100] -> the network's input (N, 1, H, W) float32."""
        return (lightness[:, None] / self.l_scale - self.l_shift).astype(np.float32)

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """The graph's output (N, C, h, w) -> ab (N, h, w, 2) float32."""
        if self.decoded:
            ab = raw
        elif self.head == "regression":
            ab = raw * self.ab_scale
        else:
            ab = annealed_mean(raw, self.ab_bins, self.temperature)
        return np.ascontiguousarray(ab.transpose(0, 2, 3, 1), dtype=np.float32)


def annealed_mean(logits: np.ndarray, bins: np.ndarray, temperature: float) -> np.ndarray:
    """Logits (N, Q, h, w) over ab bins (Q, 2) -> ab (N, 2, h, w).

    The annealed mean of Zhang et al. 2016: the mean of the softmax sharpened by a temperature
    below 1, between the washed-out mean and the noisy mode. Models exported since the decoder
    moved into the graph never need this; it decodes older ones.
    """
    n, q, h, w = logits.shape
    z = logits.reshape(n, q, h * w) * np.float32(1 / temperature)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    ab = np.matmul(bins.T[None], z) / z.sum(axis=1)[:, None]
    return ab.reshape(n, 2, h, w)


def probe_lightness(batch: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """(batch, height, width) float32 L* for checking and timing a model without footage: random
    values on a 1/16 grid, smoothly interpolated, so the logits look like a photo's, not noise's."""
    import cv2

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 100, (batch, max(1, height // 16), max(1, width // 16))).astype(np.float32)
    return np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in coarse])


def default_threads() -> int:
    # Every core: the model is the slowest stage, and with spinning off (below) its threads give
    # the cores back to decode and encode whenever they wait. On 2 cores, 2 threads ran dog_path
    # at 0.30 of a plain transcode and 1 thread at 0.27 (vidcolor bench, 2026-11-23).
    return max(1, os.cpu_count() or 1)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (a model's identity in engine caches and run checkpoints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_info(path: str | Path) -> ModelInfo:
    """The contract of a vidcolor ONNX model, read with ONNX Runtime (no other dependency)."""
    return OnnxColorizer(path, threads=1).info


class Colorizer:
    """A model runtime: L (N, H, W) in [0, 100] -> ab (N, H/stride, W/stride, 2) float32.

    Every backend (ONNX Runtime, TensorRT, PyTorch) implements `predict_ab` for the same model
    file and contract; `device` and `backend` name what actually runs, for the log and stats.
    """

    info: ModelInfo
    path: Path
    device: str = "cpu"
    backend: str = "onnxruntime"

    @property
    def name(self) -> str:
        """How the run reports it: backend and where it runs, e.g. 'onnxruntime-cpu', 'tensorrt-cuda'."""
        return f"{self.backend}-{self.device}"

    def predict_ab(self, lightness: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError


class OnnxColorizer(Colorizer):
    """A vidcolor ONNX model run with ONNX Runtime on the given execution providers.

    `providers` is ONNX Runtime's list of (name, options) in order of preference; on CPU it is
    just the CPU provider. With a CUDA or TensorRT provider the input is bound to the GPU and the
    output stays there until copied back (IO binding), so ORT does not stage copies per call.
    """

    def __init__(self, path: str | Path, threads: int | None = None, providers: list | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        # Idle ONNX Runtime threads spin by default, taking CPU from the decoder and encoder threads
        # beside them: 0.27 -> 0.30 of a plain transcode without spinning on dog_path (2 cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors for bad files
            raise ModelError(f"cannot load model {path}: {e}") from e
        raw = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if raw is None:
            raise ModelError(f"{path} is not a vidcolor model (no '{METADATA_KEY}' metadata)")
        self.info = ModelInfo.from_metadata(json.loads(raw))
        self.path = path
        self.provider = self.session.get_providers()[0]
        self.device = "cpu" if self.provider == "CPUExecutionProvider" else "cuda"
        self.backend = "onnxruntime"
        # Where the output is bound with IO binding; None: a plain session.run (the CPU provider).
        self.binding_device: str | None = None if self.device == "cpu" else "cuda"

    def run(self, lightness: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        """L (N, H, W) -> the graph's output (N, C, h, w)."""
        feeds = self.info.graph_inputs(self.info.scale(lightness), hints)
        if self.binding_device is None:
            return self.session.run([self.info.output_name], feeds)[0]
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, value)  # copied to the device once, by ORT
        binding.bind_output(self.info.output_name, self.binding_device)  # allocated there by ORT
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    def predict_ab(self, lightness: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        return self.info.decode(self.run(lightness, hints))
