"""Every GPU check of issue 5 in one run, for a GPU machine lent for a few minutes.

    python3 benchmarks/gpu_check.py CLIP [--out DIR] [--frames N]

1. The GPU tests: `pytest -m gpu tests/test_gpu.py` (each backend against the CPU reference, a
   run per backend with bit-exact luma, NVDEC decoding, the colour stage on the GPU, CUDA graphs).
2. CLIP scaled to 1920x1080 and made black-and-white (x264, CRF 12), then `vidcolor bench` on
   it once per GPU setting: the torch backend with the colour stage on the CPU, with CUDA graphs,
   with the colour stage on the GPU, with NVDEC decoding, and the other backends (ONNX Runtime's
   CUDA provider, TensorRT) where installed. Each bench times a plain x264 transcode of the same
   clip beside it (issue 5's 1080p target: vidcolor at 0.9 of it), and gives vidcolor's fps end to
   end and after its first batch (its startup left out).
3. The model alone at 256 px short side in fp16, batches of 64 (issue 5's target: 2,000 frames/s).

Results go to DIR (default $OUT, else ./gpu-check): env.json, pytest-gpu.txt, bench.jsonl (one
line per setting; a setting that cannot run here is a line with its error) and a summary table
on stdout. Nothing here asserts a speed: the figures go into docs/gpu.md with the date and device.

On the project's lent GPU machines PyAV is missing: carry it as a wheel (docs/gpu.md, "Running the GPU checks").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZE = (1920, 1080)

# (name, extra flags of `vidcolor bench`) for each setting timed at 1080p.
SETTINGS = [
    ("torch", ["--backend", "torch", "--colour-device", "cpu"]),
    ("torch+graphs", ["--backend", "torch", "--cuda-graphs", "--colour-device", "cpu"]),
    ("torch+graphs+gpu-colour", ["--backend", "torch", "--cuda-graphs", "--colour-device", "cuda"]),
    (
        "torch+graphs+gpu-colour+nvdec",
        ["--backend", "torch", "--cuda-graphs", "--colour-device", "cuda", "--decoder", "cuda"],
    ),
    ("onnxruntime", ["--backend", "onnxruntime"]),
    ("tensorrt", ["--backend", "tensorrt"]),
]
# The model alone, issue 5's measure: 256 px short side, fp16 (the GPU backends' precision).
MODEL_SETTINGS = [
    ("model-256-torch", ["--backend", "torch", "--render-size", "256", "--batch-size", "64"]),
    ("model-256-torch+graphs", ["--backend", "torch", "--cuda-graphs", "--render-size", "256", "--batch-size", "64"]),
]


def scaled_clip(src: Path, dst: Path, size: tuple[int, int], frames: int | None) -> Path:
    """`src`'s video scaled to `size` and made black-and-white (its chroma neutral, as a film
    transfer's), x264 CRF 12 (visually lossless), at most `frames` frames."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        source = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=source.average_rate, options={"crf": "12", "preset": "fast"})
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for count, frame in enumerate(inp.decode(source)):
            if frames is not None and count >= frames:
                break
            scaled = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            for plane in (1, 2):
                np.frombuffer(scaled.planes[plane], np.uint8)[:] = 128
            scaled.pts = None
            out.mux(stream.encode(scaled))
        out.mux(stream.encode(None))
    return dst


def environment() -> dict:
    env: dict = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        env["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except FileNotFoundError:
        env["nvidia_smi"] = None
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda"] = torch.cuda.is_available() and torch.cuda.get_device_name(0)
    except ImportError:
        env["torch"] = None
    env["av"] = av.__version__
    try:
        from av.codec.hwaccel import hwdevices_available

        env["av_hwdevices"] = list(hwdevices_available())
    except ImportError:
        env["av_hwdevices"] = None
    try:
        import onnxruntime

        env["onnxruntime"] = onnxruntime.__version__
        env["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        env["onnxruntime"] = None
    env["revision"] = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return env


def bench(clip: Path, name: str, flags: list[str], device: str = "cuda", timeout: float = 180) -> dict:
    """One `vidcolor bench --device DEVICE` run; its JSON line, or its error (and the end of its stderr)."""
    command = [sys.executable, "-m", "vidcolor", "bench", str(clip), "--device", device, *flags, "--json"]
    record: dict = {"setting": name, "flags": flags}
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**record, "returncode": None, "error": f"no answer in {timeout:.0f} s"}
    record["returncode"] = result.returncode
    if result.returncode == 0:
        record.update(json.loads(result.stdout.strip().splitlines()[-1]))
    else:
        lines = result.stderr.strip().splitlines() or ["(no message)"]
        record["error"], record["stderr_tail"] = lines[-1], lines[-30:]
    return record


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip", type=Path, help="a real clip, scaled to 1080p for the benches")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-check")))
    p.add_argument("--frames", type=int, default=300, help="frames of CLIP to use (default 300)")
    p.add_argument("--device", default="cuda", help="cpu runs the benches on the CPU: a dry run of this script")
    p.add_argument("--test-timeout", type=float, default=300, help="seconds the GPU tests may take (default 300)")
    p.add_argument("--bench-timeout", type=float, default=180, help="seconds one bench may take (default 180)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = environment()
    (args.out / "env.json").write_text(json.dumps(env, indent=1))
    print(json.dumps(env), flush=True)

    with open(args.out / "pytest-gpu.txt", "w") as log:  # written as it runs: a hang still leaves its log
        try:
            tests = subprocess.run(
                [sys.executable, "-m", "pytest", "-v", "--tb=short", "-m", "gpu", "-rs", "tests/test_gpu.py"],
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
                cwd=ROOT,
                timeout=args.test_timeout,
            )
            returncode = tests.returncode
        except subprocess.TimeoutExpired:
            returncode = 124
    summary = (args.out / "pytest-gpu.txt").read_text().strip().splitlines()[-1:]
    print(f"pytest -m gpu: exit {returncode}: {summary}", flush=True)

    clip = scaled_clip(args.clip, args.out / "clip-1080p.mp4", SIZE, args.frames)
    print(
        f"{'setting':34}{'vidcolor fps':>13}{'steady':>8}{'x264 fps':>10}{'ratio':>7}{'steady':>8}"
        f"{'model alone':>13}  decoder/backend"
    )
    with open(args.out / "bench.jsonl", "w") as log:
        for name, flags in SETTINGS + MODEL_SETTINGS:
            record = bench(clip, name, flags, args.device, args.bench_timeout)
            log.write(json.dumps(record) + "\n")
            log.flush()
            if "error" in record:
                print(f"{name:34}  not run: {record['error']}", flush=True)
                continue
            print(
                f"{name:34}{record['vidcolor_fps']:>13.1f}{record['steady_fps']:>8.1f}{record['transcode_fps']:>10.1f}"
                f"{record['ratio']:>7.2f}{record['steady_ratio']:>8.2f}{record['model_alone_fps']:>13.1f}"
                f"  {record['decoder']}/{record['backend']}",
                flush=True,
            )
    clip.unlink()
    return returncode


if __name__ == "__main__":
    sys.exit(main())
