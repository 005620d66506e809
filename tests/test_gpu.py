"""GPU runtimes, on an NVIDIA GPU: each test skips, saying why, where its runtime cannot run.

pytest -m gpu        # on a GPU machine
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import read_video

from vidcolor import colorize
from vidcolor.backends import (
    RuntimeRequest,
    cuda_device_count,
    load_colorizer,
    ort_tensorrt_unavailable,
    resolve,
    unavailable,
)
from vidcolor.media import open_input, set_decode_threads
from vidcolor.model import DEFAULT_MODEL, OnnxColorizer, probe_lightness

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(cuda_device_count() == 0, reason="no NVIDIA GPU visible to the CUDA driver"),
]

FP16_TOLERANCE_AB = 1.0  # fp16 against the fp32 CPU reference; a just-noticeable difference is about 2


def _needs(backend: str) -> None:
    reason = unavailable(backend, "cuda")
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "tensorrt"])
def test_gpu_backend_matches_the_cpu_reference(backend, capfd):
    _needs(backend)
    lightness = probe_lightness(4, 256, 448)
    expected = OnnxColorizer(DEFAULT_MODEL).predict_ab(lightness)
    request = RuntimeRequest(DEFAULT_MODEL, device="cuda", backend=backend, batch_size=4, render_shape=(256, 448))
    colorizer = load_colorizer(request)
    assert colorizer.device == "cuda" and colorizer.name == f"{backend}-cuda"
    if backend == "onnxruntime":
        # ONNX Runtime falls back from a TensorRT provider that fails to start to CUDA, printing "EP Error".
        missing = ort_tensorrt_unavailable()
        assert colorizer.provider == ("CUDAExecutionProvider" if missing else "TensorrtExecutionProvider"), missing
        assert "EP Error" not in capfd.readouterr().out
    got = colorizer.predict_ab(lightness)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < FP16_TOLERANCE_AB


def test_auto_picks_a_gpu_backend_when_one_can_run():
    if all(unavailable(b, "cuda") for b in ("tensorrt", "onnxruntime", "torch")):
        pytest.skip("no GPU backend installed")
    assert resolve("auto", "auto")[0] == "cuda"


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "tensorrt"])
def test_a_run_on_the_gpu_keeps_luma_and_every_frame(make_video, tmp_path, backend):
    _needs(backend)
    src = make_video(frames=10, width=96, height=64)
    out = tmp_path / "out.mkv"
    stats = colorize(src, out, codec="ffv1", device="cuda", backend=backend)
    assert stats.frames == 10 and stats.backend == f"{backend}-cuda"
    frames_in, frames_out = read_video(src)[0], read_video(out)[0]
    assert len(frames_out) == 10
    for a, b in zip(frames_in, frames_out, strict=True):
        assert np.array_equal(a.to_ndarray()[:64], b.to_ndarray()[:64])


def test_decoding_on_the_gpu_keeps_luma_and_every_frame(make_video, tmp_path):
    """NVDEC's frames (NV12, downloaded) carry the same Y plane as FFmpeg's CPU decoder: luma stays exact."""
    src = make_video(frames=10, width=96, height=64)  # H.264, which every NVDEC decodes
    with open_input(src, decoder="cuda") as container:
        stream = container.streams.video[0]
        set_decode_threads(stream)
        frame = next(container.decode(stream))
        # From NVDEC, downloaded as NV12. Where NVDEC could not start, FFmpeg's CPU decoder gives yuv420p.
        assert frame.format.name == "nv12"
    out = tmp_path / "out.mkv"
    stats = colorize(src, out, codec="ffv1", decoder="cuda")
    assert stats.frames == 10 and stats.decoder == "cuda"
    frames_in, frames_out = read_video(src)[0], read_video(out)[0]
    assert len(frames_out) == 10
    for a, b in zip(frames_in, frames_out, strict=True):
        assert np.array_equal(a.to_ndarray()[:64], b.to_ndarray()[:64])


def test_cuda_graphs_replay_new_inputs_as_the_eager_model_runs_them():
    """A replayed graph must read each call's L (not the capture's), for a full and a shorter last batch."""
    _needs("torch")
    from vidcolor.torch_runtime import TorchColorizer

    eager = TorchColorizer(DEFAULT_MODEL, device="cuda")
    graphed = TorchColorizer(DEFAULT_MODEL, device="cuda", cuda_graphs=True)
    for seed, batch in ((0, 4), (1, 4), (2, 3), (3, 4)):
        lightness = (
            probe_lightness(batch, 256, 448)
            if seed == 0
            else np.random.default_rng(seed).uniform(0, 100, (batch, 256, 448)).astype(np.float32)
        )
        expected, got = eager.predict_ab(lightness), graphed.predict_ab(lightness)
        assert np.abs(got - expected).max() < FP16_TOLERANCE_AB  # the same kernels, maybe other cuDNN algorithms
    assert len(graphed._graphs) == 2  # one per batch shape


def test_colour_on_the_gpu_matches_the_cpu_run(make_video, tmp_path):
    """`--colour-device cuda`: the same luma, chroma within 2 code values of the OpenCV colour stage."""
    pytest.importorskip("torch")
    src = make_video(frames=10, width=96, height=64)
    runs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.mkv"
        stats = colorize(src, out, codec="ffv1", colour_device=device)
        assert stats.colour_device == device
        runs[device] = [f.to_ndarray() for f in read_video(out)[0]]
    assert len(runs["cuda"]) == len(runs["cpu"]) == 10
    for a, b in zip(runs["cpu"], runs["cuda"], strict=True):
        assert np.array_equal(a[:64], b[:64])
        assert np.abs(a[64:].astype(int) - b[64:].astype(int)).max() <= 2


def test_the_colour_stage_follows_the_model_to_the_gpu_by_default(make_video, tmp_path):
    """`--colour-device auto`: a run with the model on the GPU colours there too, where torch is installed."""
    pytest.importorskip("torch")
    src = make_video(frames=4, width=96, height=64)
    stats = colorize(src, tmp_path / "out.mkv", codec="ffv1", device="cuda")
    assert stats.device == "cuda" and stats.colour_device == "cuda"
