"""Curate fetched photos for training, as ../shared/data/photos/more was curated.

    python -m vidcolor.training.curate REPO_GIT_DIR PATH_IN_REPO [PATH_IN_REPO ...] --out FOLDER \\
        --exclude ../shared/data/photos [--limit N] [--seed S]

Reads the photos under each PATH_IN_REPO at the repository's HEAD (a `fetch` mirror needs no work
tree), keeps colour ones (mean CIELab chroma of at least 4), drops near-duplicates (dHash within 6
of 64 bits) of each other and of every photo under --exclude (so none of the shared photos, the
validation ones among them, come back under another name), resizes the short side to at most
256 px (INTER_AREA), and writes JPEG quality 85 with a manifest.tsv of original path, file name
and size. The written folder is training data only: keep it outside the repository.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from vidcolor.colour import rgb_to_lab

from .data import IMAGE_SUFFIXES, find_photos

log = logging.getLogger(__name__)

MIN_CHROMA = 4.0  # mean CIELab |ab| under this: a greyscale photo
NEAR_BITS = 6  # dHash distance (of 64 bits) at or under which two photos are the same picture
SHORT_SIDE = 256  # px
JPEG_QUALITY = 85


def dhash(bgr: np.ndarray) -> np.uint64:
    """64-bit difference hash: is each of 8x8 cells brighter than its right neighbour."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return np.uint64(int.from_bytes(np.packbits(bits).tobytes(), "big"))


class HashSet:
    """dHashes seen so far, with a near-duplicate test against all of them."""

    def __init__(self) -> None:
        self._hashes = np.zeros(1024, dtype=np.uint64)
        self._count = 0

    def near(self, value: np.uint64) -> bool:
        return self._count > 0 and int(np.bitwise_count(self._hashes[: self._count] ^ value).min()) <= NEAR_BITS

    def add(self, value: np.uint64) -> None:
        if self._count == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
        self._hashes[self._count] = value
        self._count += 1


def chroma(bgr: np.ndarray) -> float:
    rgb = cv2.cvtColor(bgr[::4, ::4], cv2.COLOR_BGR2RGB) / 255.0
    return float(np.hypot(*np.moveaxis(rgb_to_lab(rgb)[..., 1:], -1, 0)).mean())


def shrink(bgr: np.ndarray) -> np.ndarray:
    h, w = bgr.shape[:2]
    scale = SHORT_SIDE / min(h, w)
    if scale >= 1:
        return bgr
    return cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def repo_photos(git_dir: Path, under: str | list[str]) -> list[str]:
    """The photo files under one folder of the repository's HEAD, or under several (git ls-tree
    takes no wildcards: CamVid's frames are CamVid/train, val and test, beside their label maps)."""
    folders = [under] if isinstance(under, str) else list(under)
    names = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", "HEAD", "--", *folders],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return [n for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES]


class Blobs:
    """Files of a repository's HEAD, read through one `git cat-file --batch` process (one `git show`
    per photo cost a process start each: 9,144 of them for Caltech-101)."""

    def __init__(self, git_dir: Path):
        self._git = subprocess.Popen(
            ["git", "--git-dir", str(git_dir), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def read(self, name: str) -> bytes:
        self._git.stdin.write(f"HEAD:{name}\n".encode())
        self._git.stdin.flush()
        header = self._git.stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            raise FileNotFoundError(f"HEAD:{name}: {b' '.join(header).decode(errors='replace')}")
        data = self._git.stdout.read(int(header[2]))
        self._git.stdout.read(1)  # the newline after each object
        return data

    def __enter__(self) -> Blobs:
        return self

    def __exit__(self, *exc) -> None:
        self._git.stdin.close()
        self._git.wait()


def curate(
    git_dir: Path, under: str | list[str], out: Path, exclude: list[Path], limit: int | None = None, seed: int = 0
) -> dict[str, int]:
    seen = HashSet()
    for path in find_photos(exclude):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is not None:
            seen.add(dhash(bgr))
    names = repo_photos(git_dir, under)
    np.random.default_rng(seed).shuffle(names)
    out.mkdir(parents=True, exist_ok=True)
    counts = {"found": len(names), "unreadable": 0, "greyscale": 0, "duplicate": 0, "kept": 0}
    rows = []
    with Blobs(git_dir) as blobs:
        for name in names:
            if limit is not None and counts["kept"] >= limit:
                break
            data = blobs.read(name)
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if bgr is None or min(bgr.shape[:2]) < 32:
                counts["unreadable"] += 1
                continue
            if chroma(bgr) < MIN_CHROMA:
                counts["greyscale"] += 1
                continue
            value = dhash(bgr)
            if seen.near(value):
                counts["duplicate"] += 1
                continue
            seen.add(value)
            small = shrink(bgr)
            file = f"f{counts['kept']:06d}.jpg"
            cv2.imwrite(str(out / file), small, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            rows.append(f"{name}\t{file}\t{small.shape[1]}x{small.shape[0]}\n")
            counts["kept"] += 1
    (out / "manifest.tsv").write_text("".join(rows))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("git_dir", type=Path, help="the repository's git directory (from `fetch`)")
    parser.add_argument("under", nargs="+", help="folder(s) inside the repository")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--exclude", type=Path, action="append", default=[], help="folder of photos to keep out")
    parser.add_argument("--limit", type=int, help="stop after this many kept photos (drawn at random)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    counts = curate(args.git_dir, args.under, args.out, args.exclude, args.limit, args.seed)
    log.info("%s: %s", args.out, ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
