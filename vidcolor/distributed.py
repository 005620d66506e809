"""`vidcolor batch --ray`: the videos of a batch as Ray tasks, and long reels as several.

Ray schedules the tasks over the cluster's CPUs (and GPUs); every node must have vidcolor
installed and see IN_DIR and OUT_DIR at the same paths (shared storage). A video is the same
`colorize_one` a local batch runs, so outputs, skipping and the summary are the same; an output
appears only complete, so a batch cut short continues when run again. A reel longer than two
parts (`part_seconds`) is cut by time into parts, each a task writing its own segments into the
reel's work folder (run.colorize_part); one more task joins them into the output when all are
done (run.assemble_parts). Parts are checkpointed like any run, so a rerun redoes only what was
not finished.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path

from .config import ColorizeOptions
from .errors import VidcolorError

log = logging.getLogger(__name__)

DEFAULT_PART_SECONDS = 600.0  # a reel longer than two of these is colorized in parts of this length


def _ray():
    try:
        import ray
    except ImportError as e:
        raise VidcolorError("--ray needs Ray: pip install 'vidcolor[ray]'") from e
    return ray


def run_on_ray(
    pairs: list[tuple[Path, Path]],
    options: ColorizeOptions,
    address: str,
    cpus_per_video: float,
    part_seconds: float = DEFAULT_PART_SECONDS,
) -> Iterator:
    """Outcomes of colorizing each (input, output) pair on Ray, in the order of `pairs`."""
    from .image import is_image
    from .outcome import colorize_one, with_own_hints

    if not pairs:
        return
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        try:
            # "auto" starts a local cluster when none is running; any other address joins that one.
            ray.init(address=None if address == "auto" else address, include_dashboard=False, log_to_driver=False)
        except Exception as e:  # ray raises ConnectionError, ValueError, RuntimeError...
            raise VidcolorError(f"cannot start or join the Ray cluster at {address!r}: {e}") from e
    gpus = 1 if options.device == "cuda" or (options.device == "auto" and ray.cluster_resources().get("GPU")) else 0
    if options.threads is None:
        # Each task's model gets its own share of the cores, not every core of the node.
        options = dataclasses.replace(options, threads=max(1, int(cpus_per_video)))
    task = ray.remote(num_cpus=cpus_per_video, num_gpus=gpus, max_retries=0)(colorize_one)
    part_task = ray.remote(num_cpus=cpus_per_video, num_gpus=gpus, max_retries=0)(_colorize_part)
    join_task = ray.remote(num_cpus=1, max_retries=0)(_join_parts)
    refs, submitted = [], []
    for src, dst in pairs:
        parts = [] if is_image(src) else split(src, with_own_hints(src, options), part_seconds)
        if parts:
            done = [part_task.remote(src, dst, options, part) for part in parts]
            submitted += done
            refs.append(join_task.remote(src, dst, options, parts, *done))
        else:
            refs.append(task.remote(src, dst, options))
    submitted += refs
    try:
        # ray.get in submission order; Ray runs them as resources allow.
        for ref in refs:
            yield ray.get(ref)
    except KeyboardInterrupt:
        for ref in submitted:
            ray.cancel(ref)  # a running task gets KeyboardInterrupt and keeps only finished segments
        raise
    finally:
        if started_here:
            ray.shutdown()


def split(src: Path, options: ColorizeOptions, part_seconds: float) -> list:
    """The parts of a reel longer than two of `part_seconds`; [] for a shorter one (one task)."""
    from .media import clock_jumps, time_span
    from .run import Part

    if options.hints is not None:
        return []  # hints are carried along the whole reel (hint_track): one task
    span = time_span(src, options.frame_rate)
    if span is None or span[1] <= 2 * part_seconds:
        return []
    if src.is_file() and clock_jumps(src):
        # Parts are cut by time, and here a time names a frame of each recording.
        log.info("%s: its clock starts again (recordings joined into one file): colorized as one part", src)
        return []
    first, seconds = span
    count = math.ceil(seconds / part_seconds)
    return [
        Part(i, first + i * part_seconds, first + (i + 1) * part_seconds if i < count - 1 else None)
        for i in range(count)
    ]


def _colorize_part(src: Path, dst: Path, options: ColorizeOptions, part) -> tuple[str | None, float]:
    """One part of a reel, on a worker: (what went wrong or None, seconds)."""
    from .run import colorize_part

    started = time.perf_counter()
    try:
        colorize_part(src, dst, options, part)
        return None, time.perf_counter() - started
    except VidcolorError as e:
        return str(e), time.perf_counter() - started
    except Exception as e:  # noqa: BLE001 - reported in the batch summary like any failed video
        return f"part {part.index}: {type(e).__name__}: {e}", time.perf_counter() - started


def _join_parts(src: Path, dst: Path, options: ColorizeOptions, parts: list, *results):
    """The output of a reel made from its parts, once all are done: the reel's Outcome. Its
    seconds are those of the parts and the join added up (worker time, not wall time)."""
    from .outcome import Outcome
    from .run import assemble_parts

    outcome = Outcome(str(src), str(dst), "done")
    started = time.perf_counter()
    failed = [message for message, _ in results if message]
    if failed:
        outcome.status, outcome.message = "failed", failed[0]
    else:
        try:
            outcome.frames = assemble_parts(src, dst, options, parts).frames
        except VidcolorError as e:
            outcome.status, outcome.message = "failed", str(e)
    outcome.seconds = round(sum(seconds for _, seconds in results) + time.perf_counter() - started, 2)
    return outcome
