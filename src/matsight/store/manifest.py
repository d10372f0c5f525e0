"""Run manifests: what ran, with which versions, arguments, seeds and inputs."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import sys
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from matsight.store.atomic import is_temporary
from matsight.store.claim import BOOKKEEPING

_TRACKED_PACKAGES = (
    "matsight",
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "captum",
    "openTSNE",
    "ase",
    "spglib",
    "ray",
)


def package_versions(names: Iterable[str] = _TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that decide a run's numbers (missing ones omitted)."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def hardware() -> dict[str, Any]:
    """What the run's floating-point results depend on besides the versions: the CPU's model, the
    instruction set torch's CPU kernels use (``AVX2``, ``AVX512``, …: kernels differ in rounding between
    them, so the same seed can give slightly different numbers on another machine), torch's intra-op
    threads and the number of visible GPUs (counted without starting CUDA)."""
    import torch

    return {
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "gpus": torch.cuda.device_count(),
    }


@functools.cache
def _cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; else what :mod:`platform` knows), read once per process."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            found = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), None)
    except OSError:
        found = None
    return found or platform.processor() or platform.machine()


def hash_inputs(path: str | os.PathLike, max_full_bytes: int = 64 * 1024 * 1024) -> str:
    """Fingerprint of a file or folder, as ``sha256:<hex>``.

    Files are hashed by content. A folder is hashed by the relative path and size of every file
    plus the content of its small files (CSV/JSON/YAML and anything under ``max_full_bytes`` in
    total), which identifies a dataset without reading tens of thousands of images. matsight's
    marker and temporary files are left out.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return "sha256:" + digest.hexdigest()
    budget = max_full_bytes
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name not in BOOKKEEPING and not is_temporary(p)):
        rel = file.relative_to(path).as_posix()
        size = file.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        if file.suffix.lower() in {".csv", ".json", ".yaml", ".yml", ".txt"} or size <= budget:
            digest.update(file.read_bytes())
            budget = max(0, budget - size)
    return "sha256:" + digest.hexdigest()


def build_manifest(
    command: str,
    arguments: dict[str, Any],
    seed: int | None = None,
    inputs: dict[str, str | os.PathLike] | None = None,
    status: str = "running",
) -> dict[str, Any]:
    """A manifest dictionary for a run (see :class:`matsight.store.RunFolder`)."""
    return {
        "command": command,
        "argv": sys.argv,
        "arguments": {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in arguments.items()},
        "seed": seed,
        "inputs": {name: {"path": str(p), "hash": hash_inputs(p)} for name, p in (inputs or {}).items()},
        "versions": package_versions(),
        "platform": platform.platform(),
        "hardware": hardware(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "status": status,
    }
