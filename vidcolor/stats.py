"""What a run did: frames, time, where the time went, and what happened to each stream."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class RunStats:
    input: str
    output: str
    frames: int = 0  # video frames written (= frames decoded)
    resumed_frames: int = 0  # of those, frames an interrupted run had written (resume)
    wall_seconds: float = 0.0
    # When the first batch was written (frames written by then, resumed ones included): what came
    # before it was starting up (model load, CUDA, engine builds and graph captures, filling the queues)
    first_batch_seconds: float = 0.0
    first_batch_frames: int = 0
    busy_seconds: dict[str, float] = field(default_factory=dict)  # per stage, excluding waits
    model: str = ""
    device: str = "cpu"  # where the model ran: cpu or cuda
    backend: str = "onnxruntime-cpu"  # model runtime and device, e.g. tensorrt-cuda
    colour_device: str = "cpu"  # where the colour stage ran: cpu (OpenCV) or cuda (torch)
    decoder: str = "cpu"  # where the video was decoded: cpu, or cuda (NVDEC)
    codec: str = ""
    pixel_format: str = ""  # of the output video
    luma_exact: bool = True  # output Y plane is the input's (not if the encoder lacks the depth or frames were resized)
    render_shape: tuple[int, int] = (0, 0)  # (height, width) the model saw
    copied_streams: list[str] = field(default_factory=list)
    dropped_streams: list[str] = field(default_factory=list)
    reencoded_streams: list[str] = field(default_factory=list)  # sound the container cannot hold as it is
    damaged_packets: int = 0  # video packets the decoder rejected (their frames are left out)
    missing_frames: int = 0  # frames the input announces but does not hold: it was cut short
    cuts: list[dict] = field(default_factory=list)  # scene cuts found by the temporal stage: frame index, time in s
    repaired_timestamps: int = 0  # frames whose missing or repeated pts had to be made up
    timestamp_jumps: int = 0  # times the video's clock started again (MPEG-TS/PS recordings joined into one file)
    resized_frames: int = 0  # frames of another size than the reel's (a size change mid-reel), scaled to it
    input_chroma: float = 0.0  # the input's own colour: 8-bit codes from grey, its first frames (chroma_codes)
    # passages of the input in colour of its own (not tinted or toned): first and last frame, their
    # times in s (colour.COLOUR_FRAME_CODES); their colour is replaced like any other
    colour_passages: list[dict] = field(default_factory=list)
    hints: list[dict] = field(default_factory=list)  # colour hints the model was given (--hints): as in the file
    hints_dropped: list[dict] = field(default_factory=list)  # ... those a scene cut ended, with its frame and time
    peak_rss_mb: float = 0.0  # the process's peak resident memory at the end of the run

    @property
    def fps(self) -> float:
        """Frames this run colorized per second of its wall time."""
        return (self.frames - self.resumed_frames) / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def steady_fps(self) -> float:
        """Frames per second after the first batch: the run's pace once started, which a long reel
        keeps (0 where no frames came after the first batch)."""
        frames, seconds = self.frames - self.first_batch_frames, self.wall_seconds - self.first_batch_seconds
        return frames / seconds if frames > 0 and seconds > 0 and self.first_batch_seconds else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "fps": round(self.fps, 3), "steady_fps": round(self.steady_fps, 3)}
