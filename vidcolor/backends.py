"""Which runtime runs the model: `--device auto|cpu|cuda` and `--backend auto|onnxruntime|tensorrt|torch`.

`auto` takes the first available entry of `AUTO_ORDER` for the device, the fastest we expect
there. A backend asked for by name that cannot run fails with one line naming the pip extra; it
never falls back to another. Nothing heavy is imported until a backend is chosen: the CPU
default needs neither torch nor TensorRT.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError, reason
from .model import HINT_PLANES, Colorizer, OnnxColorizer, read_info

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "onnxruntime", "tensorrt", "torch")
# The order `--backend auto` tries, fastest expected first. On CPU, ONNX Runtime ran the default
# model in 48 ms per 256x448 frame against 84 ms for torch (2 cores, 2026-11-23), so torch is
# there only when asked for. The CUDA order is NVIDIA's documented expectation, not yet measured here.
AUTO_ORDER = {"cpu": ("onnxruntime",), "cuda": ("tensorrt", "onnxruntime", "torch")}
EXTRAS = {"onnxruntime": "gpu", "tensorrt": "tensorrt", "torch": "torch"}  # pip extra per GPU backend
# The TensorRT libraries ONNX Runtime's TensorRT provider is linked against: onnxruntime-gpu 1.18 on
# is built with TensorRT 10 (its setup.py lists these as the provider's external dependencies).
ORT_TENSORRT_LIBRARIES = ("libnvinfer.so.10", "libnvinfer_plugin.so.10", "libnvonnxparser.so.10")


@dataclass(frozen=True)
class RuntimeRequest:
    """What the run asks of the model runtime."""

    model: Path
    device: str = "auto"
    backend: str = "auto"
    threads: int | None = None  # CPU threads of the model
    batch_size: int = 8  # largest batch, for the TensorRT optimization profiles
    render_shape: tuple[int, int] | None = None  # (height, width) the model will see, when known
    cuda_graphs: bool = False  # torch backend on CUDA: replay the model as a CUDA graph


def cuda_device_count() -> int:
    """NVIDIA GPUs visible to the CUDA driver; 0 without a driver. Asks libcuda, so no torch is needed."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _extra(backend: str) -> str:
    return f"pip install 'vidcolor[{EXTRAS[backend]}]'"


def unavailable(backend: str, device: str) -> str | None:
    """Why `backend` cannot run on `device` here, or None if it can."""
    if device == "cpu":
        if backend == "tensorrt":
            return "TensorRT runs on NVIDIA GPUs only; use --device cuda"
        if backend == "torch" and not (_installed("torch") and _installed("onnx")):
            return f"the torch backend needs PyTorch and onnx: {_extra('torch')}"
        return None
    if backend == "onnxruntime":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return (
                "this onnxruntime has no CUDA provider: pip uninstall onnxruntime, then "
                f"{_extra('onnxruntime')} (it installs onnxruntime-gpu)"
            )
        return None
    if backend == "tensorrt" and not (_installed("tensorrt") and _installed("torch")):
        return f"the tensorrt backend needs TensorRT and PyTorch: {_extra('tensorrt')}"
    if not (_installed("torch") and _installed("onnx")):
        return f"the {backend} backend needs PyTorch and onnx: {_extra(backend)}"
    import torch

    if not torch.cuda.is_available():
        return f"this PyTorch ({torch.__version__}) cannot use CUDA: install a CUDA build of torch"
    return None


def resolve(device: str, backend: str) -> tuple[str, str]:
    """(device, backend) to use for a request; raises ModelError if that cannot run here.

    `--device auto` tries the GPU first when one is visible, then the CPU; `--backend auto` takes
    the first backend of AUTO_ORDER that can run on the device. A device or backend given by name
    is used or refused, never swapped.
    """
    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}: choose from {', '.join(DEVICES)}")
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}: choose from {', '.join(BACKENDS)}")
    has_gpu = cuda_device_count() > 0
    if device == "cuda" and not has_gpu:
        raise ModelError("--device cuda: no NVIDIA GPU is visible (no CUDA driver or no device)")
    devices = [device] if device != "auto" else (["cuda", "cpu"] if has_gpu else ["cpu"])
    reasons: list[str] = []
    for candidate_device in devices:
        for candidate in AUTO_ORDER[candidate_device] if backend == "auto" else (backend,):
            reason = unavailable(candidate, candidate_device)
            if reason is None:
                if candidate_device == "cpu" and has_gpu and device == "auto":
                    log.warning(
                        "an NVIDIA GPU is visible but no GPU backend can run, so the model runs on the CPU: %s",
                        "; ".join(reasons),
                    )
                return candidate_device, candidate
            log.debug("%s on %s unavailable: %s", candidate, candidate_device, reason)
            reasons.append(reason)
    raise ModelError(reasons[0] if len(reasons) == 1 else "no backend can run: " + "; ".join(reasons))


