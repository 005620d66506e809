"""Options of a colorization run; each field is one CLI flag."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .backends import BACKENDS, DEVICES, RuntimeRequest
from .errors import VidcolorError
from .formats import colour_planar_format
from .media import DECODERS
from .model import DEFAULT_MODEL
from .temporal import DEFAULT_STRENGTH
from .torch_colour import COLOUR_DEVICES

# Encoders whose quality is set by a constant rate factor and speed by a preset.
CRF_CODECS = ("libx264", "libx265", "libsvtav1", "libvpx-vp9", "libvpx")
QSCALE_CODECS = ("mpeg1video", "mpeg2video", "mpeg4", "mjpeg", "msmpeg4", "msmpeg4v2", "h263p")
QSCALE = 2  # their quantizer: 1-31, lower is better
FF_QP2LAMBDA = 118
MAX_SATURATION = 4.0  # catches typos: at 4x the model's colour most of it is already out of gamut and clips


@dataclass(frozen=True)
class ColorizeOptions:
    model: Path = DEFAULT_MODEL  # ONNX model made by vidcolor-train
    codec: str | None = None  # video encoder; None: libx264, or the container's own if it cannot hold H.264
    crf: int = 18  # constant rate factor for CRF_CODECS; lower is better quality
    preset: str = "medium"  # encoder speed preset (libx264/libx265)
    pixel_format: str | None = None  # output's planar Y'CbCr format (yuv420p: plays anywhere); None: as the input's
    batch_size: int = 8  # frames per model call
    temporal: bool = True  # temporal smoothing of colour (per-frame colour when False)
    temporal_strength: float = DEFAULT_STRENGTH  # weight of the colour carried along motion, [0, 1)
    deflicker: bool = True  # with temporal: the model sees each frame's exposure steadied (exposure.py)
    render_size: int | None = None  # px, short side the model sees; None = the model's preference
    saturation: float = 1.0  # the model's a/b are multiplied by this: below 1 muted, above 1 more vivid
    hints: Path | None = None  # hints.json: points of known colour (docs/hints.md); None: the model's colour alone
    threads: int | None = None  # model threads on CPU; None = every core
    device: str = "auto"  # where the model runs: auto (a GPU if one can be used), cpu or cuda
    backend: str = "auto"  # model runtime: auto (fastest available), onnxruntime, tensorrt or torch
    decoder: str = "cpu"  # where video is decoded: cpu (FFmpeg, frame threads) or cuda (NVDEC)
    cuda_graphs: bool = False  # torch backend on CUDA: replay the model as a CUDA graph
    colour_device: str = "auto"  # where the colour stage runs: cpu (OpenCV), cuda (torch) or auto (cuda with the model)
    frame_rate: Fraction | None = None  # frames per second of an image-sequence input (None: 24)
    overwrite: bool = False  # replace an existing output (and discard an interrupted run's work)
    resume: bool = False  # continue an interrupted run from its last finished segment
    segment_seconds: float = 30.0  # a checkpoint (a new segment) every this many seconds of video
    threaded: bool = True  # run stages in threads (False: the single-thread reference path)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise VidcolorError(f"batch size must be at least 1, not {self.batch_size}")
        if not 0 <= self.crf <= 63:
            raise VidcolorError(f"crf must be between 0 and 63, not {self.crf}")
        if not 0.0 <= self.temporal_strength < 1.0:
            raise VidcolorError(f"temporal strength must be in [0, 1), not {self.temporal_strength}")
        if self.device not in DEVICES:
            raise VidcolorError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.backend not in BACKENDS:
            raise VidcolorError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if self.decoder not in DECODERS:
            raise VidcolorError(f"decoder must be one of {', '.join(DECODERS)}, not {self.decoder!r}")
        if self.colour_device not in COLOUR_DEVICES:
            raise VidcolorError(f"colour device must be one of {', '.join(COLOUR_DEVICES)}, not {self.colour_device!r}")
        if self.frame_rate is not None and self.frame_rate <= 0:
            raise VidcolorError(f"frame rate must be positive, not {self.frame_rate}")
        if not self.segment_seconds > 0:
            raise VidcolorError(f"segment length must be positive, not {self.segment_seconds} s")
        if not 0.0 <= self.saturation <= MAX_SATURATION:
            raise VidcolorError(f"saturation must be between 0 and {MAX_SATURATION:g}, not {self.saturation}")
        if self.pixel_format is not None and colour_planar_format(self.pixel_format) is None:
            raise VidcolorError(
                f"pixel format must be a planar Y'CbCr one such as yuv420p or yuv422p10le, not {self.pixel_format!r}"
            )
        if self.render_size is not None and self.render_size < 16:
            raise VidcolorError(f"render size must be at least 16 px, not {self.render_size}")

    def runtime_request(self, render_shape: tuple[int, int] | None = None) -> RuntimeRequest:
        """What these options ask of the model runtime; `render_shape` when the frame size is known."""
        return RuntimeRequest(
            model=Path(self.model),
            device=self.device,
            backend=self.backend,
            threads=self.threads,
            batch_size=self.batch_size,
            render_shape=render_shape,
            cuda_graphs=self.cuda_graphs,
        )

    def encoder_options(self) -> dict[str, str]:
        if self.codec in ("libx264", "libx265"):
            return {"crf": str(self.crf), "preset": self.preset}
        if self.codec in QSCALE_CODECS:
            # A fixed quantizer, as `ffmpeg -q:v 2`: without one these encode at 200 kbit/s
            # (chaplin_street's luma at 30 dB PSNR against the input in MPEG-2, MPEG-4 and MJPEG).
            options = {"flags": "+qscale", "global_quality": str(QSCALE * FF_QP2LAMBDA)}
            # MJPEG: limited-range Y'CbCr, so that luma stays the input's. FFmpeg calls it non-standard
            # for JPEG, writes it with a marker its decoder reads, and refuses it without this.
            return {**options, "strict": "unofficial"} if self.codec == "mjpeg" else options
        if self.codec == "libvpx":
            # VP8 takes its CRF as constrained quality under a bit-rate cap, 256 kbit/s unless one is
            # set: chaplin_street came out at 33.7 dB luma PSNR instead of 45. The cap is only a bound.
            return {"crf": str(self.crf), "b": "20M"}
        if self.codec in CRF_CODECS:
            return {"crf": str(self.crf)}
        if self.codec == "prores_ks":
            return {"profile": "3"}  # ProRes 422 HQ (4444 is chosen by the 4:4:4 pixel format)
        return {}
