"""The model stage: L* of each frame at the model's render size, and the model's a*b* for it.

The picture is shown to the model upright (a display rotation undone), without its black bars,
with its exposure steadied (`vidcolor.exposure`), through the runtime `--device`/`--backend`
choose (`vidcolor.backends`). It also looks at the input's own colour: a warning where the
input is already in colour, and each frame's distance from a tint for the colour stage.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import av
import numpy as np

from ..backends import RuntimeRequest, cuda_device_count, load_colorizer
from ..bars import Box, predict_picture
from ..checkpoint import ResumePoint
from ..chroma import own_colour, render_lightness
from ..colour import chroma_codes, colour_input_warning
from ..errors import ModelError
from ..exposure import ExposureSteadier
from ..formats import plane_array
from ..hint_track import HintTrack
from ..hints import Hint, hint_plane, hint_record, read_hints
from ..media import frame_rate, quarter_turns
from ..model import read_info
from ..temporal import FLOW_SIDE
from ..torch_colour import colour_device_for
from .context import FrameItem, RunContext
from .source import Source

log = logging.getLogger(__name__)


class ModelStage:
    """Loads the model for the run's options and input; calling it is the stage."""

    def __init__(self, ctx: RunContext, source: Source):
        self.ctx = ctx
        self.colorizer = load_colorizer(self._runtime_request(source))
        stats = ctx.stats
        stats.device, stats.backend = self.colorizer.device, self.colorizer.name
        # where the colour stage runs: the CPU (OpenCV), or the model's GPU (torch_colour)
        self.colour_device = stats.colour_device = colour_device_for(ctx.options.colour_device, self.colorizer.device)
        # what the model sees of a flickering film steadied, as part of temporal smoothing (see exposure)
        self.exposure = ExposureSteadier() if ctx.options.temporal and ctx.options.deflicker else None
        self.box: Box | None = None  # the picture inside black bars the model last saw (logged when it changes)
        self.colour_checked = False  # whether the input's own colour was looked at (_say_if_in_colour)
        self.track = self._hint_track(source) if ctx.options.hints is not None else None

    def _hint_track(self, source: Source) -> HintTrack:
        """The --hints file's hints, checked against the video (before anything is written)."""
        options = self.ctx.options
        if not self.colorizer.info.hint_input:
            raise ModelError(
                f"--hints: the model {options.model} takes no colour hints (it was trained without hint inputs); "
                "use a model trained with vidcolor-train --hints, or leave out --hints"
            )
        hints = read_hints(options.hints)
        video, inp = source.video, source.inp
        rotation = source.first_rotation()
        width, height = video.codec_context.width, video.codec_context.height
        if width and height:
            hints.check_picture(*((height, width) if quarter_turns(rotation) % 2 else (width, height)))
        if video.duration:
            seconds = float(video.duration * video.time_base)
        else:
            seconds = inp.duration / av.time_base if inp.duration else None  # the container's, if the stream has none
        rate = float(frame_rate(video))
        # Where the file does not count its frames (Matroska), its duration at its frame rate does.
        frames = video.frames or (round(seconds * rate) if seconds else None)
        hints.check_length(frames, seconds)
        self.ctx.stats.hints = [hint_record(hint) for hint in hints]
        return HintTrack(hints, rate)

    def _runtime_request(self, source: Source) -> RuntimeRequest:
        options = self.ctx.options
        ctx = source.video.codec_context
        shape = None
        gpu = options.device == "cuda" or (options.device == "auto" and cuda_device_count() > 0)
        if gpu and options.backend in ("auto", "onnxruntime", "tensorrt") and ctx.width and ctx.height:
            # TensorRT (native or ONNX Runtime's provider) optimizes for the input shape up front.
            shape = read_info(options.model).render_shape(ctx.height, ctx.width, options.render_size)
            if round(source.first_rotation() / 90) % 2:
                shape = shape[::-1]  # the model sees the pictures upright (_predict_upright)
        return options.runtime_request(shape)

    def restore(self, point: ResumePoint) -> None:
        if self.exposure is not None:
            self.exposure.restore(point.exposure)
        if self.track is not None:
            self.track.restore(point.hints, point.temporal or {})

    def __call__(self, batches: Iterator[list[FrameItem]]) -> Iterator[list[FrameItem]]:
        options = self.ctx.options
        for batch in batches:
            segment = batch[0].segment  # a segment starts a batch (source)
            if segment is not None and self.exposure is not None:
                segment.exposure = self.exposure.state()
            if segment is not None and self.track is not None:
                segment.hints, arrays = self.track.state()
                segment.temporal = (segment.temporal or {}) | arrays
            # Runs of frames of one size, in order: the exposure steadier follows frames one after
            # another (a batch of sizes A, B, A grouped by size had shown it the second A before the B).
            for (height, width), run in itertools.groupby(batch, key=lambda i: (i.frame.height, i.frame.width)):
                group = list(run)
                if not group[0].fmt.grey:
                    for item in group:
                        planes = (plane_array(item.frame, i, item.fmt.dtype) for i in range(3))
                        item.own_colour = own_colour(*planes, item.fmt, item.full_range)
                if not self.colour_checked:
                    self._say_if_in_colour(group)
                lightness, predicted, box = predict_picture(
                    self.colorizer.info,
                    self._predict_upright,
                    lambda shape, rows, columns, group=group: _lightness(group, shape, rows, columns),
                    height,
                    width,
                    options.render_size,
                    None if self.exposure is None else self.exposure.gains,
                    None if self.track is None else self._hints_at(group, height, width),
                )
                self.ctx.stats.render_shape = lightness.shape[1:]
                if box is not None and box != self.box:
                    rows, columns = box.pixels(height, width)
                    log.info(
                        "%s: black bars: the model sees rows %d-%d and columns %d-%d of %dx%d frames",
                        self.ctx.src, rows.start, rows.stop, columns.start, columns.stop, width, height,
                    )  # fmt: skip
                    self.box = box
                if options.saturation != 1.0:
                    predicted = predicted * np.float32(options.saturation)
                for item, ab, lit in zip(group, predicted, lightness):
                    item.ab = ab
                    item.lightness = lit if options.temporal else None  # kept for the smoothing stage
            yield batch
        if self.track is not None:
            self._end_hints()

    def _hints_at(self, group: list[FrameItem], height: int, width: int):
        """The frames' hints as they are at each (carried along the shot), as the hint planes'
        maker that predict_picture asks for."""
        info, turns = self.colorizer.info, quarter_turns(self.ctx.rotation)
        shape = info.render_shape(height, width, self.ctx.options.render_size)
        ab_shape = (shape[0] // info.output_stride, shape[1] // info.output_stride, 2)
        if turns % 2:
            displayed, ab_shape = (width, height), (ab_shape[1], ab_shape[0], 2)
        else:
            displayed = (height, width)
        # The points are followed at up to FLOW_SIDE px short side, finer than the model's render size.
        scale = min(1.0, FLOW_SIDE / min(height, width))
        followed = (max(1, round(height * scale)), max(1, round(width * scale)))
        at: list[list[tuple[Hint, float]]] = []
        for item in group:
            upright = np.rot90(_lightness([item], followed)[0], turns)
            at.append(self.track.advance(item.index, item.seconds, upright, ab_shape, displayed))

        def planes(plane_shape: tuple[int, int], rows: slice, columns: slice) -> np.ndarray:
            return np.stack(
                [
                    hint_plane(
                        [hint for hint, _ in hints],
                        displayed,
                        plane_shape,
                        rows,
                        columns,
                        self.ctx.rotation or 0,
                        info.hint_scale,
                        [weight for _, weight in hints],
                    )  # fmt: skip
                    for hints in at
                ]
            )

        return planes

    def _end_hints(self) -> None:
        """After the last frame: the hints a cut ended go into the stats; one that never started
        (its frame or time past the end, where the file did not say how long it is) is an error."""
        track = self.track
        self.ctx.stats.hints_dropped = [dict(d) for d in track.dropped]
        track.hints.check_length(track.frames, track.end)

    def _predict_upright(self, lightness: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        """The model's ab for a batch of L (N, h, w) as stored, predicted on the pictures turned
        upright as they are shown (a phone's portrait video is stored on its side, with a display
        rotation): the model learnt from upright photos. On the 169 validation photos turned a
        quarter, it scored 1.1-1.2 dB less PSNR than upright, on frames of the five colour clips
        2.3-2.7 dB less."""
        turns = quarter_turns(self.ctx.rotation)
        if not turns:
            return self.colorizer.predict_ab(lightness, hints)
        upright = np.ascontiguousarray(np.rot90(lightness, turns, axes=(1, 2)))
        if hints is not None:  # the hint plane (N, 3, h, w) lines up with the L as stored (hints.hint_plane)
            hints = np.ascontiguousarray(np.rot90(hints, turns, axes=(2, 3)))
        return np.ascontiguousarray(np.rot90(self.colorizer.predict_ab(upright, hints), -turns, axes=(1, 2)))

    def _say_if_in_colour(self, group: list[FrameItem]) -> None:
        """Warns once, from the first frames, where the input already has colour of its own."""
        self.colour_checked = True
        fmt = group[0].fmt
        if fmt.grey:
            return
        neutral, scale = float(1 << (fmt.depth - 1)), float(1 << fmt.depth) * 224 / 256
        codes = np.mean(
            [
                chroma_codes(
                    (plane_array(item.frame, 1, fmt.dtype)[::4, ::4] - neutral) / scale,
                    (plane_array(item.frame, 2, fmt.dtype)[::4, ::4] - neutral) / scale,
                )
                for item in group
            ]
        )
        self.ctx.stats.input_chroma = round(float(codes), 2)
        warning = colour_input_warning(self.ctx.src, codes, float(np.median([item.own_colour for item in group])))
        part = self.ctx.part
        if warning and (part is None or part.index == 0):
            log.warning("%s", warning)


def _lightness(
    group: list[FrameItem], shape: tuple[int, int], rows: slice = slice(None), columns: slice = slice(None)
) -> np.ndarray:
    """L* (N, h, w) at `shape` of the frames' Y planes, or of their `rows` x `columns`."""
    return np.stack(
        [
            render_lightness(plane_array(i.frame, 0, i.fmt.dtype)[rows, columns], i.fmt, i.full_range, shape)
            for i in group
        ]
    )
