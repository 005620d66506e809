"""Model runtimes: device and backend selection, clear refusals, the torch backend against ONNX
Runtime, ONNX Runtime's GPU provider options, and the TensorRT engine cache."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import read_video, run_cli

from vidcolor import backends, colorize, trt_engine
from vidcolor.backends import RuntimeRequest, load_colorizer, ort_gpu_providers, resolve
from vidcolor.engines_cli import list_engines
from vidcolor.errors import ModelError
from vidcolor.media import set_decode_threads
from vidcolor.model import DEFAULT_MODEL, OnnxColorizer, probe_lightness, read_info
from vidcolor.stages.source import _decoder_name
from vidcolor.trt_engine import EngineKey, Profile, cached_engine, engine_dir


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(backends, "cuda_device_count", lambda: 0)


@pytest.fixture
def fake_gpu(monkeypatch):
    """A GPU the driver reports, with only the CPU runtimes of this machine installed."""
    monkeypatch.setattr(backends, "cuda_device_count", lambda: 1)


def test_auto_on_a_machine_without_gpu_is_onnxruntime_on_cpu(no_gpu):
    assert resolve("auto", "auto") == ("cpu", "onnxruntime")
    assert resolve("cpu", "torch") == ("cpu", "torch")


@pytest.mark.parametrize(
    ("device", "backend", "message"),
    [
        ("cpu", "tensorrt", "--device cuda"),
        ("cuda", "auto", "no NVIDIA GPU"),
        ("cuda", "torch", "no NVIDIA GPU"),
        ("tpu", "auto", "unknown device"),
        ("cpu", "openvino", "unknown backend"),
    ],
)
def test_impossible_requests_are_refused(no_gpu, device, backend, message):
    with pytest.raises(ModelError, match=message):
        resolve(device, backend)


@pytest.mark.parametrize(
    ("backend", "extra"),
    [("onnxruntime", "vidcolor[gpu]"), ("tensorrt", "vidcolor[tensorrt]"), ("torch", "cannot use CUDA")],
)
def test_a_named_gpu_backend_that_is_missing_names_its_extra(fake_gpu, backend, extra):
    # This machine has CPU-only onnxruntime and torch and no TensorRT: each is refused, none swapped.
    with pytest.raises(ModelError, match=extra.replace("[", r"\[").replace("]", r"\]")):
        resolve("cuda", backend)


def test_a_gpu_without_gpu_runtimes_runs_auto_on_cpu_and_says_so(fake_gpu, caplog):
    with caplog.at_level(logging.WARNING, logger="vidcolor.backends"):
        assert resolve("auto", "auto") == ("cpu", "onnxruntime")
    assert "GPU is visible" in caplog.text and "vidcolor[gpu]" in caplog.text


def test_missing_torch_names_the_torch_extra(no_gpu, monkeypatch):
    real = backends._installed
    monkeypatch.setattr(backends, "_installed", lambda m: False if m == "torch" else real(m))
    with pytest.raises(ModelError, match=r"vidcolor\[torch\]"):
        resolve("cpu", "torch")


def test_torch_backend_matches_onnxruntime():
    lightness = probe_lightness(2, 128, 224)
    expected = OnnxColorizer(DEFAULT_MODEL).predict_ab(lightness)
    torch_fp32 = load_colorizer(RuntimeRequest(DEFAULT_MODEL, device="cpu", backend="torch"))
    assert torch_fp32.name == "torch-cpu"
    got = torch_fp32.predict_ab(lightness)
    assert got.shape == expected.shape == (2, 32, 56, 2)
    assert np.abs(got - expected).max() < 1e-2
    assert np.abs(expected).mean() > 1  # the comparison is between colours, not two grey maps

    from vidcolor.torch_runtime import TorchColorizer

    # fp16, as on the GPU: within a fraction of a just-noticeable difference (about 2 ab units).
    half = TorchColorizer(DEFAULT_MODEL, device="cpu", half=True).predict_ab(lightness)
    assert np.abs(half - expected).max() < 1.0


def test_onnxruntime_io_binding_gives_what_a_plain_run_gives(monkeypatch):
    """The CUDA and TensorRT providers run through IO binding, which this machine cannot reach on a
    GPU; the same calls bound to the CPU check every input (L and the temperature) and the output
    are bound by their names and the output comes back whole."""
    lightness = probe_lightness(3, 64, 96)
    colorizer = OnnxColorizer(DEFAULT_MODEL)
    assert colorizer.binding_device is None  # the CPU provider: a plain run
    expected = colorizer.run(lightness)
    colorizer.binding_device = "cpu"

    def no_plain_run(*args, **kwargs):
        raise AssertionError("a bound colorizer must not call session.run")

    monkeypatch.setattr(colorizer.session, "run", no_plain_run)
    got = colorizer.run(lightness)
    assert got.shape == expected.shape and got.shape[0] == 3
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_torch_backend_refuses_an_operator_it_cannot_run(tiny_model, tmp_path):
    """The tiny model with its AveragePool swapped for LpPool, an operator the torch backend does
    not implement: it must say which, when it is built, not fail mid-run."""
    import onnx

    from vidcolor.torch_runtime import TorchColorizer

    model = onnx.load(str(tiny_model))
    pool = next(node for node in model.graph.node if node.op_type == "AveragePool")
    pool.op_type = "LpPool"
    del pool.attribute[:]
    pool.attribute.extend(
        [onnx.helper.make_attribute("kernel_shape", [4, 4]), onnx.helper.make_attribute("strides", [4, 4])]
    )
    path = tmp_path / "lppool.onnx"
    onnx.save(model, str(path))
    TorchColorizer(tiny_model, device="cpu")  # the model as it is runs
    with pytest.raises(ModelError, match="LpPool"):
        TorchColorizer(path, device="cpu")


def test_cuda_graph_capture_is_thread_local_and_fed_in_the_graph_dtype(monkeypatch):
    """The CUDA-graph path on the CPU, torch.cuda stood in: the capture must tolerate CUDA work on
    other threads (colour stage, NVDEC), and L goes through pinned buffers of the graph input's
    dtype, so that the copy to the GPU needs no pageable temporary: float32, as numpy has it (the
    graph casts it to fp16; numpy's own fp16 conversion had been slower than the model)."""
    torch = pytest.importorskip("torch")
    from vidcolor.torch_runtime import TorchColorizer

    class Stream:
        def wait_stream(self, other):
            pass

    captures = []

    @contextlib.contextmanager
    def graph(cuda_graph, **options):
        captures.append(options)
        yield

    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", Stream)
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: types.SimpleNamespace(replay=lambda: None))
    monkeypatch.setattr(torch.cuda, "graph", graph)
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda tensor: tensor)  # no GPU to pin memory for
    colorizer = TorchColorizer(DEFAULT_MODEL, device="cpu", half=True)
    colorizer.cuda_graphs = True  # the constructor allows them on CUDA only
    lightness = probe_lightness(2, 128, 224)
    graphed = colorizer.predict_ab(lightness)
    ((_, static, _, pinned),) = colorizer._graphs.values()
    assert captures == [{"capture_error_mode": "thread_local"}]
    assert all(pinned[name].dtype == static[name].dtype == torch.float32 for name in static)
    colorizer.cuda_graphs = False
    assert np.array_equal(graphed, colorizer.predict_ab(lightness))


