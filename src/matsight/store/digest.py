"""Content fingerprints of input files, so cached results follow the bytes, not the names.

A chunk store of predictions or saliency maps is reused only while every image it was computed
from is byte-for-byte the same (:func:`files_digest`) and the model checkpoint is the same
(:func:`file_digest`); an image rewritten in place under the same name and size is recomputed.
BLAKE2b reads at about 1 GB/s, far faster than decoding the images.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

_BLOCK = 1 << 20
PROGRESS_FROM = 2000  # files: below this the check takes well under a second


def file_digest(path: str | os.PathLike) -> str:
    """BLAKE2b-128 hex digest of the whole file's bytes."""
    digest = hashlib.blake2b(digest_size=16)
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def files_digest(paths: Sequence[str | os.PathLike]) -> str:
    """One digest of an ordered list of files: each file's path, size, modification time (ns) and
    content digest. Changes when any file is renamed, reordered, touched or rewritten. Shows a
    progress bar for long lists."""
    from matsight.progress import progress, quiet

    digest = hashlib.blake2b(digest_size=16)
    with quiet(len(paths) < PROGRESS_FROM), progress(len(paths), "checking the inputs' bytes") as bar:
        for path in paths:
            stat = os.stat(path)
            digest.update(f"{os.fspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\0{file_digest(path)}\n".encode())
            bar.advance()
    return digest.hexdigest()