def _onnxruntime(request: RuntimeRequest, device: str) -> Colorizer:
    if device == "cpu":
        return OnnxColorizer(request.model, threads=request.threads)
    colorizer = OnnxColorizer(request.model, threads=request.threads, providers=ort_gpu_providers(request))
    if colorizer.provider == "CPUExecutionProvider":
        raise ModelError("onnxruntime could not start its CUDA provider (see its log above)")
    return colorizer


def ort_tensorrt_unavailable() -> str | None:
    """Why ONNX Runtime's TensorRT provider cannot start here, or None if it can.

    onnxruntime-gpu lists the provider whether or not TensorRT is installed; without it, session
    creation prints an "EP Error" block to stdout and retries on CUDA. The provider is a library
    that ONNX Runtime loads at session creation, and the dynamic linker must then find the
    TensorRT libraries it links: on the library path, or already loaded into the process.
    """
    import onnxruntime as ort

    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        return "this onnxruntime was built without the TensorRT provider"
    if _installed("tensorrt"):
        try:
            # TensorRT's pip wheels keep their libraries in site-packages, off the library path, and
            # load them when imported; the linker then finds them by name for ONNX Runtime too.
            import tensorrt  # noqa: F401
        except (ImportError, OSError) as e:
            log.debug("the tensorrt package does not import (%s)", e)
    for library in ORT_TENSORRT_LIBRARIES:
        try:
            ctypes.CDLL(library)
        except OSError as e:
            return f"{library} cannot be loaded ({reason(e)})"
    return None


def ort_gpu_providers(request: RuntimeRequest) -> list:
    """ONNX Runtime's GPU providers, best first: TensorRT (fp16, cached engines, explicit shape
    profiles) where its libraries load and the frame size is known, then CUDA."""
    from .trt_engine import ENGINE_DIR_ENV, Profile, engine_dir

    providers: list = []
    missing = ort_tensorrt_unavailable() if request.render_shape else "the frame size is not known in advance"
    if missing:
        log.debug("onnxruntime runs without its TensorRT provider: %s", missing)
    else:
        info = read_info(request.model)
        profile = Profile(*request.render_shape, opt_batch=request.batch_size, max_batch=request.batch_size)
        cache = engine_dir() / "onnxruntime"
        try:
            # The provider creates only the last folder of its cache path; without the rest it fails,
            # and ONNX Runtime falls back to CUDA.
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ModelError(
                f"cannot create the engine cache {cache} ({reason(e)}); set {ENGINE_DIR_ENV} to a writable folder"
            ) from e

        def spec(shape: tuple[int, ...]) -> str:
            # one "name:NxCxHxW" per graph input, comma-separated (the provider's documented format)
            specs = [f"{info.input_name}:{'x'.join(map(str, shape))}"]
            if info.hint_input:
                specs.append(f"{info.hint_input}:{'x'.join(map(str, (shape[0], HINT_PLANES, *shape[2:])))}")
            return ",".join(specs)

        low, opt, high = profile.shapes()
        providers.append(
            (
                "TensorrtExecutionProvider",
                {
                    "device_id": 0,
                    "trt_fp16_enable": True,
                    "trt_engine_cache_enable": True,
                    "trt_engine_cache_path": str(cache),
                    "trt_timing_cache_enable": True,
                    "trt_timing_cache_path": str(cache),
                    "trt_profile_min_shapes": spec(low),
                    "trt_profile_opt_shapes": spec(opt),
                    "trt_profile_max_shapes": spec(high),
                },
            )
        )
    providers.append(("CUDAExecutionProvider", {"device_id": 0}))
    return providers


def _tensorrt(request: RuntimeRequest, device: str) -> Colorizer:
    from .trt_engine import Profile, TensorRTColorizer

    if request.render_shape is None:
        raise ModelError("the tensorrt backend needs the frame size before the run starts")
    profile = Profile(*request.render_shape, opt_batch=request.batch_size, max_batch=request.batch_size)
    return TensorRTColorizer(request.model, profile)


def _torch(request: RuntimeRequest, device: str) -> Colorizer:
    from .torch_runtime import TorchColorizer

    return TorchColorizer(request.model, device=device, threads=request.threads, cuda_graphs=request.cuda_graphs)


FACTORIES: dict[str, Callable[[RuntimeRequest, str], Colorizer]] = {
    "onnxruntime": _onnxruntime,
    "tensorrt": _tensorrt,
    "torch": _torch,
}


def load_colorizer(request: RuntimeRequest) -> Colorizer:
    """The model, loaded on the device and backend the request resolves to."""
    device, backend = resolve(request.device, request.backend)
    if request.cuda_graphs and (device, backend) != ("cuda", "torch"):
        raise ModelError(f"--cuda-graphs is for the torch backend on CUDA; this run would use {backend} on {device}")
    colorizer = FACTORIES[backend](request, device)
    log.info("model %s on %s with %s", request.model.name, device, colorizer.name)
    return colorizer