@pytest.fixture
def ort_lists_tensorrt(monkeypatch):
    """onnxruntime-gpu as pip installs it: the TensorRT provider listed, whether TensorRT is there or not."""
    import onnxruntime as ort

    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPU"]
    )
    real = backends._installed
    monkeypatch.setattr(backends, "_installed", lambda m: False if m == "tensorrt" else real(m))


def _tensorrt_loads(monkeypatch, loads: bool) -> list[str]:
    """Makes the TensorRT libraries load, or not; returns the names asked for."""
    asked = []

    def load(name, *args, **kwargs):
        asked.append(name)
        if not loads:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
        return object()

    monkeypatch.setattr(ctypes, "CDLL", load)
    return asked


def test_onnxruntime_offers_tensorrt_only_where_its_libraries_load(ort_lists_tensorrt, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv(trt_engine.ENGINE_DIR_ENV, str(tmp_path))
    request = RuntimeRequest(DEFAULT_MODEL, device="cuda", batch_size=4, render_shape=(256, 448))
    _tensorrt_loads(monkeypatch, False)
    with caplog.at_level(logging.DEBUG, logger="vidcolor.backends"):
        assert [p for p, _ in ort_gpu_providers(request)] == ["CUDAExecutionProvider"]
    assert "libnvinfer.so.10 cannot be loaded" in caplog.text
    asked = _tensorrt_loads(monkeypatch, True)
    assert [p for p, _ in ort_gpu_providers(request)] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    assert "libnvinfer.so.10" in asked


def test_onnxruntime_tensorrt_cache_folder_is_made_with_its_parents(ort_lists_tensorrt, monkeypatch, tmp_path):
    """The provider makes only the last folder of its cache path, so a fresh engine folder must exist first."""
    engines = tmp_path / "not-yet" / "engines"
    monkeypatch.setenv(trt_engine.ENGINE_DIR_ENV, str(engines))
    _tensorrt_loads(monkeypatch, True)
    (_, options), _ = ort_gpu_providers(RuntimeRequest(DEFAULT_MODEL, device="cuda", render_shape=(256, 448)))
    assert options["trt_engine_cache_path"] == str(engines / "onnxruntime")
    assert (engines / "onnxruntime").is_dir()


def test_onnxruntime_gpu_providers_ask_for_fp16_cached_engines_and_explicit_profiles(
    ort_lists_tensorrt, monkeypatch, tmp_path
):
    monkeypatch.setenv(trt_engine.ENGINE_DIR_ENV, str(tmp_path))
    _tensorrt_loads(monkeypatch, True)
    request = RuntimeRequest(DEFAULT_MODEL, device="cuda", batch_size=4, render_shape=(256, 448))
    (trt, trt_options), (cuda, _) = ort_gpu_providers(request)
    assert (trt, cuda) == ("TensorrtExecutionProvider", "CUDAExecutionProvider")
    assert trt_options["trt_fp16_enable"] and trt_options["trt_engine_cache_enable"]
    assert trt_options["trt_engine_cache_path"] == str(tmp_path / "onnxruntime")
    hints = read_info(DEFAULT_MODEL).hint_input  # a hinted model's hint plane takes a profile too
    low, high = (
        ("L:1x1x256x448", "L:4x1x256x448")
        if not hints
        else ("L:1x1x256x448,hints:1x3x256x448", "L:4x1x256x448,hints:4x3x256x448")
    )
    assert trt_options["trt_profile_min_shapes"] == low
    assert trt_options["trt_profile_opt_shapes"] == trt_options["trt_profile_max_shapes"] == high
    # Without a known frame size there is no profile to give, so TensorRT is left out.
    assert [p for p, _ in ort_gpu_providers(RuntimeRequest(DEFAULT_MODEL, device="cuda"))] == ["CUDAExecutionProvider"]


def _key(**change) -> EngineKey:
    fields = dict(
        model_sha256="ab" * 32,
        tensorrt="10.9.0",
        gpu="NVIDIA H100 80GB HBM3",
        compute_capability="9.0",
        precision="fp16",
        profile=Profile(256, 448),
    )
    return EngineKey(**{**fields, **change})


def test_engine_key_names_every_thing_an_engine_depends_on():
    base = _key()
    assert base.filename() == _key().filename()
    assert base.filename().endswith(".engine") and "/" not in base.filename()
    changes = [
        {"model_sha256": "cd" * 32},
        {"tensorrt": "10.10.0"},
        {"gpu": "NVIDIA H200"},
        {"compute_capability": "8.0"},
        {"precision": "fp32"},
        {"profile": Profile(256, 456)},
        {"profile": Profile(256, 448, opt_batch=16, max_batch=16)},
    ]
    names = {base.filename()} | {_key(**c).filename() for c in changes}
    assert len(names) == len(changes) + 1
    assert "h100" in base.filename() and "sm90" in base.filename()


def test_a_cached_engine_is_found_and_not_rebuilt(monkeypatch, tmp_path):
    key = _key()
    monkeypatch.setattr(trt_engine, "engine_key", lambda model, profile, precision="fp16": key)
    built = []

    def build(model, k, cache):
        built.append(k)
        path = cache / k.filename()
        cache.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"engine")
        path.with_suffix(".json").write_text(json.dumps(k.to_dict()))
        return path

    monkeypatch.setattr(trt_engine, "build_engine", build)
    first = cached_engine(DEFAULT_MODEL, key.profile, cache=tmp_path)
    second = cached_engine(DEFAULT_MODEL, key.profile, cache=tmp_path)
    assert first == second == tmp_path / key.filename() and built == [key]
    (entry,) = list_engines(tmp_path)
    assert entry["engine"] == key.filename() and entry["gpu"] == key.gpu and entry["profile"]["width"] == 448


