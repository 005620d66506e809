"""The native TensorRT backend: fp16 engines built from the ONNX model, cached on disk, run async.

An engine is specific to the model, the TensorRT version, the GPU, the precision and the input
shapes it was optimized for, so the cache key holds all of them (`EngineKey`). Building takes
tens of seconds; `vidcolor engines build` does it ahead of a run, and a run builds on a miss.

TensorRT is pinned below 11: TensorRT 11 removed `BuilderFlag.FP16` (weakly typed precision), and
this module asks for fp16 that way. Device buffers and the CUDA stream are torch's (the
`tensorrt` extra installs torch), so no second CUDA binding is needed.

Verified where: the cache keys, the cache folder and the refusal of a missing TensorRT are tested
on CPU, and so is the build's sequence of calls and files, against a stand-in `tensorrt` module.
Building and running an engine has not run on any machine we have (TensorRT cannot be installed
there); the calls follow the TensorRT 10 Python API documentation.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError
from .model import HINT_PLANES, Colorizer, file_sha256, read_info

log = logging.getLogger(__name__)

ENGINE_DIR_ENV = "VIDCOLOR_ENGINES"  # overrides where engines are cached
WORKSPACE_BYTES = 2 << 30  # builder scratch memory limit, 2 GiB


@dataclass(frozen=True)
class Profile:
    """One optimization profile: the batch range and the render shape (height, width) it serves."""

    height: int
    width: int
    min_batch: int = 1
    opt_batch: int = 8
    max_batch: int = 8

    def shapes(self, channels: int = 1) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) shapes of the (N, 1, H, W) input, or of an input of `channels` (hints: 3)."""
        return tuple((n, channels, self.height, self.width) for n in (self.min_batch, self.opt_batch, self.max_batch))

    def tag(self) -> str:
        return f"b{self.min_batch}-{self.opt_batch}-{self.max_batch}_{self.height}x{self.width}"


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; two runs share an engine only if all of it matches."""

    model_sha256: str
    tensorrt: str  # TensorRT version
    gpu: str  # device name
    compute_capability: str  # e.g. "9.0"
    precision: str  # "fp16" or "fp32"
    profile: Profile

    def device_tag(self) -> str:
        """The TensorRT version and the GPU, as they appear in file names."""
        gpu = re.sub(r"[^A-Za-z0-9]+", "-", self.gpu).strip("-").lower()
        return f"trt{self.tensorrt}_{gpu}_sm{self.compute_capability.replace('.', '')}"

    def filename(self) -> str:
        return f"{self.model_sha256[:16]}_{self.device_tag()}_{self.precision}_{self.profile.tag()}.engine"

    def timing_cache_filename(self) -> str:
        # TensorRT refuses a timing cache made on a GPU with other device properties, and two GPUs
        # of one architecture (H100, H200: both sm90) differ in them.
        return f"timing_{self.device_tag()}.cache"

    def to_dict(self) -> dict:
        return asdict(self)


def engine_dir() -> Path:
    """Where engines are cached: $VIDCOLOR_ENGINES, else `engines/` of the source checkout vidcolor
    runs from, else the user cache folder."""
    if os.environ.get(ENGINE_DIR_ENV):
        return Path(os.environ[ENGINE_DIR_ENV])
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "engines").is_dir():
        return checkout / "engines"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vidcolor" / "engines"


def import_tensorrt():
    """The tensorrt module, or a ModelError naming the pip extra."""
    try:
        import tensorrt as trt
    except ImportError as e:
        raise ModelError("the tensorrt backend needs TensorRT: pip install 'vidcolor[tensorrt]'") from e
    if not hasattr(trt.BuilderFlag, "FP16"):
        raise ModelError(f"TensorRT {trt.__version__} has no FP16 builder flag; vidcolor needs TensorRT 10")
    return trt


def torch_dtype(dtype):
    """The torch dtype of a TensorRT `DataType`, for buffers the engine reads or writes."""
    import torch

    dtypes = {
        "FLOAT": torch.float32,
        "HALF": torch.float16,
        "BF16": torch.bfloat16,
        "INT8": torch.int8,
        "UINT8": torch.uint8,
        "INT32": torch.int32,
        "INT64": torch.int64,
        "BOOL": torch.bool,
    }
    if dtype.name not in dtypes:
        raise ModelError(f"the engine has a tensor of type {dtype.name}, which vidcolor cannot hold")
    return dtypes[dtype.name]


def engine_key(model: Path, profile: Profile, precision: str = "fp16") -> EngineKey:
    import torch

    trt = import_tensorrt()
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return EngineKey(
        model_sha256=file_sha256(model),
        tensorrt=trt.__version__,
        gpu=props.name,
        compute_capability=f"{props.major}.{props.minor}",
        precision=precision,
        profile=profile,
    )


def build_engine(model: Path, key: EngineKey, cache: Path) -> Path:
    """Builds the engine for `key` from the ONNX file into `cache`; returns its path."""
    trt = import_tensorrt()
    info = read_info(model)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"TensorRT cannot parse {model}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if key.precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape(info.input_name, *key.profile.shapes())
    if info.hint_input:
        profile.set_shape(info.hint_input, *key.profile.shapes(HINT_PLANES))
    config.add_optimization_profile(profile)
    timing_path = cache / key.timing_cache_filename()
    timing = _timing_cache(config, timing_path)
    log.info("building a TensorRT engine for %s (%s); this takes a while once", model.name, key.profile.tag())
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"TensorRT could not build an engine for {model}")
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / key.filename()
    _write_atomically(path, bytes(serialized))
    path.with_suffix(".json").write_text(json.dumps(key.to_dict(), indent=2))
    # The builder added what it timed to the cache it was given.
    _write_atomically(timing_path, bytes(timing.serialize()))
    return path


def _timing_cache(config, path: Path):
    """The timing cache saved at `path`, attached to the builder `config`; a fresh one where there
    is none or TensorRT refuses it (another GPU or TensorRT, or damaged)."""
    if path.is_file():
        timing = config.create_timing_cache(path.read_bytes())
        if timing is not None and config.set_timing_cache(timing, ignore_mismatch=False):
            return timing
        log.info("TensorRT refused the timing cache %s; timing every layer again", path)
    timing = config.create_timing_cache(b"")
    config.set_timing_cache(timing, ignore_mismatch=False)  # a new cache has no header to mismatch
    return timing


def _write_atomically(path: Path, data: bytes) -> None:
    """Writes through a `.partial` file beside `path`, so a killed build never leaves half a file
    for a later run to find."""
    staged = path.with_suffix(".partial")
    staged.write_bytes(data)
    staged.replace(path)


def cached_engine(model: Path, profile: Profile, precision: str = "fp16", cache: Path | None = None) -> Path:
    """The engine for this model, GPU and profile: from the cache, or built into it."""
    cache = cache or engine_dir()
    key = engine_key(model, profile, precision)
    path = cache / key.filename()
    if path.is_file():
        log.info("TensorRT engine from the cache: %s", path)
        return path
    return build_engine(model, key, cache)


class TensorRTColorizer(Colorizer):
    """Runs a cached fp16 TensorRT engine with `execute_async_v3` on its own CUDA stream."""

    def __init__(self, path: str | Path, profile: Profile, precision: str = "fp16", cache: Path | None = None):
        import torch

        trt = import_tensorrt()
        self.path = Path(path)
        self.info = read_info(self.path)
        self.profile = profile
        self.device, self.backend = "cuda", "tensorrt"
        engine_path = cached_engine(self.path, profile, precision, cache)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise ModelError(f"TensorRT cannot load {engine_path}; delete it to rebuild")
        self.context = self.engine.create_execution_context()
        self.output_dtype = torch_dtype(self.engine.get_tensor_dtype(self.info.output_name))
        self.stream = torch.cuda.Stream()
        self.torch = torch

    def predict_ab(self, lightness: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        torch = self.torch
        n = len(lightness)
        if n > self.profile.max_batch or lightness.shape[1:] != (self.profile.height, self.profile.width):
            raise ModelError(f"batch {lightness.shape} is outside the engine's profile {self.profile.tag()}")
        with torch.cuda.stream(self.stream):
            feeds = {
                name: torch.from_numpy(value).pin_memory().to("cuda", non_blocking=True)
                for name, value in self.info.graph_inputs(self.info.scale(lightness), hints).items()
            }
            for name, tensor in feeds.items():
                if not self.context.set_input_shape(name, tuple(tensor.shape)):
                    raise ModelError(f"TensorRT refused the shape {tuple(tensor.shape)} of input {name}")
                self.context.set_tensor_address(name, tensor.data_ptr())
            out_shape = tuple(self.context.get_tensor_shape(self.info.output_name))
            out = torch.empty(out_shape, dtype=self.output_dtype, device="cuda")
            self.context.set_tensor_address(self.info.output_name, out.data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise ModelError("TensorRT failed to run the engine")
            host = out.to("cpu", non_blocking=False)
        return self.info.decode(host.float().numpy())
