"""What every benchmark records beside its numbers: when, on what machine, with which versions."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def machine() -> str:
    return f"{platform.machine()}, {platform.processor() or 'cpu'}, {os.cpu_count()} cores"


def git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict:
    import av
    import numpy
    import onnxruntime

    return {
        "python": platform.python_version(),
        "av": av.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": numpy.__version__,
        "ffmpeg": subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0],
    }


def emit(record: dict, json_out: Path | None) -> None:
    """Prints the record as one JSON line, and appends it to `json_out` when given."""
    line = json.dumps({**record, "machine": machine(), "versions": versions(), "revision": git_revision()})
    print(line, flush=True)
    if json_out:
        with json_out.open("a") as f:
            f.write(line + "\n")