def _stand_in_tensorrt(calls: list, refused: bytes) -> types.ModuleType:
    """Enough of the tensorrt module for build_engine, recording the builder's calls; a timing cache
    made from the bytes `refused` is refused, as TensorRT refuses one made on another GPU."""

    class TimingCache:
        def __init__(self, blob):
            self.blob = blob

        def serialize(self):
            return b"timings, from " + self.blob

    class Config:
        def set_memory_pool_limit(self, pool, size):
            calls.append(("set_memory_pool_limit", pool))

        def set_flag(self, flag):
            calls.append(("set_flag", flag))

        def add_optimization_profile(self, profile):
            calls.append(("add_optimization_profile", profile.shapes))

        def create_timing_cache(self, blob):
            calls.append(("create_timing_cache", bytes(blob)))
            return TimingCache(bytes(blob))

        def set_timing_cache(self, cache, ignore_mismatch):
            calls.append(("set_timing_cache", cache.blob))
            return cache.blob != refused

    class Profile:
        shapes = ()

        def set_shape(self, name, low, opt, high):
            self.shapes += ((name, low, opt, high),)

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            return "network"

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            calls.append(("build_serialized_network", network))
            return b"engine"

    class OnnxParser:
        def __init__(self, network, logger):
            pass

        def parse(self, model):
            calls.append(("parse", len(model)))
            return True

    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.9.0"
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, severity: None})
    trt.Builder, trt.OnnxParser = Builder, OnnxParser
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    trt.BuilderFlag = types.SimpleNamespace(FP16="FP16")
    return trt


