"""The colour stage: each frame's Cb/Cr planes made from the model's a*b* (at the chroma
resolution, guided by the full-resolution luma; `vidcolor.chroma`, or `vidcolor.torch_colour`
on the GPU), the Y plane kept as the input's. It also notes the passages of the input that are
in colour of their own."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import av
import numpy as np
from av.video.frame import PictureType

from ..checkpoint import ResumePoint
from ..chroma import chroma_planes
from ..colour import COLOUR_FRAME_CODES
from ..errors import EncodeError
from ..formats import PlanarFormat, matrix_name, output_format, plane_array
from ..torch_colour import TorchChroma
from .context import FrameItem, RunContext

log = logging.getLogger(__name__)

# Frames in colour of their own less than this far apart make one passage; passages of fewer frames
# than PASSAGE_MIN_FRAMES are not reported (a flash, a frame of noise).
PASSAGE_GAP_SECONDS = 1.0
PASSAGE_MIN_FRAMES = 12


class ColourStage:
    """`device`: where the chroma is made ("cpu", or the model's CUDA device). `frame_aspect`
    sets the output frame's pixel aspect where the codec needs it (containers.frame_aspect)."""

    def __init__(self, ctx: RunContext, device: str, frame_aspect: Callable | None):
        self.ctx = ctx
        self.chroma_planes = chroma_planes if device == "cpu" else TorchChroma(device)
        self.frame_aspect = frame_aspect
        self.out_fmt: PlanarFormat | None = None  # the encoder's pixel format, chosen at the first frame
        self.coloured = 0  # frames through the stage (its index of the next one)

    def restore(self, point: ResumePoint) -> None:
        self.coloured = point.frames
        self.ctx.stats.colour_passages = [dict(p) for p in point.colour_passages]

    def __call__(self, batches: Iterator[list[FrameItem]]) -> Iterator[list[FrameItem]]:
        for batch in batches:
            for item in batch:
                if not item.warmup:
                    self._note_own_colour(item)
                    item.out = self._colour_frame(item)
                item.frame = None  # release the decoded frame early
            yield batch

    def _note_own_colour(self, item: FrameItem) -> None:
        """Adds a frame in colour of its own to the passage it belongs to (frames within
        PASSAGE_GAP_SECONDS of each other make one), in the order frames are written."""
        passages = self.ctx.stats.colour_passages
        if item.segment is not None:
            item.segment.colour_passages = [dict(p) for p in passages]
        if item.own_colour >= COLOUR_FRAME_CODES:
            seconds = round(item.seconds, 3)
            if passages and seconds - passages[-1]["end"] <= PASSAGE_GAP_SECONDS:
                passages[-1].update(last_frame=self.coloured, end=seconds)
            else:
                passages.append(
                    {"first_frame": self.coloured, "last_frame": self.coloured, "start": seconds, "end": seconds}
                )
        self.coloured += 1

    def _output_format(self, fmt: PlanarFormat, size: tuple[int, int]) -> PlanarFormat:
        options, stats = self.ctx.options, self.ctx.stats
        try:
            out_fmt, stats.luma_exact = output_format(options.codec, fmt, size, options.pixel_format)
        except ValueError as e:
            if options.pixel_format:
                raise EncodeError(f"--pix-fmt: {e}") from e
            raise EncodeError(f"{e}: vidcolor writes Y'CbCr, so that luma stays the input's") from e
        if not stats.luma_exact and options.pixel_format:
            log.info("%s: %d-bit luma rounded to %d bits", out_fmt.name, fmt.depth, out_fmt.depth)
        elif not stats.luma_exact:
            log.warning("%s cannot hold %d-bit luma; writing %s (luma rounded)", options.codec, fmt.depth, out_fmt.name)
        return out_fmt

    def _colour_frame(self, item: FrameItem) -> av.VideoFrame:
        frame, fmt = item.frame, item.fmt
        if self.out_fmt is None:
            self.out_fmt = self._output_format(fmt, (frame.width, frame.height))
        out_fmt = self.out_fmt
        # The output is the decoded frame with its chroma replaced (converted first where the encoder
        # wants another format, its luma then put back exactly): it keeps the frame's own flags,
        # which PyAV cannot set on a new frame. From new frames, x264, MPEG-2 and ProRes coded
        # top-field-first input as bottom field first, and players show its motion in the wrong order.
        if out_fmt.name == frame.format.name:
            frame.make_writable()  # a copy where the decoder still holds the picture as a reference
            out = frame
        else:
            out = frame.reformat(format=out_fmt.name)
        out.pict_type = PictureType.NONE  # the encoder chooses its own frame types, not the input's
        luma_in = plane_array(frame, 0, fmt.dtype)
        if out is not frame:
            luma_out = plane_array(out, 0, out_fmt.dtype)
            shift = out_fmt.depth - fmt.depth
            if shift >= 0:
                np.left_shift(luma_in, shift, out=luma_out, dtype=out_fmt.dtype, casting="unsafe")
            else:  # rounded to the nearest code, as FFmpeg's scaler does (shifting alone made it 0.5 code dark)
                rounded = (luma_in.astype(np.uint32) + (1 << (-shift - 1))) >> -shift
                luma_out[:] = np.minimum(rounded, (1 << out_fmt.depth) - 1)
        full_range = item.full_range
        matrix = matrix_name(frame.colorspace, frame.height)
        interlaced = bool(frame.interlaced_frame)  # its two fields get their own chroma rows (4:2:0)
        cb, cr = self.chroma_planes(luma_in, item.ab, fmt.depth, out_fmt, full_range, matrix, interlaced=interlaced)
        plane_array(out, 1, out_fmt.dtype)[:] = cb
        plane_array(out, 2, out_fmt.dtype)[:] = cr
        out.pts, out.time_base = frame.pts, frame.time_base
        out.color_range = 2 if full_range else (frame.color_range or 0)
        out.colorspace = frame.colorspace
        out.color_primaries = frame.color_primaries
        out.color_trc = frame.color_trc
        return self.frame_aspect(out) if self.frame_aspect else out
