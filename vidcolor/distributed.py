"""`vidcolor batch --ray`: the videos of a batch as Ray tasks, one per video.

Ray schedules the tasks over the cluster's CPUs (and GPUs); every node must have vidcolor
installed and see IN_DIR and OUT_DIR at the same paths (shared storage). Each task is the same
`colorize_one` a local batch runs, so outputs, skipping and the summary are the same; an output
appears only complete, so a batch cut short continues when run again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

from .config import ColorizeOptions
from .errors import VidcolorError

log = logging.getLogger(__name__)


def _ray():
    try:
        import ray
    except ImportError as e:
        raise VidcolorError("--ray needs Ray: pip install 'vidcolor[ray]'") from e
    return ray


def run_on_ray(
    pairs: list[tuple[Path, Path]], options: ColorizeOptions, address: str, cpus_per_video: float
) -> Iterator:
    """Outcomes of colorizing each (input, output) pair on Ray, in the order of `pairs`."""
    from .batch import colorize_one

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
    refs = [task.remote(src, dst, options) for src, dst in pairs]
    try:
        # ray.get in submission order; Ray runs them as resources allow.
        for ref in refs:
            yield ray.get(ref)
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref)  # a running task gets KeyboardInterrupt and removes its temporary file
        raise
    finally:
        if started_here:
            ray.shutdown()