def test_tensorrt_build_replaces_a_refused_timing_cache_and_writes_whole_files(monkeypatch, tmp_path, caplog):
    calls: list = []
    monkeypatch.setitem(sys.modules, "tensorrt", _stand_in_tensorrt(calls, refused=b"from another GPU"))
    written = []
    write_bytes = Path.write_bytes
    monkeypatch.setattr(Path, "write_bytes", lambda path, data: written.append(path.name) or write_bytes(path, data))
    key = _key()
    timing = tmp_path / key.timing_cache_filename()
    write_bytes(timing, b"from another GPU")
    with caplog.at_level(logging.INFO, logger="vidcolor.trt_engine"):
        path = trt_engine.build_engine(DEFAULT_MODEL, key, tmp_path)
    shapes = (("L", (1, 1, 256, 448), (8, 1, 256, 448), (8, 1, 256, 448)),)
    if read_info(DEFAULT_MODEL).hint_input:  # and the hint plane beside L
        shapes += (("hints", (1, 3, 256, 448), (8, 3, 256, 448), (8, 3, 256, 448)),)
    assert calls == [
        ("parse", DEFAULT_MODEL.stat().st_size),
        ("set_memory_pool_limit", "WORKSPACE"),
        ("set_flag", "FP16"),
        ("add_optimization_profile", shapes),
        ("create_timing_cache", b"from another GPU"),
        ("set_timing_cache", b"from another GPU"),
        ("create_timing_cache", b""),  # refused: a fresh one instead
        ("set_timing_cache", b""),
        ("build_serialized_network", "network"),
    ]
    assert "refused the timing cache" in caplog.text
    assert path == tmp_path / key.filename() and path.read_bytes() == b"engine"
    assert timing.read_bytes() == b"timings, from "  # what the fresh cache held after the build
    assert written == [path.with_suffix(".partial").name, timing.with_suffix(".partial").name]
    assert not list(tmp_path.glob("*.partial"))


def test_the_timing_cache_is_kept_per_gpu():
    names = {_key().timing_cache_filename(), _key(gpu="NVIDIA H200").timing_cache_filename()}
    assert len(names) == 2 and all("sm90" in name for name in names)
    assert _key().timing_cache_filename() == _key(precision="fp32", profile=Profile(64, 64)).timing_cache_filename()


