"""Media and models made by the tests themselves: nothing is downloaded or committed."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from vidcolor.formats import planar_format, plane_array
from vidcolor.model import METADATA_KEY

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass
class VideoSpec:
    width: int = 64
    height: int = 48
    frames: int = 12
    rate: Fraction = Fraction(25)
    pix_fmt: str = "yuv420p"
    codec: str = "libx264"
    audio_tracks: int = 0
    audio_languages: tuple[str, ...] = ()
    audio_codec: str | None = None  # default: AAC, FLAC in Matroska
    audio_channels: int = 1
    subtitles: bool = False
    subtitle_cues: tuple = ()  # (start ms, duration ms, text) of each cue; default: two short ones
    vfr: bool = False  # irregular frame durations
    time_base: Fraction | None = None
    color_range: int = 0  # AVColorRange: 1 limited, 2 full
    colorspace: int = 0  # AVColorSpace
    rotation: int = 0
    field_order: str | None = None  # "tff" or "bff": interlaced, coded as fields, this field first
    sample_aspect_ratio: Fraction | None = None  # non-square pixels, on the stream (as MOV's pasp)
    options: dict = field(default_factory=dict)  # encoder options
    container_options: dict = field(default_factory=dict)  # muxer options, e.g. movflags=faststart
    container_format: str | None = None  # FFmpeg's muxer, where the extension names another ("dvd")


def frame_durations(spec: VideoSpec, time_base: Fraction) -> list[int]:
    base = round(1 / (spec.rate * time_base))
    if not spec.vfr:
        return [base] * spec.frames
    pattern = [1, 1, 2, 1, 3, 1]  # in frame periods: a variable frame rate
    return [base * pattern[i % len(pattern)] for i in range(spec.frames)]


def luma_pattern(spec: VideoSpec, index: int, depth: int) -> np.ndarray:
    """A moving gradient with edges: every frame differs and covers most code values."""
    y, x = np.mgrid[0 : spec.height, 0 : spec.width].astype(np.float32)
    value = 0.5 + 0.48 * np.sin((x + 3 * index) / 7.0) * np.cos(y / 5.0)
    value[(spec.height // 4) : (spec.height // 2), (spec.width // 3) : (spec.width // 2)] = 0.99
    top = 2**depth - 1
    black, white = (0, top) if spec.color_range == 2 else (16 << (depth - 8), 235 << (depth - 8))
    return np.rint(black + value * (white - black)).astype(np.uint8 if depth == 8 else np.uint16)


def write_video(path: Path, spec: VideoSpec) -> Path:
    """Writes a grey test video (and audio and subtitle tracks) with PyAV."""
    container = av.open(str(path), "w", format=spec.container_format, options=spec.container_options)
    options = {**spec.options, "flags": "+ildct+ilme"} if spec.field_order else spec.options
    stream = container.add_stream(spec.codec, rate=spec.rate, options=options)
    stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, spec.pix_fmt
    time_base = spec.time_base or Fraction(
        1, 1000 if spec.vfr else int(spec.rate) if spec.rate.denominator == 1 else 30000
    )
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    if spec.color_range:
        stream.codec_context.color_range = spec.color_range
    if spec.colorspace:
        stream.codec_context.colorspace = spec.colorspace
    if spec.rotation:
        stream.set_display_rotation(spec.rotation)
    if spec.sample_aspect_ratio:
        stream.codec_context.sample_aspect_ratio = spec.sample_aspect_ratio
    fields = None
    if spec.field_order:
        # The order is a flag of each frame, which PyAV cannot set: a filter sets it, and the encoders
        # code the fields in that order (the stream's field order alone is only the container's label).
        stream.codec_context.field_order = {"tff": 2, "bff": 3}[spec.field_order]
        fields = av.filter.Graph()
        size = {"width": spec.width, "height": spec.height}
        fields.link_nodes(
            fields.add_buffer(**size, format=spec.pix_fmt, time_base=Fraction(1, 1000)),
            fields.add("setfield", spec.field_order),
            fields.add("buffersink"),
        ).configure()
    audio_streams = []
    for i in range(spec.audio_tracks):
        codec = spec.audio_codec or ("aac" if path.suffix != ".mkv" else "flac")
        a = container.add_stream(codec, rate=48000, layout="mono" if spec.audio_channels == 1 else "stereo")
        if i < len(spec.audio_languages):
            a.metadata["language"] = spec.audio_languages[i]
        audio_streams.append(a)
    subtitle = None
    if spec.subtitles:
        subtitle = container.add_mux_stream("mov_text" if path.suffix in (".mp4", ".mov") else "subrip")
        subtitle.time_base = Fraction(1, 1000)
    fmt = av.VideoFormat(spec.pix_fmt)
    depth = max(c.bits for c in fmt.components)
    durations = frame_durations(spec, time_base)
    pts = 0
    for index, duration in enumerate(durations):
        frame = av.VideoFrame(spec.width, spec.height, spec.pix_fmt)
        luma = luma_pattern(spec, index, depth)
        dtype = luma.dtype
        for p, plane in enumerate(frame.planes):
            rows = np.frombuffer(plane, dtype=dtype).reshape(plane.height, -1)[:, : plane.width]
            rows[:] = luma if p == 0 else (1 << (depth - 1))
        frame.pts, frame.time_base = pts, time_base
        if spec.color_range:
            frame.color_range = spec.color_range
        if spec.colorspace:
            frame.colorspace = spec.colorspace
        if fields is not None:
            fields.push(frame)
            frame = fields.pull()
            frame.pts, frame.time_base = pts, time_base
        for packet in stream.encode(frame):
            container.mux(packet)
        pts += duration
    for packet in stream.encode(None):
        container.mux(packet)
    seconds = float(pts * time_base)
    for track, a in enumerate(audio_streams):
        samples = int(seconds * 48000)
        t = np.arange(samples) / 48000
        tone = (0.2 * np.sin(2 * np.pi * (220 + 110 * track) * t)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = np.repeat(tone[None, start : start + 1024], spec.audio_channels, axis=0)
            layout = "mono" if spec.audio_channels == 1 else "stereo"
            aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            aframe.sample_rate, aframe.pts, aframe.time_base = 48000, start, Fraction(1, 48000)
            for packet in a.encode(aframe):
                container.mux(packet)
        for packet in a.encode(None):
            container.mux(packet)
    if subtitle is not None:
        cues = spec.subtitle_cues or [(int(i * seconds * 500), 100, t) for i, t in enumerate(["Hello", "Colour ahoy"])]
        for start, duration, text in cues:
            raw = text.encode()
            payload = struct.pack(">H", len(raw)) + raw if path.suffix in (".mp4", ".mov") else raw
            packet = av.Packet(payload)
            packet.pts = packet.dts = start
            packet.duration = duration
            packet.time_base = Fraction(1, 1000)
            packet.stream = subtitle
            container.mux(packet)
    container.close()
    return path


@pytest.fixture
def make_video(tmp_path):
    counter = iter(range(1000))

    def make(suffix: str = ".mp4", **kwargs) -> Path:
        return write_video(tmp_path / f"in{next(counter)}{suffix}", VideoSpec(**kwargs))

    return make


def write_tiny_model(path: Path, head: str = "classification") -> Path:
    """A real, tiny vidcolor ONNX model: colour depends on L (dark -> blue, light -> orange).

    Built with onnx.helper, so the runtime tests need no torch and run in milliseconds.
    """
    bins = np.array([[0.0, 0.0], [-10.0, -40.0], [25.0, 50.0]], dtype=np.float32)
    pool = helper.make_node("AveragePool", ["L"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4], ceil_mode=1)
    if head == "classification":
        # logits_q = w_q * x + b_q with x = L/50 - 1 in [-1, 1]: blue wins when dark, orange when light.
        weight = helper.make_tensor("w", TensorProto.FLOAT, [3, 1, 1, 1], [0.0, -4.0, 4.0])
        bias = helper.make_tensor("b", TensorProto.FLOAT, [3], [0.0, 0.0, 0.0])
        channels, output = 3, "logits"
    else:
        weight = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 1, 1], [0.2, 0.4])
        bias = helper.make_tensor("b", TensorProto.FLOAT, [2], [0.05, 0.1])
        channels, output = 2, "ab"
    conv = helper.make_node("Conv", ["pooled", "w", "b"], [output], kernel_shape=[1, 1])
    graph = helper.make_graph(
        [pool, conv],
        "tiny",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, ["n", 1, "h", "w"])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["n", channels, "oh", "ow"])],
        [weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "format": 1,
        "input": "L",
        "output": output,
        "l_scale": 50.0,
        "l_shift": 1.0,
        "ab_scale": 100.0,
        "head": head,
        "output_stride": 4,
        "size_multiple": 16,
        "render_size": 32,
        "training": {"command": "tests"},
    }
    if head == "classification":
        meta["ab_bins"] = bins.tolist()
        meta["temperature"] = 1.0
    helper.set_model_props(model, {METADATA_KEY: json.dumps(meta)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny.onnx")


def picture(frame: av.VideoFrame, plane: int = 0) -> np.ndarray:
    """A copy of one plane's picture: without the padding at the end of its lines, which holds
    whatever memory held (compare these, not the planes' buffers)."""
    return plane_array(frame, plane, planar_format(frame.format.name).dtype).copy()


def read_video(path: Path):
    """(decoded frames, average frame rate) of the first video stream."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return list(c.decode(s)), s.average_rate


def packets_of(path: Path, kind: str) -> list[list[tuple]]:
    """Per stream of this kind: [(bytes, pts, dts, seconds)] of every packet, for byte comparison."""
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        out = {s.index: [] for s in streams}
        for packet in c.demux(streams):
            if packet.size:
                out[packet.stream.index].append(
                    (bytes(packet), float(packet.pts * packet.time_base) if packet.pts is not None else None)
                )
        return [out[s.index] for s in streams]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`vidcolor ARGS...` in a fresh interpreter, as a user runs it; stdout and stderr captured."""
    return subprocess.run([sys.executable, "-m", "vidcolor", *args], capture_output=True, text=True, timeout=timeout)


def record_model_inputs(monkeypatch, module, answer: Callable | None = None) -> list[np.ndarray]:
    """Replaces `module.load_colorizer` by one whose model records each L batch it is given (in the
    list returned) and answers with `answer(ab)` of the real model's ab (default: that ab)."""
    real, seen = module.load_colorizer, []

    class Recording:
        def __init__(self, request):
            self.inner = real(request)
            self.info, self.device, self.name = self.inner.info, self.inner.device, self.inner.name

        def predict_ab(self, lightness: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
            seen.append(lightness.copy())
            ab = self.inner.predict_ab(lightness, hints)
            return ab if answer is None else answer(ab)

    monkeypatch.setattr(module, "load_colorizer", Recording)
    return seen
