"""What every benchmark records beside its numbers: when, on what machine, with which versions.

The machine, library versions and revision come from `vidcolor.provenance`, so these scripts and
`vidcolor bench` describe a run the same way; the ffmpeg command-line tool's version is added.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from vidcolor.provenance import git_revision, library_versions, machine


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def versions() -> dict:
    try:
        ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    except OSError:
        ffmpeg = "not installed"
    return {**library_versions(), "ffmpeg": ffmpeg}


def emit(record: dict, json_out: Path | None) -> None:
    """Prints the record as one JSON line, and appends it to `json_out` when given."""
    line = json.dumps({**record, "machine": machine(), "versions": versions(), "revision": git_revision() or "unknown"})
    print(line, flush=True)
    if json_out:
        with json_out.open("a") as f:
            f.write(line + "\n")