def test_tensorrt_tensor_types_map_to_torch_types():
    torch = pytest.importorskip("torch")
    assert trt_engine.torch_dtype(types.SimpleNamespace(name="HALF")) is torch.float16
    assert trt_engine.torch_dtype(types.SimpleNamespace(name="FLOAT")) is torch.float32
    with pytest.raises(ModelError, match="FP4"):
        trt_engine.torch_dtype(types.SimpleNamespace(name="FP4"))


def test_engine_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(trt_engine.ENGINE_DIR_ENV, str(tmp_path / "e"))
    assert engine_dir() == tmp_path / "e"
    monkeypatch.delenv(trt_engine.ENGINE_DIR_ENV)
    checkout = Path(trt_engine.__file__).resolve().parent.parent
    if (checkout / "engines").is_dir() and (checkout / "pyproject.toml").is_file():
        assert engine_dir() == checkout / "engines"  # an editable install uses the repo's engines/
    else:
        assert engine_dir().parts[-2:] == ("vidcolor", "engines")


def test_model_file_hash_changes_with_the_model(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(b"model one")
    b.write_bytes(b"model two")
    assert trt_engine.file_sha256(a) != trt_engine.file_sha256(b)
    assert trt_engine.file_sha256(a) == trt_engine.file_sha256(a)


def test_read_info_is_the_model_contract():
    info = read_info(DEFAULT_MODEL)
    assert info.decoded and info.temperature_input == "temperature"
    height, width = info.render_shape(720, 1280)
    assert height % info.size_multiple == width % info.size_multiple == 0 and height == info.render_size


def test_cli_refuses_a_missing_backend_in_one_line(make_video, tmp_path):
    src = make_video(frames=3)
    out = tmp_path / "out.mp4"
    result = run_cli(str(src), str(out), "--backend", "tensorrt", "-q")
    assert result.returncode == 1 and not out.exists() and not list(tmp_path.glob("*.part*"))
    assert result.stderr.strip().count("\n") == 0 and "tensorrt" in result.stderr.lower()
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(backends.cuda_device_count() > 0, reason="a CUDA device is present (see test_gpu.py)")
def test_decoding_on_a_gpu_without_one_is_one_clear_line(make_video, tmp_path):
    src = make_video(frames=3)
    out = tmp_path / "out.mp4"
    result = run_cli(str(src), str(out), "--decoder", "cuda", "-q")
    assert result.returncode == 1 and not out.exists() and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "--decoder cpu" in result.stderr


def _decoding(hwaccel: bool) -> types.SimpleNamespace:
    """A video stream as PyAV shows it: `is_hwaccel` (a CUDA device attached)."""
    return types.SimpleNamespace(codec_context=types.SimpleNamespace(is_hwaccel=hwaccel, name="h264"), thread_type=None)


def _frame(pix_fmt: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(format=types.SimpleNamespace(name=pix_fmt))


def test_nvdec_decodes_without_frame_threads():
    """FFmpeg gives NVDEC a decode surface per frame thread: past NVDEC's 32 on a many-core host it
    failed to start, and FFmpeg decoded on the CPU instead."""
    nvdec, cpu = _decoding(True), _decoding(False)
    set_decode_threads(nvdec)
    set_decode_threads(cpu)
    assert nvdec.thread_type == "SLICE" and cpu.thread_type == "AUTO"


def test_the_decoder_is_named_from_what_it_decoded(caplog):
    """A CUDA device attached is not NVDEC decoding: where NVDEC could not start, FFmpeg decodes
    on the CPU (planar yuv420p, where NVDEC's pictures come down as NV12), and the run must say so."""
    with caplog.at_level(logging.WARNING, logger="vidcolor.stages.source"):
        assert _decoder_name(_decoding(True), _frame("yuv420p"), "cuda") == "cpu"
        assert _decoder_name(_decoding(True), _frame("yuv422p10le"), "cuda") == "cpu"
    assert "decoding it on the CPU" in caplog.text
    assert _decoder_name(_decoding(True), _frame("nv12"), "cuda") == "cuda"
    assert _decoder_name(_decoding(True), _frame("p010le"), "cuda") == "cuda"
    assert _decoder_name(_decoding(False), _frame("yuv420p"), "cpu") == "cpu"


def test_a_damaged_file_is_an_input_error_with_the_gpu_decoder_asked_for(tmp_path):
    """Only a CUDA device that will not open is the decoder's fault: a file that is not media stays
    an input error (exit 1 naming the file), whether or not this machine has a GPU."""
    src = tmp_path / "not-a-video.mp4"
    src.write_bytes(b"\x00" * 4096)
    result = run_cli(str(src), str(tmp_path / "out.mp4"), "--decoder", "cuda", "-q")
    assert result.returncode == 1 and "not a video file" in result.stderr and "--decoder cpu" not in result.stderr


def test_cuda_graphs_are_refused_off_the_torch_cuda_backend(make_video, tmp_path):
    src = make_video(frames=3)
    result = run_cli(str(src), str(tmp_path / "out.mp4"), "--device", "cpu", "--cuda-graphs", "-q")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "--cuda-graphs is for the torch backend on CUDA" in result.stderr and "onnxruntime on cpu" in result.stderr


@pytest.mark.skipif(backends.cuda_device_count() > 0, reason="a CUDA device is present (see test_gpu.py)")
def test_colour_on_a_gpu_without_one_is_one_clear_line(make_video, tmp_path):
    src = make_video(frames=3)
    result = run_cli(str(src), str(tmp_path / "out.mp4"), "--colour-device", "cuda", "-q")
    assert result.returncode == 1 and "Traceback" not in result.stderr and not (tmp_path / "out.mp4").exists()
    assert result.stderr.strip().count("\n") == 0 and "--colour-device cuda" in result.stderr


def test_engines_build_without_tensorrt_is_one_clear_line():
    result = run_cli("engines", "build", "--size", "1280x720")
    assert result.returncode == 1 and "vidcolor[tensorrt]" in result.stderr and "Traceback" not in result.stderr


def test_a_run_on_the_torch_backend_matches_onnxruntime(make_video, tmp_path):
    src = make_video(frames=6, width=96, height=64)
    runs = {}
    for backend in ("onnxruntime", "torch"):
        out = tmp_path / f"{backend}.mkv"
        stats = colorize(src, out, codec="ffv1", backend=backend, device="cpu", temporal=False)
        assert stats.backend == f"{backend}-cpu" and stats.device == "cpu" and stats.frames == 6
        runs[backend] = [f.to_ndarray() for f in read_video(out)[0]]
    for a, b in zip(runs["onnxruntime"], runs["torch"], strict=True):
        assert np.array_equal(a[:64], b[:64])  # luma untouched by either
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # chroma equal within rounding


def test_the_colour_stage_goes_to_the_gpu_with_the_model_where_torch_can_follow(monkeypatch):
    """`--colour-device auto` (the default): torch on the GPU where the model runs there and torch
    sees a CUDA device; OpenCV on the CPU otherwise, without importing torch for a CPU run."""
    import importlib.util

    from vidcolor.torch_colour import colour_device_for

    assert colour_device_for("cpu", "cuda") == "cpu" and colour_device_for("cuda", "cpu") == "cuda"  # as asked
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert colour_device_for("auto", "cpu") == "cpu" and "torch" not in sys.modules
    fake = types.ModuleType("torch")
    fake.cuda = types.SimpleNamespace(is_available=lambda: True)
    monkeypatch.setitem(sys.modules, "torch", fake)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "torch" else find_spec(name))
    assert colour_device_for("auto", "cuda") == "cuda"
    fake.cuda.is_available = lambda: False  # a torch build without CUDA beside onnxruntime-gpu
    assert colour_device_for("auto", "cuda") == "cpu"
    monkeypatch.setitem(sys.modules, "torch", None)  # installed, but its import fails
    assert colour_device_for("auto", "cuda") == "cpu"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # no torch at all
    assert colour_device_for("auto", "cuda") == "cpu"


def test_a_cpu_run_keeps_the_colour_stage_on_the_cpu_by_default(make_video, tiny_model, tmp_path):
    stats = colorize(make_video(frames=3), tmp_path / "out.mkv", model=tiny_model, codec="ffv1")
    assert stats.device == "cpu" and stats.colour_device == "cpu"
